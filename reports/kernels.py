"""The report's columns: one per result set (a kernel in a run), oldest kernel first."""

import os
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import quote

from . import configurations
from .load import ResultSet
from .values import time_text, version_key

OUTCOMES = ("passed", "skipped", "error")
VERDICTS = ("as_expected", "unexpected", "new_behaviour", "missing", "absent_as_expected", "none")
GUEST_FAILED = "guest did not finish"  # the reason the harness gives results of a failed guest


@dataclass(frozen=True)
class Link:
    label: str
    href: str  # percent-encoded, relative to the report's directory
    title: str
    exists: bool


def link(label: str, path: str, title: str, base_dir: Path, out_dir: Path) -> Link:
    target = base_dir / path
    relative = os.path.relpath(target.absolute(), out_dir.absolute())
    return Link(label, quote(Path(relative).as_posix()), title, target.is_file())


@dataclass(frozen=True)
class Counts:
    outcomes: Counter
    verdicts: Counter

    @property
    def total(self) -> int:
        return sum(self.outcomes.values())

    def outcome_counts(self) -> list[tuple[str, int]]:
        """The three outcomes always, anything else the harness wrote only when present."""
        extra = sorted(set(self.outcomes) - set(OUTCOMES))
        return [(outcome, self.outcomes[outcome]) for outcome in list(OUTCOMES) + extra]

    def segments(self) -> list[tuple[str, int, float]]:
        """(verdict, count, percent of total) for the summary bar, known verdicts first."""
        order = list(VERDICTS) + sorted(set(self.verdicts) - set(VERDICTS))
        return [
            (verdict, self.verdicts[verdict], 100.0 * self.verdicts[verdict] / self.total)
            for verdict in order
            if self.verdicts[verdict]
        ]

    def __add__(self, other: "Counts") -> "Counts":
        return Counts(self.outcomes + other.outcomes, self.verdicts + other.verdicts)


EMPTY_COUNTS = Counts(Counter(), Counter())


@dataclass(frozen=True)
class Run:
    id: str
    started: str
    revision: str
    wall_seconds: float | None
    targets: tuple[str, ...] = ()  # column labels of the targets this run wrote
    relaxed_by: tuple[str, ...] = ()  # options that relaxed the gate (e.g. --accept-new-kernel)


@dataclass(frozen=True)
class Column:
    label: str  # the target name, extended only where two columns would share it
    name: str
    release: str
    upstream: str
    machine: str
    accelerator: str | None
    run: Run
    counts: Counts
    error: str | None  # the guest did not finish (QEMU targets)
    console_log: Link | None
    boot_seconds: float | None
    source_dir: str  # where the results.json came from, the last resort to tell columns apart
    configuration: str = "kernel defaults"  # the sysctls the column ran with (reports/configurations.py)
    short: str = ""  # how annotations name it: the upstream version, or the label where that is ambiguous
    packages: tuple[str, ...] = ()  # what was booted: Debian "name=version", or a built kernel's source and patches
    failed_boots: int = 0  # boots that died before the guest came up, each booted again (never a story's verdict)

    @property
    def emulated(self) -> bool:
        """Under TCG every timing is the emulator's, not the kernel's."""
        return (self.accelerator or "").lower() == "tcg"


def sort_key(rs: ResultSet):
    """Upstream version order (the host falls where its version does), then name and path."""
    target = rs.doc.get("target") or {}
    kernel = target.get("kernel") or {}
    return version_key(kernel.get("upstream")), str(target.get("name", "")), str(rs.path)


def build_columns(result_sets: list[ResultSet], out_dir: Path) -> list[Column]:
    """Columns in the order of result_sets (sort them with sort_key first)."""
    columns = [_column(rs, out_dir) for rs in result_sets]
    labels = unique_labels(columns)
    versions = Counter(column.upstream for column in columns)
    return [
        replace(column, label=label,
                short=column.upstream if versions[column.upstream] == 1 and column.upstream != "unknown" else label)
        for column, label in zip(columns, labels)
    ]


def unique_labels(columns: list[Column]) -> list[str]:
    """The target name; where names collide (same target, several runs or machines) the first of
    release, run id, result directory that tells the colliding columns apart is added."""
    names = Counter(column.name for column in columns)
    labels = []
    for column in columns:
        if names[column.name] == 1:
            labels.append(column.name)
            continue
        twins = [c for c in columns if c.name == column.name]
        for part in ("release", "run_id", "source_dir"):
            values = [_part(c, part) for c in twins]
            if len(set(values)) == len(values):
                labels.append(f"{column.name} · {_part(column, part)}")
                break
        else:
            labels.append(f"{column.name} #{twins.index(column) + 1}")
    return labels


def _part(column: Column, part: str) -> str:
    return column.run.id if part == "run_id" else getattr(column, part)


def _column(rs: ResultSet, out_dir: Path) -> Column:
    target = rs.doc.get("target") or {}
    kernel = target.get("kernel") or {}
    run = rs.doc.get("run") or {}
    results = rs.results
    console = target.get("console_log")
    return Column(
        label="",
        name=configurations.column_name(rs, str(target.get("name") or rs.base_dir.name)),
        release=str(kernel.get("release") or "unknown"),
        upstream=str(kernel.get("upstream") or "unknown"),
        machine=str(kernel.get("machine") or ""),
        accelerator=target.get("accelerator"),
        run=Run(
            # The run directory is named after the run id by default.
            id=str(run.get("id") or rs.base_dir.parent.name),
            started=time_text(run.get("started")),
            revision=str(run.get("tcprepro_revision") or "unknown"),
            wall_seconds=run.get("wall_seconds"),
            relaxed_by=tuple(run.get("gate_relaxed_by") or ()),
        ),
        # Counted from results[] rather than read from 'summary', so the bar matches the table.
        counts=Counts(
            Counter(str(result.get("outcome") or "unknown") for result in results),
            Counter(str((result.get("expectation") or {}).get("verdict") or "none") for result in results),
        ),
        error=target.get("error"),
        console_log=link("console log", console, "the guest's serial console", rs.base_dir, out_dir)
        if console else None,
        boot_seconds=target.get("boot_seconds"),
        source_dir=str(rs.base_dir),
        configuration=configurations.describe(rs),
        packages=tuple(str(p) for p in target.get("packages") or ()),
        failed_boots=len(target.get("failed_boots") or ()),
    )


def runs(columns: list[Column]) -> list[Run]:
    """Each run once, with the targets it wrote: targets of one run share its id and directory."""
    grouped: dict[tuple[str, str], list[Column]] = {}
    for column in columns:
        grouped.setdefault((column.run.id, str(Path(column.source_dir).parent)), []).append(column)
    out = []
    for members in grouped.values():
        first = members[0].run
        walls = [c.run.wall_seconds for c in members if c.run.wall_seconds is not None]
        out.append(replace(
            first,
            started=min((c.run.started for c in members if c.run.started), default=""),
            revision=", ".join(dict.fromkeys(c.run.revision for c in members)),
            # Targets of one run run side by side: the run took as long as its slowest target.
            wall_seconds=max(walls) if walls else None,
            targets=tuple(c.label for c in members),
            relaxed_by=tuple(dict.fromkeys(option for c in members for option in c.run.relaxed_by)),
        ))
    return out
