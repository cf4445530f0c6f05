"""exchange.json: the lab's record of one capture (harness/RESULTS.md), read into an Exchange.

For every pcap a story records, the lab writes `<name>.exchange.json` beside it
(client.pcap -> client.exchange.json): the lanes (the story's roles and their addresses)
and one entry per captured segment, with relative sequence numbers and what an
impairment or raw_tcp did to it. Nothing is inferred from flags: a segment is marked
held, dropped, delayed or crafted only when the lab recorded so. Drawing is ladder.py's.
"""

import json
from dataclasses import dataclass
from pathlib import Path

SCHEMA = "tcprepro-exchange/1"
EXCHANGE_SUFFIX = ".exchange.json"
LADDER_SUFFIX = ".ladder.svg"
MARKS = ("held", "dropped", "delayed", "crafted")


class ExchangeError(ValueError):
    """An exchange file that cannot be drawn; the message names the file and what is wrong."""


@dataclass(frozen=True)
class Lane:
    name: str
    endpoints: tuple[str, ...]

    @property
    def address(self) -> str:
        """Its first endpoint, and how many more (a port sweep has dozens): fits above the lane."""
        more = f" (+{len(self.endpoints) - 1} more)" if len(self.endpoints) > 1 else ""
        return (self.endpoints[0] + more) if self.endpoints else ""

    @property
    def heading(self) -> str:
        return f"{self.name} {self.address}".strip()


@dataclass(frozen=True)
class Segment:
    t: float  # seconds since the story started
    source: str  # lane names
    destination: str
    flags: str  # tcpdump's notation: S, S., ., P., F., R, R.
    seq: int | None  # relative to the ISN of its direction's connection incarnation
    ack: int | None
    length: int
    window: int | None
    tsval: int | None
    tsecr: int | None
    mark: str | None  # held | dropped | delayed | crafted: the lab's record, never guessed
    note: str | None
    seq_abs: int | None = None
    ack_abs: int | None = None

    @property
    def label(self) -> str:
        """'S. seq 0 ack 1 len 0 TS 4011/3990': what the arrow says."""
        parts = [self.flags or "none"]
        if self.seq is not None:
            parts.append(f"seq {self.seq}")
        if self.ack is not None and "." in (self.flags or ""):
            parts.append(f"ack {self.ack}")
        parts.append(f"len {self.length}")
        if self.tsval is not None:
            parts.append(f"TS {self.tsval}/{self.tsecr if self.tsecr is not None else '-'}")
        return " ".join(parts)

    @property
    def detail(self) -> str:
        """What the label leaves out, for a tooltip."""
        parts = [f"{self.source} → {self.destination}"]
        if self.seq_abs is not None:
            parts.append(f"seq_abs {self.seq_abs}")
        if self.ack_abs is not None:
            parts.append(f"ack_abs {self.ack_abs}")
        if self.window is not None:
            parts.append(f"win {self.window}")
        return " · ".join(parts)


@dataclass(frozen=True)
class Exchange:
    capture: str  # the pcap's file name, beside the exchange file
    lanes: tuple[Lane, ...]
    segments: tuple[Segment, ...]
    path: Path  # the exchange file

    @property
    def self_connect(self) -> bool:
        return len(self.lanes) == 1

    @property
    def marked(self) -> tuple[Segment, ...]:
        return tuple(s for s in self.segments if s.mark)


def exchange_path(pcap: Path) -> Path:
    """client.pcap -> client.exchange.json (harness/RESULTS.md)."""
    return pcap.with_suffix(EXCHANGE_SUFFIX)


def ladder_path(pcap: Path) -> Path:
    """client.pcap -> client.ladder.svg."""
    return pcap.with_suffix(LADDER_SUFFIX)


def load(path: Path) -> Exchange:
    """The exchange in path; raises ExchangeError saying what is wrong."""
    try:
        doc = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as error:
        raise ExchangeError(f"{path}: cannot read ({error.strerror})") from error
    except ValueError as error:
        raise ExchangeError(f"{path}: not valid JSON ({error})") from error
    if not isinstance(doc, dict) or doc.get("schema") != SCHEMA:
        found = doc.get("schema") if isinstance(doc, dict) else None
        raise ExchangeError(f"{path}: schema {found!r}, expected {SCHEMA!r}")
    try:
        lanes = tuple(Lane(str(lane["name"]), tuple(str(e) for e in lane.get("endpoints") or ()))
                      for lane in doc["lanes"])
        names = {lane.name for lane in lanes}
        segments = tuple(_segment(entry, names) for entry in doc["segments"])
    except (KeyError, TypeError, ValueError) as error:
        raise ExchangeError(f"{path}: does not follow {SCHEMA} ({error})") from error
    if not lanes and segments:
        raise ExchangeError(f"{path}: segments but no lanes")
    return Exchange(str(doc.get("capture") or path.name.removesuffix(EXCHANGE_SUFFIX) + ".pcap"), lanes, segments,
                    Path(path))


def _segment(entry: dict, lanes: set[str]) -> Segment:
    source, destination = str(entry["from"]), str(entry["to"])
    if source not in lanes or destination not in lanes:
        raise ValueError(f"segment from {source!r} to {destination!r}: not a lane")
    mark = entry.get("mark")
    if mark is not None and mark not in MARKS:
        raise ValueError(f"mark {mark!r} is none of {', '.join(MARKS)}")
    return Segment(
        t=float(entry["t"]), source=source, destination=destination, flags=str(entry.get("flags") or ""),
        seq=_int(entry.get("seq")), ack=_int(entry.get("ack")), length=int(entry.get("len") or 0),
        window=_int(entry.get("win")), tsval=_int(entry.get("tsval")), tsecr=_int(entry.get("tsecr")),
        mark=mark, note=str(entry["note"]) if entry.get("note") else None,
        seq_abs=_int(entry.get("seq_abs")), ack_abs=_int(entry.get("ack_abs")),
    )


def _int(value) -> int | None:
    return None if value is None else int(value)
