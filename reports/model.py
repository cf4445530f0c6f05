"""The report's view model: kernels as columns, scenarios (variants collapsed) as rows."""

from dataclasses import dataclass
from pathlib import Path

from .kernels import EMPTY_COUNTS, Column, Counts, Run, build_columns, runs, sort_key
from .load import ResultSet
from .rows import Row, build_rows
from .surface import KnobRow, knob_rows


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
    knobs: list[KnobRow] = ()  # the kernel surface rows that differ or are flagged (reports/surface.py)

    @property
    def rows(self) -> list[Row]:
        return [row for group in self.groups for row in group.rows]

    @property
    def differing_rows(self) -> list[Row]:
        return [row for row in self.rows if row.differs]

    @property
    def marks(self) -> dict[str, int]:
        """A number for each differing row, to refer to it from the Markdown list under its table."""
        return {row.anchor: n for n, row in enumerate(self.differing_rows, 1)}

    @property
    def failed_columns(self) -> list[Column]:
        return [column for column in self.columns if column.error]

    @property
    def emulated(self) -> bool:
        return any(column.emulated for column in self.columns)

    @property
    def with_mismatches(self):
        """Every (detail, kernel, result view) whose observations missed the expectation."""
        return [
            (detail, column, view)
            for row in self.rows
            for detail in row.details
            for column, view in zip(self.columns, detail.views)
            if view is not None and view.mismatches
        ]


def build_report(result_sets: list[ResultSet], out_dir: Path) -> Report:
    # Oldest kernel on the left, so a change in behaviour reads left to right.
    result_sets = sorted(result_sets, key=sort_key)
    columns = build_columns(result_sets, out_dir)
    rows = build_rows(result_sets, columns, out_dir)
    return Report(
        runs=runs(columns),
        columns=columns,
        groups=_groups(rows),
        totals=sum((column.counts for column in columns), EMPTY_COUNTS),
        knobs=knob_rows(result_sets, columns),
    )


def _groups(rows: list[Row]) -> list[Group]:
    groups: dict[str, list[Row]] = {}
    for row in rows:
        groups.setdefault(row.family, []).append(row)
    return [Group(family, family_rows) for family, family_rows in groups.items()]
