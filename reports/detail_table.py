"""One result across the kernels as a table: a line per fact, a column per kernel.

Adjacent kernels that recorded the same value share one cell, so what differs
stands out and five kernels stay compact; evidence links stay per kernel.
"""

from dataclasses import dataclass

from .kernels import Link
from .result_view import ResultView
from .values import number_text


@dataclass(frozen=True)
class DetailCell:
    text: str
    width: int = 1  # kernels (columns) it covers
    kind: str = "text"  # text | badge | claim | links | absent
    links: tuple[Link, ...] = ()
    emulated: bool = False  # a timing measured under TCG


@dataclass(frozen=True)
class DetailLine:
    label: str
    cells: list[DetailCell]
    differs: bool  # not every kernel recorded the same
    key: bool = False  # one of the scenario's key observations


def detail_lines(views: list[ResultView | None]) -> list[DetailLine]:
    ran = [view for view in views if view is not None]
    if not ran:
        return []
    lines = [
        _line("outcome", views, lambda v: DetailCell(v.outcome, kind="badge")),
        _line("reason", views, lambda v: DetailCell(v.reason or "")),
        _line("expectation", views, lambda v: DetailCell(v.expectation_verdict, kind="badge")),
        _line("expectations applied", views, lambda v: DetailCell(v.expectation_kernels or "")),
        _line("source", views, lambda v: DetailCell(v.expectation_source or "")),
        _line("note", views, lambda v: DetailCell(v.expectation_note or "")),
        _line("mismatches", views, lambda v: DetailCell(
            "; ".join(f"{m.observation}: expected {m.expected}, observed {m.observed}" for m in v.mismatches))),
        _line("claim", views, lambda v: DetailCell(v.claim_verdict, kind="claim")),
        _line("impairment", views, lambda v: DetailCell(v.backend or "")),
        _line("duration", views, lambda v: DetailCell(
            "" if v.duration is None else f"{number_text(float(v.duration), 3)} s", emulated=v.duration_emulated)),
    ]
    for key in dict.fromkeys(obs.key for view in ran for obs in view.observations):
        lines.append(_line(key, views, lambda v, key=key: _observation(v, key),
                           key=any(o.is_key for v in ran for o in v.observations if o.key == key)))
    for name in dict.fromkeys(name for view in ran for name, _ in view.sysctls):
        lines.append(_line(name, views, lambda v, name=name: DetailCell(dict(v.sysctls).get(name, "—"))))
    # The folder, not each file: five kernels' links would weigh more than the rest of the table.
    lines.append(DetailLine("evidence", [
        DetailCell("", kind="links", links=(v.folder,) if v.folder else tuple(v.links)) if v
        else DetailCell("not run", kind="absent") for v in views], differs=False))
    return [line for line in lines if any(c.text for c in line.cells if c.kind != "absent") or line.label == "evidence"]


def _observation(view: ResultView, key: str) -> DetailCell:
    found = next((o for o in view.observations if o.key == key), None)
    return DetailCell(found.full, emulated=found.emulated) if found else DetailCell("—")


def _line(label: str, views: list[ResultView | None], make, key: bool = False) -> DetailLine:
    cells = [make(view) if view is not None else DetailCell("not run", kind="absent") for view in views]
    merged: list[DetailCell] = []
    for cell in cells:
        last = merged[-1] if merged else None
        if last and (last.text, last.kind, last.emulated) == (cell.text, cell.kind, cell.emulated):
            merged[-1] = DetailCell(last.text, last.width + 1, last.kind, last.links, last.emulated)
        else:
            merged.append(cell)
    present = {c.text for c in cells if c.kind != "absent"}
    return DetailLine(label, merged, differs=len(present) > 1, key=key)
