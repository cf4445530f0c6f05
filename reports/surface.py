"""The kernel surface section: the TCP and port sysctls that differ between kernels.

Reads the S5-surface result of each column (its `surface` table and the harness's
`knob_verdicts`, harness/judge/surface.py). A knob gets a row when its presence, default,
namespacing or verdict differs between the columns, or when a column found it
unknown to the catalogue ("new") or unexpected. Each row cites the catalogue's
sources for the knob, as the harness recorded them per kernel.
"""

from dataclasses import dataclass

from .kernels import Column
from .load import ResultSet

SCENARIO = "S5-surface"
ABSENT = "absent"


@dataclass(frozen=True)
class KnobRow:
    name: str
    cells: list[str | None]  # per column: the default, "absent", or None when S5-surface did not run there
    verdicts: list[str | None]  # per column: as_expected | unexpected | new | None
    sources: list[str]  # the catalogue's sources for the knob, each once

    @property
    def flagged(self) -> bool:
        return any(v in ("unexpected", "new") for v in self.verdicts)


def _cell(knob: dict | None) -> str:
    if knob is None:
        return ABSENT
    text = "(empty)" if knob.get("default") == "" else str(knob.get("default"))
    if knob.get("in_namespace") is False:
        return "global, not in a namespace"
    if knob.get("global"):
        text += " · global (read-only in a namespace)"
    elif knob.get("per_netns") is False:
        text += " · shared between namespaces"
    return text


def knob_rows(result_sets: list[ResultSet], columns: list[Column]) -> list[KnobRow]:
    per_column = []
    for rs in result_sets:
        found = next((r for r in rs.results if r.get("scenario") == SCENARIO and r.get("outcome") == "passed"), None)
        per_column.append((found or {}).get("observations") or None)
    if sum(1 for observed in per_column if observed) == 0:
        return []
    names = sorted({name for observed in per_column if observed for name in (observed.get("surface") or {})}
                   | {name for observed in per_column if observed for name in (observed.get("knob_verdicts") or {})})
    rows = []
    for name in names:
        cells, verdicts, sources = [], [], {}
        for observed in per_column:
            if not observed:
                cells.append(None)
                verdicts.append(None)
                continue
            cells.append(_cell((observed.get("surface") or {}).get(name)))
            verdict = (observed.get("knob_verdicts") or {}).get(name) or {}
            verdicts.append(verdict.get("verdict"))
            for source in str(verdict.get("source") or "").split(" | "):
                if source:
                    sources[source] = None
        ran = [c for c in cells if c is not None]
        row = KnobRow(name, cells, verdicts, list(sources))
        if len(set(ran)) > 1 or len({v for v in verdicts if v}) > 1 or row.flagged:
            rows.append(row)
    return rows
