"""`history report --out DIR`: history.html, a grid of results × runs grouped by kernel.

Columns are runs, grouped by kernel build and configuration (oldest kernel first, runs in
time order); rows are results with their class, flips and current streak. A cell is the
result's gate status in that run (one mark per draw), outlined when it behaves unlike the
series' most frequent behaviour, and links to the run's evidence for it (ladder, else pcap,
else log). The page sorts by flips or by current streak with a few lines of script, and
reads in its server-side order (most flips first) without it.
"""
from __future__ import annotations

import os
import pathlib
from dataclasses import dataclass

from reports.render import _environment
from reports.values import short_text

from . import classes as cls
from .load import Run, build_order

FILENAME = "history.html"
TONE = {"pass": "good", "changed": "bad", "error": "bad", "incomplete": "warn"}
CLASS_TONE = {cls.STABLE: "good", cls.FLAKY: "warn", cls.CHANGED: "bad", cls.NEW: "muted"}


@dataclass(frozen=True)
class Group:
    runs: list[Run]

    @property
    def label(self) -> str:
        """The target and version: "debian:bookworm 6.1.176", "host 6.18.44 @ proposed"."""
        run = self.runs[0]
        return f"{run.target} {run.upstream or '?'}" + ("" if run.configuration == "defaults" else f" @ {run.configuration}")

    @property
    def detail(self) -> str:
        return self.runs[0].release

    @property
    def title(self) -> str:
        run = self.runs[0]
        return f"{run.kernel_text} {run.kernel_version}; configuration {run.configuration} {run.sysctls}"


@dataclass(frozen=True)
class Mark:
    tone: str
    odd: bool  # behaves unlike the series' most frequent behaviour
    href: str | None
    title: str


@dataclass(frozen=True)
class Row:
    result_id: str
    kind: str
    tone: str
    flips: int
    streak: int
    cells: list[list[Mark]]  # per run column: one mark per draw (none: not in that run)


def _groups(runs: dict[int, Run]) -> list[Group]:
    grouped: dict[tuple, list[Run]] = {}
    for run in runs.values():
        grouped.setdefault((run.build, run.config), []).append(run)
    ordered = sorted(grouped.values(), key=lambda members: (build_order(members[0]), members[0].config))
    return [Group(sorted(members, key=lambda r: r.order)) for members in ordered]


def _href(entry: dict, out: pathlib.Path) -> str | None:
    evidence = {item.get("kind"): item["path"] for item in reversed(entry.get("evidence") or [])}
    path = evidence.get("ladder") or evidence.get("pcap") or entry.get("log")
    return os.path.relpath(path, out) if path else None


def _title(sample, status: str) -> str:
    entry = sample.entry
    observations = entry["observations"]
    values = ", ".join(f"{k}={short_text(observations[k])}" for k in entry["key_observations"] if k in observations)
    draw = f" draw {sample.draw}" if sample.draw > 1 else ""
    return (f"{sample.run.run_id}{draw} ({sample.run.when}): {entry['outcome']}, "
            f"{entry['expectation']['verdict'].replace('_', ' ')}, gate {status}" + (f"; {values}" if values else ""))


def _row(item: cls.Classified, columns: list[Run], out: pathlib.Path) -> Row:
    marks: dict[int, list[Mark]] = {}
    for series in item.series:
        mode = series.groups[series.samples.index(series.mode)]
        for sample, group in zip(series.samples, series.groups):
            status = str(sample.entry["gate"].get("status"))
            marks.setdefault(sample.run.key, []).append(
                Mark(TONE.get(status, "muted"), group != mode, _href(sample.entry, out), _title(sample, status)))
    return Row(item.result_id, item.kind, CLASS_TONE[item.kind], item.flips, item.latest.streak,
               [marks.get(run.key, []) for run in columns])


def write(classified: dict[str, cls.Classified], runs: dict[int, Run], out: pathlib.Path, store_name: str) -> pathlib.Path:
    groups = _groups(runs)
    columns = [run for group in groups for run in group.runs]
    rows = sorted((_row(item, columns, out) for item in classified.values()),
                  key=lambda row: (-row.flips, row.streak, row.result_id))
    counts = {kind: sum(1 for row in rows if row.kind == kind) for kind in (cls.FLAKY, cls.CHANGED, cls.NEW, cls.STABLE)}
    out.mkdir(parents=True, exist_ok=True)
    page = out / FILENAME
    page.write_text(_environment().get_template("history.html.j2").render(
        store=store_name, groups=groups, rows=rows, counts=counts, class_tone=CLASS_TONE,
        new_until=cls.NEW_UNTIL_CLEAN, runs=len(columns)), encoding="utf-8")
    return page
