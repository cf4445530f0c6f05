"""The report's rows: one per scenario, variants collapsed where the kernels cannot tell them apart.

Two variants of a scenario (ipv4/ipv6, loopback/veth, ...) share a row when, on
every kernel, they have the same outcome, verdicts and behaviour key observations;
measured observations (observations.py) do not keep them apart, and the cell then
shows their range. Variants that differ anywhere get rows of their own.
"""

import re
from dataclasses import dataclass
from numbers import Number
from pathlib import Path

from . import configurations, differences
from .detail_table import DetailLine, detail_lines
from .differences import Annotation, KernelGroup, Sample
from .expectations import applied_expectations
from .kernels import GUEST_FAILED, Column
from .load import ResultSet
from .observations import is_timing, key_names, measured_keys
from .result_view import Mismatch, ResultView, claim_kind, claim_verdict, expectation_verdict, outcome, result_view
from .values import canonical, full_text, range_text, short_text, variant_name, variants_text


@dataclass(frozen=True)
class Value:
    key: str
    text: str  # the value, or the range over the row's variants
    full: str
    differs: bool  # differs between kernels: emphasised
    measured: bool  # varies run to run: shown, not compared
    emulated: bool  # a timing taken under TCG


@dataclass(frozen=True)
class Cell:
    outcome: str
    reason: str | None
    guest_failed: bool
    claim_verdict: str
    expectation_verdict: str
    values: list[Value]
    mismatches: list[Mismatch]
    views: list[ResultView]  # each variant's full result, for the expandable details
    notes: list[str] = ()  # what the story did with the configuration (pinned, suspended)


@dataclass(frozen=True)
class Span:
    """Adjacent kernels whose cells read the same, shown as one cell: five kernels fit a screen."""
    first: int  # index of its first column
    width: int  # how many columns it covers
    kernels: list[str]  # their labels
    cell: Cell | None  # the merged cell (measured values as a range over all of them); None: not run


@dataclass(frozen=True)
class Behaviour:
    """One group of kernels that showed the same thing in a differing row, for the side-by-side view."""
    kernels: list[str]  # column labels
    group: KernelGroup
    view: ResultView | None  # the first kernel's first variant: its ladder and evidence
    claim_verdict: str
    expectation_verdict: str


@dataclass(frozen=True)
class Detail:
    """One result id across the kernels, for the details section."""
    id: str
    anchor: str
    variant: str
    views: list[ResultView | None]  # one per column

    @property
    def lines(self) -> list[DetailLine]:
        return detail_lines(self.views)


@dataclass(frozen=True)
class Row:
    anchor: str
    family: str
    scenario: str
    title: str
    claim_text: str
    variants: str  # which variants the row stands for
    cells: list[Cell | None]  # one per column; None when that kernel has no such result
    differences: list[str]
    annotation: Annotation | None
    details: list[Detail]
    spans: list[Span]
    behaviours: list[Behaviour]  # differing rows only: each distinct behaviour with its kernels
    configurations: list[str] = ()  # per kernel whose configurations disagree: what each ran with
    claim_kind: str = "property"  # "hazard": its claim verdict reads as hazard reachable / not reachable

    @property
    def differs(self) -> bool:
        return bool(self.differences)


def build_rows(result_sets: list[ResultSet], columns: list[Column], out_dir: Path) -> list[Row]:
    by_column = [{result["id"]: result for result in rs.results} for rs in result_sets]
    rows, taken = [], set()
    for ids in _scenarios(result_sets):
        rows += _scenario_rows(ids, by_column, result_sets, columns, out_dir, taken)
    return rows


def _scenarios(result_sets: list[ResultSet]) -> list[list[str]]:
    """Result ids grouped by scenario; families, scenarios and ids in order of first appearance."""
    first: dict[str, dict] = {}
    for rs in result_sets:
        for result in rs.results:
            first.setdefault(result["id"], result)
    grouped: dict[tuple[str, str], list[str]] = {}
    for result in sorted(first.values(), key=_family_rank(first)):
        grouped.setdefault((_text(result, "family"), _text(result, "scenario")), []).append(result["id"])
    return list(grouped.values())


def _family_rank(first: dict[str, dict]):
    families = {f: i for i, f in enumerate(dict.fromkeys(_text(r, "family") for r in first.values()))}
    return lambda result: families[_text(result, "family")]


def _scenario_rows(ids, by_column, result_sets, columns, out_dir, taken) -> list[Row]:
    table = {rid: [results.get(rid) for results in by_column] for rid in ids}
    everything = [r for per_column in table.values() for r in per_column if r is not None]
    keys = key_names(everything)
    per_kernel = [[table[rid][c] for rid in ids if _ran(table[rid][c])] for c in range(len(columns))]
    measured = measured_keys(keys, per_kernel)
    compared = [key for key in keys if key not in measured]
    groups: dict[tuple, list[str]] = {}
    for rid in ids:
        groups.setdefault(tuple(_signature(r, compared) for r in table[rid]), []).append(rid)
    every = [_first(table[rid]).get("variant") for rid in ids]
    rows = []
    for members in groups.values():
        first = _first(table[members[0]])
        per_column = [[table[rid][c] for rid in members if table[rid][c] is not None] for c in range(len(columns))]
        samples = [_sample(results[0], column) for results, column in zip(per_column, columns)
                   if results and not _guest_failed(results[0])]
        judged = [key for key in keys if key in measured]
        found = differences.differing(samples, compared, judged)
        differing = set(found)
        annotation = differences.annotate(samples, found, judged)
        located = [[(r, column, rs) for r in results] for results, column, rs in zip(per_column, columns, result_sets)]
        cells = [_cell(entries, keys, measured, differing, out_dir) if entries else None for entries in located]
        rows.append(Row(
            anchor=_anchor(f"row-{_text(first, 'scenario')}", taken),
            family=_text(first, "family"),
            scenario=_text(first, "scenario") or "—",
            title=_text(first, "title"),
            claim_text=next((str((r.get("claim") or {}).get("text")) for r in everything
                             if (r.get("claim") or {}).get("text")), ""),
            variants=variants_text([_first(table[rid]).get("variant") for rid in members], every),
            claim_kind=claim_kind(first),
            cells=cells,
            differences=found,
            annotation=annotation,
            configurations=configurations.explain(
                [(column.label, column.release, rs, results[0] if results else None)
                 for results, column, rs in zip(per_column, columns, result_sets)],
                lambda indexes: bool(differences.differing(
                    [_sample(per_column[i][0], columns[i]) for i in indexes
                     if not _guest_failed(per_column[i][0])], compared, judged))) if found else [],
            details=[
                Detail(rid, _anchor(f"r-{rid}", taken), variant_name(_first(table[rid]).get("variant")), [
                    None if r is None else result_view(r, variant_name(r.get("variant")), column, rs.base_dir,
                                                       out_dir, keys, differing)
                    for r, column, rs in zip(table[rid], columns, result_sets)
                ])
                for rid in members
            ],
            spans=_spans(cells, located, columns, keys, measured, differing, out_dir, _group_of(annotation, columns)),
            behaviours=_behaviours(annotation, cells, columns),
        ))
    return rows


def _group_of(annotation: Annotation | None, columns: list[Column]) -> dict[int, int]:
    """Column index -> the annotation group it belongs to (kernels that showed the same)."""
    by_short = {column.short: index for index, column in enumerate(columns)}
    return {by_short[kernel]: n for n, group in enumerate(annotation.groups) for kernel in group.kernels
            if kernel in by_short} if annotation else {}


def _spans(cells, located, columns, keys, measured, differing, out_dir, group_of: dict[int, int]) -> list[Span]:
    """Adjacent cells that read the same and, in a differing row, belong to the same group of kernels
    (a measurement judged by different expectations must not merge into one range)."""
    spans: list[Span] = []
    for index, cell in enumerate(cells):
        if (spans and _reads_same(cells[spans[-1].first], cell)
                and group_of.get(spans[-1].first) == group_of.get(index)):
            last = spans.pop()
            indices = range(last.first, index + 1)
            entries = [entry for i in indices for entry in located[i]]
            merged = _cell(entries, keys, measured, differing, out_dir) if entries else None
            spans.append(Span(last.first, last.width + 1, last.kernels + [columns[index].label], merged))
        else:
            spans.append(Span(index, 1, [columns[index].label], cell))
    return spans


def _reads_same(left: Cell | None, right: Cell | None) -> bool:
    return _reading(left) == _reading(right)


def _reading(cell: Cell | None) -> tuple:
    """What a cell says, apart from measurements (shown as a range) and evidence."""
    if cell is None:
        return ("absent",)
    if cell.guest_failed:
        return ("guest failed", id(cell))  # each failed guest keeps its own column and console log
    return (cell.outcome, cell.expectation_verdict, cell.claim_verdict, cell.reason,
            tuple((v.key, v.text) for v in cell.values if not v.measured),
            tuple(cell.mismatches))


def _behaviours(annotation: Annotation | None, cells: list[Cell | None], columns: list[Column]) -> list[Behaviour]:
    if annotation is None:
        return []
    by_short = {column.short: index for index, column in enumerate(columns)}
    out = []
    for group in annotation.groups:
        indices = [by_short[kernel] for kernel in group.kernels if kernel in by_short]
        first = cells[indices[0]] if indices else None
        view = first.views[0] if first and first.views else None
        out.append(Behaviour([_kernel_name(columns[i]) for i in indices], group, view,
                             first.claim_verdict if first else "unknown",
                             first.expectation_verdict if first else "none"))
    return out


def _signature(result: dict | None, compared: list[str]) -> tuple:
    """What two variants must share on one kernel to share a row."""
    if result is None:
        return ("absent",)
    if _guest_failed(result):
        return ("guest failed",)
    observations = result.get("observations") or {}
    return (outcome(result), expectation_verdict(result), claim_verdict(result),
            tuple(canonical(observations.get(key)) if key in observations else "-" for key in compared))


def _sample(result: dict, column: Column) -> Sample:
    observations = result.get("observations") or {}
    expectation = result.get("expectation") or {}
    return Sample(
        kernel=column.short,
        outcome=outcome(result),
        expectation_verdict=expectation_verdict(result),
        claim_verdict=claim_verdict(result),
        values=dict(observations) if outcome(result) == "passed" else {},
        applied=applied_expectations(result),
        mismatched=frozenset(str(m.get("observation")) for m in expectation.get("mismatches") or []),
        reason=result.get("reason"),
    )


def _cell(entries: list[tuple[dict, Column, ResultSet]], keys, measured, differing, out_dir: Path) -> Cell:
    """A cell for results of one or several kernels (entries of (result, column, result set))."""
    results = [result for result, _, _ in entries]
    first = results[0]
    views = [result_view(r, variant_name(r.get("variant")), column, rs.base_dir, out_dir, keys, differing)
             for r, column, rs in entries]
    emulated = any(column.emulated for _, column, _ in entries)
    return Cell(
        outcome=outcome(first),
        reason=first.get("reason"),
        guest_failed=_guest_failed(first),
        claim_verdict=claim_verdict(first),
        expectation_verdict=expectation_verdict(first),
        values=[value for key in keys if (value := _value(key, results, measured, differing, emulated))],
        mismatches=[m for view in views for m in view.mismatches],
        views=views,
        notes=configurations.cell_notes(results),
    )


def _value(key: str, results: list[dict], measured, differing, emulated: bool) -> Value | None:
    found = [(r, (r.get("observations") or {})[key]) for r in results if key in (r.get("observations") or {})]
    if not found:
        return None
    values = [value for _, value in found]
    if len({canonical(v) for v in values}) == 1:
        text, full = short_text(values[0]), full_text(values[0])
    else:
        numbers = all(isinstance(v, Number) and not isinstance(v, bool) for v in values)
        text = range_text(values) if numbers else "differs by variant"
        full = "; ".join(f"{variant_name(r.get('variant'))}: {full_text(v)}" for r, v in found)
    return Value(key, text, full, key in differing, key in measured, emulated and is_timing(key))


def _kernel_name(column: Column) -> str:
    """'debian:bookworm (6.1.176)': the target and the version expectations are matched against."""
    return column.label if column.upstream in (column.label, "unknown") else f"{column.label} ({column.upstream})"


def _ran(result: dict | None) -> bool:
    return result is not None and outcome(result) == "passed"


def _guest_failed(result: dict) -> bool:
    return str(result.get("reason") or "").startswith(GUEST_FAILED)


def _first(results: list[dict | None]) -> dict:
    return next(r for r in results if r is not None)


def _text(result: dict, key: str) -> str:
    return str(result.get(key) or "")


def _anchor(text: str, taken: set[str]) -> str:
    base = re.sub(r"[^A-Za-z0-9]+", "-", text).strip("-")
    anchor, n = base, 1
    while anchor in taken:
        n += 1
        anchor = f"{base}-{n}"
    taken.add(anchor)
    return anchor
