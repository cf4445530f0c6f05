"""Kernel versions and version-range expressions used by the expectations.

The version an expectation is matched against is the *upstream* one. Debian's
`uname -r` ("6.1.0-50-amd64") hides the stable point release, which matters
because fixes are backported at point releases; Debian puts it in `uname -v`
("... Debian 6.1.153-1 (2025-09-20)"), so that wins when present.

Range grammar (examples in harness/scenarios/*.toml):
    expr  := conj ('|' conj)*          any of
    conj  := term ('&' term)*          all of
    term  := '!'? range                 negation
    range := cmp (',' cmp)*            all comparisons
    cmp   := ('>=' | '>' | '<=' | '<' | '==') version
"""
from __future__ import annotations

import dataclasses
import operator
import platform
import re

Version = tuple[int, ...]

_OPS = {">=": operator.ge, ">": operator.gt, "<=": operator.le, "<": operator.lt, "==": operator.eq}
_CMP = re.compile(r"^(>=|<=|==|>|<)\s*(\d+(?:\.\d+)*)$")


class RangeError(ValueError):
    """A malformed kernel range in the catalogue."""


def parse_version(text: str) -> Version:
    match = re.match(r"(\d+)\.(\d+)(?:\.(\d+))?", text)
    if not match:
        raise ValueError(f"not a kernel version: {text!r}")
    return tuple(int(part) for part in match.groups(default="0"))


def format_version(version: Version) -> str:
    return ".".join(str(part) for part in version)


@dataclasses.dataclass(frozen=True)
class KernelInfo:
    release: str  # uname -r
    version: str  # uname -v
    machine: str

    @property
    def upstream(self) -> Version:
        debian = re.search(r"Debian (\d+\.\d+(?:\.\d+)?)", self.version)
        return parse_version(debian.group(1) if debian else self.release)

    def to_json(self) -> dict:
        return {
            "release": self.release,
            "version": self.version,
            "upstream": format_version(self.upstream),
            "machine": self.machine,
        }


def running_kernel() -> KernelInfo:
    uname = platform.uname()
    return KernelInfo(release=uname.release, version=uname.version, machine=uname.machine)


def _compare(cmp: str, version: Version) -> bool:
    match = _CMP.match(cmp.strip())
    if not match:
        raise RangeError(f"bad comparison {cmp!r}: expected e.g. '>=6.1.110'")
    op, bound = match.groups()
    return _OPS[op](_pad(version), _pad(parse_version(bound)))


def _pad(version: Version) -> Version:
    return tuple(version) + (0,) * (3 - len(version))


def in_range(expr: str, version: Version) -> bool:
    """Whether `version` lies in the range expression `expr`."""
    if not expr.strip():
        raise RangeError("empty kernel range")

    def term(text: str) -> bool:
        text = text.strip()
        negate = text.startswith("!")
        result = all(_compare(cmp, version) for cmp in text.lstrip("!").split(","))
        return result != negate

    return any(all(term(t) for t in conj.split("&")) for conj in expr.split("|"))


def validate_range(expr: str) -> None:
    """Raises RangeError if `expr` does not parse."""
    in_range(expr, (0, 0, 0))
