"""`history show`, `history flakes`, `history changes`: the classes as text for a terminal."""
from __future__ import annotations

from collections import Counter

from reports.values import canonical, number_text, short_text

from . import classes as cls
from .load import Run, Sample


def _config_text(run: Run) -> str:
    return run.configuration if run.sysctls == "{}" else f"{run.configuration} {run.sysctls}"


def _values_text(values: list) -> str:
    """The values seen: a range for numbers, else each distinct value with how often."""
    numbers = [v for v in values if isinstance(v, (int, float)) and not isinstance(v, bool)]
    if numbers and len(numbers) == len(values):
        low, high = min(numbers), max(numbers)
        text = lambda n: number_text(n) if isinstance(n, float) else str(n)  # noqa: E731
        return text(low) if low == high else f"{text(low)}–{text(high)} over {len(numbers)}"
    counted = Counter(canonical(v) for v in values)
    shown = {canonical(v): v for v in values}
    return ", ".join(f"{short_text(shown[key])} ×{n}" for key, n in counted.most_common(6))


def observation_lines(series: cls.Series, behaviour: cls.Behaviour) -> list[str]:
    """Per observation that varied in the series: the class and the values seen."""
    lines = []
    measured = behaviour.keys(series.samples[0].entry["scenario"])
    keys = list(dict.fromkeys(k for s in series.samples if s.entry["outcome"] == "passed"
                              for k in cls.compare._compared_keys(s.entry, s.entry)))
    for key in keys:
        values = [s.entry["observations"].get(key) for s in series.samples if key in s.entry["observations"]]
        met = Counter(s.judged.get(key) for s in series.samples if key in s.judged)
        is_measured = key in measured or any(cls.compare._has_float(v) for v in values)
        if is_measured:
            if len(met) > 1:
                lines.append(f"    {key} (measurement): flaky, met ×{met.get(True, 0)}, not met ×{met.get(False, 0)}"
                             f"; values {_values_text(values)}")
        elif len({canonical(v) for v in values}) > 1:
            lines.append(f"    {key}: flaky, {_values_text(values)}")
    return lines


def _behaviour_text(sample: Sample) -> str:
    entry = sample.entry
    verdict = cls.compare._verdict_class(entry).replace("_", " ")
    return f"{entry['outcome']}, {verdict}, claim {entry['claim']['verdict']}"


def flakes(classified: dict[str, cls.Classified], behaviour: cls.Behaviour) -> str:
    flaky = [c for c in classified.values() if c.kind == cls.FLAKY]
    new = [c for c in classified.values() if c.kind == cls.NEW]
    lines = [f"{len(flaky)} flaky of {len(classified)} results (behaviour varied on one kernel build and "
             f"configuration); {len(new)} new results left out until they have {cls.NEW_UNTIL_CLEAN} clean runs"]
    for item in sorted(flaky, key=lambda c: (-c.flips, c.result_id)):
        for series in item.series:
            if not series.flaky:
                continue
            run = series.run
            lines.append(f"{item.result_id} on {run.kernel_text}, {_config_text(run)}: "
                         f"{len(series.samples) - max(n for _, n in series.counts())} of {len(series.samples)} "
                         f"samples differ from the most frequent behaviour, {series.flips} flips")
            for rep, n in series.counts():
                lines.append(f"    ×{n}: {_behaviour_text(rep)} (first {rep.run.run_id}, {rep.run.when})")
            lines += observation_lines(series, behaviour)
    return "\n".join(lines) + "\n"


def _difference_text(difference: dict) -> str:
    if difference.get("kind") == "measurement":
        judged = difference["judged_by"]
        return (f"{difference['what']} judged by {', '.join(judged['old']) or 'nothing'} "
                f"(met {difference['met']['old']}) -> {', '.join(judged['new']) or 'nothing'} (met {difference['met']['new']})")
    return f"{difference['what']} {short_text(difference['old'])} -> {short_text(difference['new'])}"


def change_line(change: cls.Change) -> str:
    boundary = f"{change.old_run.kernel_text} -> {change.new_run.kernel_text}"
    text = f"  {change.status:<7} {boundary}"
    if change.differences:
        text += ": " + "; ".join(_difference_text(d) for d in change.differences)
    if change.status != cls.compare.SAME:
        text += f" (first run on the new kernel: {change.new_run.run_id}, {change.new_run.when})"
    flaky = [s.run.kernel_text for s in (change.old, change.new) if s is not None and s.flaky]
    if flaky:
        text += f"; flaky on {', '.join(flaky)}"
    return text


def changes(classified: dict[str, cls.Classified]) -> str:
    steps = [c for item in classified.values() for c in item.changes]
    counted = Counter(c.status for c in steps)
    lines = [f"{counted[cls.compare.SAME]} same, {counted[cls.compare.CHANGED]} changed, {counted[cls.compare.NEW]} new, "
             f"{counted[cls.compare.GONE]} gone over {len(steps)} steps between neighbouring kernel builds "
             f"(version order, one configuration)"]
    for item in sorted(classified.values(), key=lambda c: c.result_id):
        moved = [c for c in item.changes if c.status != cls.compare.SAME]
        if not moved:
            continue
        config = _config_text(moved[0].new_run)
        lines.append(f"{item.result_id} ({config}):")
        lines += [change_line(c) for c in moved]
    return "\n".join(lines) + "\n"


def _key_values(sample: Sample) -> str:
    observations = sample.entry["observations"]
    keys = [k for k in sample.entry["key_observations"] if k in observations]
    return " ".join(f"{k}={short_text(observations[k])}" for k in keys)


def show(item: cls.Classified, behaviour: cls.Behaviour, kernel: str | None, config: str | None) -> str:
    series = [s for s in item.series if _matches(s.run, kernel, config)]
    lines = [f"{item.result_id}: {item.kind} ({item.clean} clean samples; new until {cls.NEW_UNTIL_CLEAN}), "
             f"{sum(len(s.samples) for s in series)} samples on {len(series)} kernel builds × configurations"]
    for one in series:
        run = one.run
        lines += ["", f"== {run.kernel_text}, {_config_text(run)}: "
                      f"{'flaky' if one.flaky else 'stable'}, {one.flips} flips, current streak {one.streak}"]
        for sample, group in zip(one.samples, one.groups):
            entry = sample.entry
            mark = " " if group == one.groups[-1] else "*"
            draw = f" draw {sample.draw}" if sample.draw > 1 else ""
            lines.append(f"  {mark} {sample.run.when:<20} {sample.run.run_id}{draw}  {entry['outcome']:<7} "
                         f"{entry['expectation']['verdict']:<13} claim {entry['claim']['verdict']:<8} "
                         f"gate {str(entry['gate'].get('status')):<10} {_key_values(sample)}")
        lines += observation_lines(one, behaviour)
    moved = [c for c in item.changes if c.status != cls.compare.SAME]
    if moved:
        lines += ["", "changes with the kernel:"] + [change_line(c) for c in moved]
    lines += ["", "(* marks a sample that behaves unlike the series' latest)"]
    return "\n".join(lines) + "\n"


def _matches(run: Run, kernel: str | None, config: str | None) -> bool:
    kernels = {run.target, run.release, run.upstream, run.target.split(":")[-1]}
    return (kernel is None or kernel in kernels) and (config is None or config == run.configuration)
