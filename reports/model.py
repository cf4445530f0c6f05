"""The report's view model: kernels as columns, result ids as rows, built from result sets."""

import os
import re
from collections import Counter
from dataclasses import dataclass, replace
from pathlib import Path
from urllib.parse import quote

from .load import ResultSet
from .plots import Plot, sequence_plots
from .values import canonical, full_text, short_text, time_text, variant_text, version_key

OUTCOMES = ("passed", "skipped", "error")
VERDICTS = ("as_expected", "unexpected", "new_behaviour", "none")


@dataclass(frozen=True)
class Run:
    id: str
    started: str
    revision: str
    wall_seconds: float | None


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


@dataclass(frozen=True)
class Column:
    label: str
    name: str
    release: str
    upstream: str
    machine: str
    accelerator: str | None
    run: Run
    counts: Counts


@dataclass(frozen=True)
class Link:
    label: str
    href: str  # percent-encoded, relative to the report's directory
    title: str
    exists: bool


@dataclass(frozen=True)
class Observation:
    key: str
    text: str
    full: str
    differs: bool


@dataclass(frozen=True)
class Mismatch:
    observation: str
    expected: str
    observed: str


@dataclass(frozen=True)
class Cell:
    outcome: str
    reason: str | None
    duration: float | None
    backend: str | None
    claim_verdict: str
    expectation_verdict: str
    expectation_kernels: str | None
    expectation_source: str | None
    expectation_note: str | None
    mismatches: list[Mismatch]
    observations: list[Observation]
    sysctls: list[tuple[str, str]]
    links: list[Link]
    plots: tuple[Plot, ...] = ()  # pictures of a port sequence (S2), see plots.py


@dataclass(frozen=True)
class Row:
    id: str
    anchor: str
    family: str
    scenario: str
    title: str
    variant: str
    claim_text: str
    cells: list[Cell | None]  # one per column; None when that kernel has no such result
    differing_keys: list[str]
    claim_differs: bool

    @property
    def differences(self) -> list[str]:
        """What differs between kernels, for the row's caption."""
        return (["claim verdict"] if self.claim_differs else []) + self.differing_keys

    @property
    def differs(self) -> bool:
        return bool(self.differences)


@dataclass(frozen=True)
class Group:
    family: str
    rows: list[Row]


@dataclass(frozen=True)
class Report:
    runs: list[Run]
    columns: list[Column]
    groups: list[Group]
    totals: Counts

    @property
    def rows(self) -> list[Row]:
        return [row for group in self.groups for row in group.rows]

    @property
    def differing_rows(self) -> list[Row]:
        return [row for row in self.rows if row.differs]

    @property
    def with_mismatches(self) -> list[tuple[Row, Column, Cell]]:
        """Every (row, kernel, cell) whose observations missed the expectation."""
        return [
            (row, column, cell)
            for row in self.rows
            for column, cell in zip(self.columns, row.cells)
            if cell is not None and cell.mismatches
        ]


def build_report(result_sets: list[ResultSet], out_dir: Path) -> Report:
    # Oldest kernel on the left, so a change in behaviour reads left to right.
    result_sets = sorted(result_sets, key=_kernel_sort_key)
    columns = _columns(result_sets)
    by_id = [{result["id"]: result for result in rs.results} for rs in result_sets]
    ordered, anchors = _ordered_results(result_sets)
    rows = [
        _row(first, anchor, [(ids.get(first["id"]), rs) for ids, rs in zip(by_id, result_sets)], out_dir)
        for first, anchor in zip(ordered, anchors)
    ]
    return Report(
        runs=list(dict.fromkeys(column.run for column in columns)),
        columns=columns,
        groups=_groups(rows),
        totals=sum((column.counts for column in columns), Counts(Counter(), Counter())),
    )


def _kernel_sort_key(rs: ResultSet):
    target = rs.doc.get("target") or {}
    kernel = target.get("kernel") or {}
    return version_key(kernel.get("upstream")), str(target.get("name", "")), str(rs.path)


def _columns(result_sets: list[ResultSet]) -> list[Column]:
    columns = [_column(rs) for rs in result_sets]
    labels = _unique_labels([[column.name, column.release, column.run.id] for column in columns])
    return [replace(column, label=label) for column, label in zip(columns, labels)]


def _column(rs: ResultSet) -> Column:
    target = rs.doc.get("target") or {}
    kernel = target.get("kernel") or {}
    run = rs.doc.get("run") or {}
    results = rs.results
    return Column(
        label="",
        name=str(target.get("name") or rs.base_dir.name),
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
        ),
        # Counted from results[] rather than read from 'summary', so the bar matches the table.
        counts=Counts(
            Counter(_outcome(result) for result in results),
            Counter(_expectation(result).get("verdict") or "none" for result in results),
        ),
    )


def _unique_labels(parts: list[list[str]]) -> list[str]:
    """The target name, extended by release and then run id only where names collide."""
    for width in range(1, 4):
        labels = [" · ".join(p for p in part[:width] if p) for part in parts]
        if len(set(labels)) == len(labels):
            return labels
    return [f"{label} #{index}" for index, label in enumerate(labels, 1)]


def _ordered_results(result_sets: list[ResultSet]) -> tuple[list[dict], list[str]]:
    """One result per id, grouped by family then scenario, each in order of first appearance."""
    first: dict[str, dict] = {}
    for rs in result_sets:
        for result in rs.results:
            first.setdefault(result["id"], result)
    families = _first_seen(_text(result, "family") for result in first.values())
    scenarios = _first_seen(_text(result, "scenario") for result in first.values())
    ordered = sorted(
        first.values(),
        key=lambda result: (families[_text(result, "family")], scenarios[_text(result, "scenario")]),
    )
    return ordered, _anchors([result["id"] for result in ordered])


def _text(result: dict, key: str) -> str:
    return str(result.get(key) or "")


def _first_seen(values) -> dict[str, int]:
    """Each distinct value with the rank of its first appearance."""
    return {value: index for index, value in enumerate(dict.fromkeys(values))}


def _anchors(ids: list[str]) -> list[str]:
    anchors, taken = [], set()
    for result_id in ids:
        base = "r-" + re.sub(r"[^A-Za-z0-9]+", "-", result_id).strip("-")
        anchor, n = base, 1
        while anchor in taken:
            n += 1
            anchor = f"{base}-{n}"
        taken.add(anchor)
        anchors.append(anchor)
    return anchors


def _row(first: dict, anchor: str, per_kernel: list[tuple[dict | None, ResultSet]], out_dir: Path) -> Row:
    results = [result for result, _ in per_kernel]
    differing_keys, claim_differs = _differences(results)
    return Row(
        id=first["id"],
        anchor=anchor,
        family=_text(first, "family"),
        scenario=_text(first, "scenario") or "—",
        title=_text(first, "title"),
        variant=variant_text(first.get("variant")),
        claim_text=next((_claim(r).get("text") for r in results if r and _claim(r).get("text")), ""),
        cells=[
            None if result is None else _cell(result, rs.base_dir, out_dir, differing_keys)
            for result, rs in per_kernel
        ],
        differing_keys=differing_keys,
        claim_differs=claim_differs,
    )


def _differences(results: list[dict | None]) -> tuple[list[str], bool]:
    """Observation keys whose values, and whether the claim verdict, differ between kernels.

    Only kernels that ran the story count: a skip or an error has nothing to compare.
    """
    ran = [result for result in results if result is not None and result.get("outcome") == "passed"]
    if len(ran) < 2:
        return [], False
    observations = [result.get("observations") or {} for result in ran]
    keys = list(dict.fromkeys(key for obs in observations for key in obs))
    missing = object()
    differing = [
        key for key in keys
        if len({canonical(obs[key]) if key in obs else missing for obs in observations}) > 1
    ]
    claim_differs = len({_claim(result).get("verdict") for result in ran}) > 1
    return differing, claim_differs


def _cell(result: dict, base_dir: Path, out_dir: Path, differing_keys: list[str]) -> Cell:
    expectation = _expectation(result)
    return Cell(
        outcome=_outcome(result),
        reason=result.get("reason"),
        duration=result.get("duration_seconds"),
        backend=result.get("impairment_backend"),
        claim_verdict=str(_claim(result).get("verdict") or "unknown"),
        expectation_verdict=str(expectation.get("verdict") or "none"),
        expectation_kernels=expectation.get("kernels"),
        expectation_source=expectation.get("source"),
        expectation_note=expectation.get("note"),
        mismatches=[
            Mismatch(str(m.get("observation")), full_text(m.get("expected")), full_text(m.get("observed")))
            for m in expectation.get("mismatches") or []
        ],
        observations=[
            Observation(key, short_text(value), full_text(value), key in differing_keys)
            for key, value in (result.get("observations") or {}).items()
        ],
        sysctls=[(name, full_text(value)) for name, value in (result.get("sysctls") or {}).items()],
        links=_links(result, base_dir, out_dir),
        plots=tuple(sequence_plots(result.get("observations") or {})),
    )


def _outcome(result: dict) -> str:
    return _text(result, "outcome") or "unknown"


def _claim(result: dict) -> dict:
    return result.get("claim") or {}


def _expectation(result: dict) -> dict:
    return result.get("expectation") or {}


def _links(result: dict, base_dir: Path, out_dir: Path) -> list[Link]:
    links = [
        _link(
            " ".join(filter(None, [evidence.get("kind") or "file", evidence.get("namespace")])),
            evidence["path"],
            evidence.get("description") or "",
            base_dir,
            out_dir,
        )
        for evidence in result.get("evidence") or []
        if evidence.get("path")
    ]
    if result.get("log"):
        links.append(_link("log", result["log"], "the case program's stdout and stderr", base_dir, out_dir))
    return links


def _link(label: str, path: str, title: str, base_dir: Path, out_dir: Path) -> Link:
    target = base_dir / path
    relative = os.path.relpath(target.absolute(), out_dir.absolute())
    return Link(label, quote(Path(relative).as_posix()), title, target.is_file())


def _groups(rows: list[Row]) -> list[Group]:
    groups: dict[str, list[Row]] = {}
    for row in rows:
        groups.setdefault(row.family, []).append(row)
    return [Group(family, family_rows) for family, family_rows in groups.items()]
