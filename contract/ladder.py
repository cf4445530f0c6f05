"""Ladder (sequence) diagrams of one story's exchange, drawn from the lab's record of its capture
(exchange.json, read by contract/exchange.py).

For every pcap a story records, the lab writes `<name>.exchange.json` beside it
(client.pcap -> client.exchange.json; schema "tcprepro-exchange/1", harness/RESULTS.md): the lanes (the
story's roles and their addresses) and one entry per captured segment, with
relative sequence numbers and what an impairment or raw_tcp did to it. This module
reads that record and draws it: as compact SVG (time going down, one arrow per
segment) for the evidence folder and the report, and as text for a terminal.

Nothing is inferred from flags: a segment is marked held, dropped, delayed or
crafted only when the lab recorded so.
"""

import xml.etree.ElementTree as ET
from pathlib import Path

from contract.exchange import (EXCHANGE_SUFFIX, LADDER_SUFFIX, MARKS, SCHEMA, Exchange, ExchangeError,  # noqa: F401
                               Lane, Segment, exchange_path, ladder_path, load)


# Layout, in SVG user units (pixels at 100 %).
TIME_WIDTH = 72  # the time column left of the first lane
LANE_GAP = 380  # between two lanes
SELF_LOOP = 26  # how far a self-connect's loop reaches out of its lane
HEADER = 30  # lane names and addresses
ROW = 22  # one segment
NOTE_ROW = 11  # a segment's note, under its arrow
SLANT = 5  # an arrow drops this much: the segment takes time to arrive
MARGIN = 6
MAX_NOTE = 68  # characters of a note that fit between two lanes
# A long exchange (retransmissions, port sweeps) keeps its head and tail.
MAX_DRAWN, HEAD_DRAWN = 40, 30

# Standalone files carry their own style; inline copies use the page's (style("svg.ladder")).
RULES = (
    ("text", "font:10px ui-monospace,Menlo,Consolas,monospace;fill:#1f2328"),
    (".lane", "stroke:#8c959f;stroke-width:1"),
    (".h", "font-weight:600"),
    (".t,.d,.n,.gap", "fill:#59636e"),
    (".t", "text-anchor:end"),
    (".c", "text-anchor:middle"),
    (".e", "text-anchor:end"),
    (".n", "font-size:9px"),
    (".a", "stroke:#0969da;fill:none;stroke-width:1.2"),
    (".ah", "fill:#0969da"),
    (".m", "font-weight:700"),
    (".crafted .a", "stroke:#8250df"),
    (".crafted .ah,.crafted .m", "fill:#8250df"),
    (".held .a,.delayed .a", "stroke:#9a6700;stroke-dasharray:4 2"),
    (".held .ah,.delayed .ah,.held .m,.delayed .m", "fill:#9a6700"),
    (".dropped .a", "stroke:#cf222e;stroke-dasharray:4 2"),
    (".dropped .m", "fill:#cf222e"),
    (".x", "stroke:#cf222e;stroke-width:1.5"),
)


def style(scope: str = "") -> str:
    """The ladder's CSS; with a scope (e.g. "svg.ladder") it touches no other picture on a page."""
    prefix = f"{scope} " if scope else ""
    return "".join("{}{{{}}}".format(",".join(prefix + part for part in selector.split(",")), rule)
                   for selector, rule in RULES)


def time_text(seconds: float) -> str:
    """'0.3 ms', '1002.5 ms': time since the story started, in one unit so a column compares."""
    return f"{seconds * 1000:.1f} ms"


def _drawn(segments: tuple[Segment, ...]) -> list[Segment | int]:
    """The segments to draw; an int in their place counts the ones left out."""
    if len(segments) <= MAX_DRAWN:
        return list(segments)
    tail = MAX_DRAWN - HEAD_DRAWN
    return [*segments[:HEAD_DRAWN], len(segments) - MAX_DRAWN, *segments[-tail:]]


# ----------------------------------------------------------------------------- SVG

def svg(exchange: Exchange, standalone: bool = True) -> str:
    """The ladder as an <svg> element. standalone adds the namespace, a <style> and a tooltip per
    segment (absolute seq/ack, window); without them it is meant for an HTML page that styles the
    same classes and links the standalone file."""
    if not exchange.lanes:
        return _empty_svg(exchange, standalone)
    lanes = {lane.name: TIME_WIDTH + MARGIN + i * LANE_GAP for i, lane in enumerate(exchange.lanes)}
    rows = _drawn(exchange.segments)
    height = HEADER + sum(ROW + (NOTE_ROW if isinstance(r, Segment) and r.note else 0) for r in rows) + MARGIN
    width = (max(lanes.values()) + (SELF_LOOP + 300 if exchange.self_connect else MARGIN))
    root = ET.Element("svg", {"class": "ladder", "width": str(width), "height": str(height),
                              "viewBox": f"0 0 {width} {height}", "role": "img"})
    if standalone:
        root.set("xmlns", "http://www.w3.org/2000/svg")
        ET.SubElement(root, "style").text = style()
    ET.SubElement(root, "title").text = f"{exchange.capture}: {len(exchange.segments)} segments"
    for lane in exchange.lanes:
        x = lanes[lane.name]
        anchor = "start" if exchange.self_connect or x == TIME_WIDTH + MARGIN else "end"
        _text(root, x, 11, lane.name, anchor, "h")
        _text(root, x, 23, lane.address, anchor, "d")
        ET.SubElement(root, "line", {"class": "lane", "x1": str(x), "y1": str(HEADER - 3),
                                     "x2": str(x), "y2": str(height - MARGIN)})
    y = HEADER
    for row in rows:
        if isinstance(row, int):
            _text(root, TIME_WIDTH + MARGIN + 4, y + ROW - 8, f"… {row} segments not drawn (see the pcap) …",
                  "start", "gap")
            y += ROW
            continue
        _segment_svg(root, row, lanes, y, standalone)
        y += ROW + (NOTE_ROW if row.note else 0)
    return ET.tostring(root, encoding="unicode", short_empty_elements=True)


def _segment_svg(root: ET.Element, segment: Segment, lanes: dict[str, int], y: int, tooltip: bool) -> None:
    group = ET.SubElement(root, "g", {"class": segment.mark} if segment.mark else {})
    if tooltip:
        ET.SubElement(group, "title").text = segment.detail
    top = y + ROW - 9  # where the arrow starts
    _text(group, TIME_WIDTH - 4, top + 3, time_text(segment.t), "end", "t")
    start, end = lanes[segment.source], lanes[segment.destination]
    if start == end:
        # Out of the lane and back (a socket sending to itself): rightwards from the first lane, else leftwards.
        side = 1 if start == min(lanes.values()) else -1
        ET.SubElement(group, "path", {"class": "a", "d": f"M{start} {top}h{side * SELF_LOOP}v{SLANT}"
                                                         f"h{-side * (SELF_LOOP - 6)}"})
        _arrowhead(group, start, top + SLANT, -side)
        anchor, x, y_label = ("start" if side > 0 else "end"), start + side * (SELF_LOOP + 6), top + 4
    else:
        direction = 1 if end > start else -1
        if segment.mark == "dropped":
            # It never arrived: the arrow stops half-way, at a cross.
            stop = start + (end - start) * 0.55
            cross_y = top + SLANT * 0.55
            ET.SubElement(group, "line", {"class": "a", "x1": str(start), "y1": str(top),
                                          "x2": f"{stop:.0f}", "y2": f"{cross_y:.0f}"})
            ET.SubElement(group, "path", {"class": "x", "d": f"M{stop - 4:.0f} {cross_y - 4:.0f}l8 8m0 -8l-8 8"})
        else:
            ET.SubElement(group, "line", {"class": "a", "x1": str(start), "y1": str(top),
                                          "x2": str(end - direction * 6), "y2": str(top + SLANT)})
            _arrowhead(group, end, top + SLANT, direction)
        anchor, x, y_label = "middle", (start + end) // 2, top - 3
    _label(group, x, y_label, segment, anchor)
    if segment.note:
        shown = segment.note if len(segment.note) <= MAX_NOTE else segment.note[:MAX_NOTE - 1] + "…"
        note = _text(group, x, top + SLANT + 10, shown, anchor, "n")
        if shown != segment.note:  # the whole note on hover
            ET.SubElement(note, "title").text = segment.note


def _empty_svg(exchange: Exchange, standalone: bool) -> str:
    root = ET.Element("svg", {"class": "ladder", "width": "300", "height": "20", "viewBox": "0 0 300 20",
                              "role": "img"})
    if standalone:
        root.set("xmlns", "http://www.w3.org/2000/svg")
        ET.SubElement(root, "style").text = style()
    _text(root, MARGIN, 14, f"{exchange.capture}: no TCP segment captured", "start", "d")
    return ET.tostring(root, encoding="unicode", short_empty_elements=True)


def _label(group: ET.Element, x: int, y: int, segment: Segment, anchor: str) -> None:
    element = _text(group, x, y, segment.label, anchor)
    if segment.mark:  # its own tspan, coloured like the arrow
        ET.SubElement(element, "tspan", {"class": "m"}).text = f" {segment.mark}"


def _arrowhead(group: ET.Element, x: int, y: int, direction: int) -> None:
    ET.SubElement(group, "path", {"class": "ah", "d": f"M{x} {y}l{-direction * 7} -3v6z"})


def _text(parent: ET.Element, x, y, text: str, anchor: str = "start", css: str = "") -> ET.Element:
    attributes = {"x": str(x), "y": str(y)}
    # Anchors by class (.t ends, .c centres): a few bytes less per segment.
    css = " ".join(filter(None, [css, {"middle": "c", "end": "" if css == "t" else "e"}.get(anchor, "")]))
    if css:
        attributes["class"] = css
    element = ET.SubElement(parent, "text", attributes)
    element.text = text
    return element


def write_svg(exchange: Exchange, path: Path) -> Path:
    Path(path).write_text('<?xml version="1.0" encoding="UTF-8"?>\n' + svg(exchange) + "\n", encoding="utf-8")
    return Path(path)


# ----------------------------------------------------------------------------- text

def text(exchange: Exchange) -> str:
    """The ladder for a terminal: one line per segment, the arrow pointing from sender to receiver."""
    if not exchange.lanes:
        return f"{exchange.capture}: no TCP segment captured"
    names = [lane.name for lane in exchange.lanes]
    width = max(len(name) for name in names)
    lines = [f"{exchange.capture}: " + "  ⇄  ".join(lane.heading for lane in exchange.lanes)]
    for row in _drawn(exchange.segments):
        if isinstance(row, int):
            lines.append(f"{'':>10}  … {row} segments not shown (see the pcap) …")
            continue
        if row.source == row.destination:
            arrow = f"{row.source:>{width}} ↺" + ("" if exchange.self_connect else " " * (width + 2))
        elif names.index(row.source) < names.index(row.destination):
            arrow = f"{row.source:>{width}} ──▶ {row.destination:<{width}}"
        else:
            arrow = f"{row.destination:>{width}} ◀── {row.source:<{width}}"
        mark = f"  [{row.mark}]" if row.mark else ""
        note = f"  — {row.note}" if row.note else ""
        lines.append(f"{time_text(row.t):>10}  {arrow}  {row.label}{mark}{note}")
    return "\n".join(lines)
