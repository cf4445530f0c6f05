"""Small hand-written SVG pictures for the report: a port sequence and its step histogram.

A result whose observations hold a port `sequence` (scenario family S2) gets two
pictures: the source port of each connect in order (one colour per destination,
the range as the y axis, so wrap-arounds show as drops), and how often each
step occurred, a step being the forward distance within the range from one port
of a destination to its next. The caption names the model the harness fitted
(observation `model_fit`, harness/RESULTS.md).

Only the results.json data is read; no plotting library is needed.
"""

from collections import Counter
from dataclasses import dataclass
from html import escape

from markupsafe import Markup

WIDTH, HEIGHT = 360, 150
MARGIN_LEFT, MARGIN_RIGHT, MARGIN_TOP, MARGIN_BOTTOM = 44, 8, 8, 26
COLOURS = ("#0969da", "#cf222e", "#1a7f37", "#9a6700", "#8250df", "#59636e")
MAX_BARS = 40


@dataclass(frozen=True)
class Plot:
    title: str
    svg: Markup  # a complete <svg> element, safe to insert into HTML
    caption: str


def sequence_plots(observations: dict) -> list[Plot]:
    """The pictures for one result's observations; empty when there is no sequence."""
    ports = observations.get("sequence")
    port_range = observations.get("port_range")
    if not ports or not port_range or len(port_range) != 2:
        return []
    low, high = port_range
    destinations = observations.get("destination_of") or [0] * len(ports)
    deltas = forward_steps(ports, destinations, low, high)
    return [
        Plot("source port per connect", _sequence_svg(ports, destinations, low, high),
             f"{len(ports)} connects, range {low}–{high}, {len(set(destinations))} destination(s)"),
        Plot("step histogram", _histogram_svg(deltas, high - low + 1), _fit_caption(observations, len(deltas))),
    ]


def forward_steps(ports: list[int], destinations: list, low: int, high: int) -> list[int]:
    """Distance from each port to the next port of the same destination, forward within the range."""
    size, last, out = high - low + 1, {}, []
    for port, dest in zip(ports, destinations):
        if dest in last:
            out.append((port - last[dest]) % size)
        last[dest] = port
    return out


def _fit_caption(observations: dict, steps: int) -> str:
    fit = observations.get("model_fit") or {}
    if not fit.get("best"):
        return f"{steps} steps"
    score = fit.get("log_likelihood_per_step", {}).get(fit["best"])
    text = f"{steps} steps · fitted model: {fit['best']} ({score} nats/step"
    if fit.get("margin") is not None:
        text += f", margin {fit['margin']} over the next"
    if len(fit.get("tied") or []) > 1:
        text += f"; indistinguishable here: {', '.join(fit['tied'])}"
    return text + ")"


def _frame(inner: list[str], label: str) -> Markup:
    body = "".join(inner)
    return Markup(
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" width="{WIDTH}" '
        f'height="{HEIGHT}" role="img" aria-label="{escape(label)}" font-family="sans-serif" font-size="9">'
        f'<rect x="{MARGIN_LEFT}" y="{MARGIN_TOP}" width="{_plot_width()}" height="{_plot_height()}" '
        f'fill="none" stroke="#d1d9e0"/>{body}</svg>')


def _plot_width() -> int:
    return WIDTH - MARGIN_LEFT - MARGIN_RIGHT


def _plot_height() -> int:
    return HEIGHT - MARGIN_TOP - MARGIN_BOTTOM


def _text(x: float, y: float, text, anchor: str = "middle") -> str:
    return f'<text x="{x:.1f}" y="{y:.1f}" text-anchor="{anchor}" fill="#59636e">{escape(str(text))}</text>'


def _sequence_svg(ports: list[int], destinations: list, low: int, high: int) -> Markup:
    order = {dest: i for i, dest in enumerate(dict.fromkeys(destinations))}
    span_x = max(len(ports) - 1, 1)
    span_y = max(high - low, 1)
    bottom = MARGIN_TOP + _plot_height()
    # One path per destination, a round dot per connect ("M x y h0"): a fifth of the bytes of circles.
    dots: dict[int, list[str]] = {}
    for index, (port, dest) in enumerate(zip(ports, destinations)):
        x = MARGIN_LEFT + _plot_width() * index / span_x
        y = bottom - _plot_height() * (port - low) / span_y
        dots.setdefault(order[dest], []).append(f"M{x:.1f} {y:.1f}h0")
    parts = [f'<path d="{"".join(d)}" stroke="{COLOURS[i % len(COLOURS)]}" stroke-width="3.2" stroke-linecap="round"/>'
             for i, d in dots.items()]
    parts += [_text(MARGIN_LEFT - 3, bottom, low, "end"), _text(MARGIN_LEFT - 3, MARGIN_TOP + 8, high, "end"),
              _text(MARGIN_LEFT, HEIGHT - 8, 1, "start"), _text(WIDTH - MARGIN_RIGHT, HEIGHT - 8, len(ports), "end"),
              _text(MARGIN_LEFT + _plot_width() / 2, HEIGHT - 8, "connect #")]
    return _frame(parts, "source port of each connect")


def _histogram_svg(deltas: list[int], size: int) -> Markup:
    if not deltas:
        return _frame([_text(WIDTH / 2, HEIGHT / 2, "no steps")], "step histogram")
    top = max(deltas)
    # Exact bins while the steps are small (the kernels' +1, +2, 2..16); equal-width bins otherwise.
    width = 1 if top < MAX_BARS else -(-(top + 1) // MAX_BARS)
    counts = Counter(delta // width for delta in deltas)
    bins = range(0, top // width + 1)
    tallest = max(counts.values())
    bar = _plot_width() / len(bins)
    bottom = MARGIN_TOP + _plot_height()
    parts = []
    for b in bins:
        if not counts[b]:
            continue
        h = _plot_height() * counts[b] / tallest
        label = b if width == 1 else f"{b * width}–{(b + 1) * width - 1}"
        parts.append(f'<rect x="{MARGIN_LEFT + b * bar + 0.5:.1f}" y="{bottom - h:.1f}" width="{max(bar - 1, 0.5):.1f}" '
                     f'height="{h:.1f}" fill="#0969da"><title>step {label}: {counts[b]}</title></rect>')
    parts += [_text(MARGIN_LEFT - 3, MARGIN_TOP + 8, tallest, "end"), _text(MARGIN_LEFT - 3, bottom, 0, "end"),
              _text(MARGIN_LEFT, HEIGHT - 8, 0, "start"), _text(WIDTH - MARGIN_RIGHT, HEIGHT - 8, top, "end"),
              _text(MARGIN_LEFT + _plot_width() / 2, HEIGHT - 8, f"step (ports; range size {size})")]
    return _frame(parts, "histogram of steps")
