"""Everything one result says on one kernel, for the details of a report cell."""

from dataclasses import dataclass
from pathlib import Path

from markupsafe import Markup

from contract import ladder
from .kernels import Column, Link, link
from .observations import is_timing
from .plots import Plot, sequence_plots
from .values import full_text, short_text


@dataclass(frozen=True)
class Observation:
    key: str
    text: str
    full: str
    differs: bool  # differs between kernels in this row
    is_key: bool  # one of the scenario's key observations
    emulated: bool  # a timing measured under TCG


@dataclass(frozen=True)
class Mismatch:
    observation: str
    expected: str
    observed: str


@dataclass(frozen=True)
class LadderView:
    """One capture's exchange, drawn; or why it cannot be."""
    capture: str
    namespace: str | None
    svg: Markup | None  # an <svg> element styled by the page, safe to insert
    error: str | None
    segments: int
    marked: int  # segments an impairment or raw_tcp acted on
    text: str  # the same ladder for a terminal
    unmarked_impairment: bool = False  # netem impaired packets but cannot say which

    @property
    def summary(self) -> str:
        marks = f", {self.marked} marked" if self.marked else ""
        if self.unmarked_impairment:
            marks += " (impaired by netem, which cannot report which segments: none marked)"
        if not self.svg:
            return f"{self.capture}: {self.error}"
        return f"{self.capture}: {self.segments} segments{marks}" if self.segments else f"{self.capture}: no TCP segment"


@dataclass(frozen=True)
class ResultView:
    id: str
    variant: str
    kernel: str  # the column's label
    outcome: str
    reason: str | None
    duration: float | None
    duration_emulated: bool
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
    folder: Link | None  # the result's evidence folder (pcaps, ladders, log)
    plots: tuple[Plot, ...] = ()  # pictures of a port sequence (S2), see plots.py
    ladders: tuple[LadderView, ...] = ()  # one per capture the lab described, the most marked first

    @property
    def ladder(self) -> LadderView | None:
        """The ladder a cell shows: the capture with most impaired or crafted segments; none for
        captures without a TCP segment (their files are still linked)."""
        return next((lad for lad in self.ladders if lad.segments or lad.error), None)


def result_view(result: dict, variant: str, column: Column, base_dir: Path, out_dir: Path,
                key_names: list[str], differing: set[str]) -> ResultView:
    expectation = result.get("expectation") or {}
    observations = result.get("observations") or {}
    return ResultView(
        id=result["id"],
        variant=variant,
        kernel=column.label,
        outcome=outcome(result),
        reason=result.get("reason"),
        duration=result.get("duration_seconds"),
        duration_emulated=column.emulated,
        backend=result.get("impairment_backend"),
        claim_verdict=claim_verdict(result),
        expectation_verdict=expectation_verdict(result),
        expectation_kernels=expectation.get("kernels"),
        expectation_source=expectation.get("source"),
        expectation_note=expectation.get("note"),
        mismatches=[
            Mismatch(str(m.get("observation")), full_text(m.get("expected")), full_text(m.get("observed")))
            for m in expectation.get("mismatches") or []
        ],
        # Key observations first, in the catalogue's order, then the rest as the case program wrote them.
        observations=[
            Observation(key, short_text(observations[key]), full_text(observations[key]), key in differing,
                        key in key_names, column.emulated and is_timing(key))
            for key in [k for k in key_names if k in observations] + [k for k in observations if k not in key_names]
        ],
        sysctls=[(name, full_text(value)) for name, value in (result.get("sysctls") or {}).items()],
        links=_links(result, base_dir, out_dir),
        folder=_folder(result, base_dir, out_dir),
        plots=tuple(sequence_plots(observations)),
        ladders=tuple(ladders(result, base_dir)),
    )


def ladders(result: dict, base_dir: Path) -> list[LadderView]:
    """The ladder of every pcap of the result that has an exchange file beside it."""
    views = []
    for evidence in result.get("evidence") or []:
        if evidence.get("kind") != "pcap" or not evidence.get("path"):
            continue
        path = ladder.exchange_path(base_dir / evidence["path"])
        if not path.is_file():
            continue
        try:
            exchange = ladder.load(path)
        except ladder.ExchangeError as error:
            views.append(LadderView(path.name, evidence.get("namespace"), None, str(error), 0, 0, ""))
            continue
        views.append(LadderView(exchange.capture, evidence.get("namespace"),
                                Markup(ladder.svg(exchange, standalone=False)), None,
                                len(exchange.segments), len(exchange.marked), ladder.text(exchange),
                                "netem" in str(result.get("impairment_backend") or "")
                                and not any(s.mark in ("held", "dropped", "delayed") for s in exchange.segments)))
    # The most telling first: marked segments, then any segments at all.
    return sorted(views, key=lambda view: (-view.marked, view.segments == 0))


def outcome(result: dict) -> str:
    return str(result.get("outcome") or "unknown")


def claim_verdict(result: dict) -> str:
    return str((result.get("claim") or {}).get("verdict") or "unknown")


def claim_kind(result: dict) -> str:
    """"hazard" or "property" (the catalogue's claim_kind); results written before it: a property."""
    return str((result.get("claim") or {}).get("kind") or "property")


def expectation_verdict(result: dict) -> str:
    return str((result.get("expectation") or {}).get("verdict") or "none")


def _folder(result: dict, base_dir: Path, out_dir: Path) -> Link | None:
    if not result.get("log"):
        return None
    folder = link("evidence folder", str(Path(result["log"]).parent), "every file the story left", base_dir, out_dir)
    return Link(folder.label, folder.href + "/", folder.title, (base_dir / result["log"]).parent.is_dir())


def _links(result: dict, base_dir: Path, out_dir: Path) -> list[Link]:
    links = [
        link(" ".join(filter(None, [evidence.get("kind") or "file", evidence.get("namespace")])),
             evidence["path"], evidence.get("description") or "", base_dir, out_dir)
        for evidence in result.get("evidence") or []
        if evidence.get("path")
    ]
    if result.get("log"):
        links.append(link("log", result["log"], "the case program's stdout and stderr", base_dir, out_dir))
    return links
