"""The kernel's TCP and port sysctl surface (S5-surface), judged knob by knob.

The case program records a `surface` table: for each knob, its default in a fresh
namespace, whether it is writable there, whether it is global (writable only in the
initial namespace, or not shown in a lab namespace at all) and whether a changed
value stays in its namespace (per_netns; null where no nudged value was accepted).
The catalogue lists the knobs it knows in harness/scenarios/kernel_surface.toml as
[[knob]] entries:

    [[knob]]
    name = "net.ipv4.tcp_tw_reuse_delay"
    kernels = ">=6.14"        # where the knob exists with what follows
    default = "1000"          # optional: a default that depends on the build is left out
    per_netns = true          # optional
    source = "ca6a6f93867a tcp: Add sysctl to configure TIME-WAIT reuse delay (v6.14)"

A knob exists on a kernel when one of its entries' ranges holds it, and is expected
absent elsewhere. Derived observations (harness/RESULTS.md): `knobs_new` (present, not
in the catalogue: never a pass), `knobs_unexpected` (one line per difference from the
catalogue), and `knob_verdicts` (name -> verdict and the source that applies), which
the report uses to cite each knob that differs between kernels.
"""
from __future__ import annotations

import dataclasses
import pathlib
import tomllib

from harness.kernels import kernel

CATALOGUE = pathlib.Path(__file__).resolve().parents[1] / "scenarios" / "kernel_surface.toml"
_JUDGED = ("default", "per_netns", "global")


class SurfaceError(ValueError):
    """A [[knob]] entry that does not follow the format."""


@dataclasses.dataclass(frozen=True)
class KnobEntry:
    name: str
    kernels: str
    expected: dict  # a subset of default, per_netns, global
    source: str


def load(path: pathlib.Path = CATALOGUE) -> list[KnobEntry]:
    data = tomllib.loads(path.read_text())
    entries = []
    for index, raw in enumerate(data.get("knob", []), 1):
        where = f"{path}: knob #{index}"
        missing = [key for key in ("name", "kernels", "source") if key not in raw]
        if missing:
            raise SurfaceError(f"{where}: missing {', '.join(missing)}")
        unknown = set(raw) - {"name", "kernels", "source", *_JUDGED}
        if unknown:
            raise SurfaceError(f"{where} ({raw['name']}): unknown keys {sorted(unknown)}")
        try:
            kernel.validate_range(raw["kernels"])
        except (kernel.RangeError, ValueError) as error:
            raise SurfaceError(f"{where} ({raw['name']}): {error}") from None
        entries.append(KnobEntry(raw["name"], raw["kernels"], {k: raw[k] for k in _JUDGED if k in raw}, raw["source"]))
    return entries


def judge(surface: dict, version: kernel.Version, entries: list[KnobEntry]) -> dict:
    """knobs_new, knobs_unexpected and knob_verdicts for one kernel's surface table."""
    known = {e.name for e in entries}
    applying: dict[str, list[KnobEntry]] = {}
    for entry in entries:
        if kernel.in_range(entry.kernels, version):
            applying.setdefault(entry.name, []).append(entry)
    new, unexpected, verdicts = [], [], {}
    for name in sorted(set(surface) | known):
        observed = surface.get(name)
        here = applying.get(name, [])
        sources = " | ".join(e.source for e in here) or None
        if observed is not None and name not in known:
            new.append(name)
            verdicts[name] = {"verdict": "new", "source": None}
            continue
        problems = []
        if observed is None and here:
            problems.append(f"{name}: absent, the catalogue has it on this kernel")
        elif observed is not None and not here:
            ranges = ", ".join(e.kernels for e in entries if e.name == name)
            problems.append(f"{name}: present, the catalogue has it only on {ranges}")
            sources = " | ".join(e.source for e in entries if e.name == name)
        elif observed is not None:
            for entry in here:
                for key, value in entry.expected.items():
                    if observed.get(key) != value:
                        problems.append(f"{name}: {key} {observed.get(key)!r}, expected {value!r}")
        if observed is None and not here:
            continue  # absent, as the catalogue says for this kernel
        unexpected += problems
        verdicts[name] = {"verdict": "unexpected" if problems else "as_expected", "source": sources,
                          "kernels": " ; ".join(e.kernels for e in here) or None}
    return {"knobs_new": new, "knobs_unexpected": unexpected, "knob_verdicts": verdicts}


def derive_observations(observations: dict, version: kernel.Version) -> dict:
    """The observations plus the knob-by-knob judgement; unchanged without a surface table."""
    surface = observations.get("surface")
    if not isinstance(surface, dict):
        return observations
    return {**observations, **judge(surface, version, load())}
