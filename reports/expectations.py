"""The expectations that applied to a result, as the report cites them.

A result's `expectation.applied` lists one {kernels, source, observations} per
expectation of the catalogue that matched its kernel (harness/RESULTS.md).
Results written before that field existed carry only the joined strings
`expectation.kernels` (" ; ") and `expectation.source` (" | "); they are split
back apart, and the observations those expectations constrain are then unknown.
"""

import re
from dataclasses import dataclass

KERNELS_JOIN, SOURCE_JOIN = " ; ", " | "
# "<commit> <subject> (<versions>): <why>" -> "<commit> <subject> (<versions>)"
COMMIT_HEADLINE = re.compile(r"^([0-9a-f]{7,40} .*?\))(?=:\s|$)")
MAX_HEADLINE = 140


@dataclass(frozen=True)
class Applied:
    kernels: str
    source: str
    observations: frozenset[str] | None  # None: not recorded (results older than 'applied')
    when: tuple[tuple[str, str], ...] = ()  # the sysctl values it depends on (a configuration)
    bounded: frozenset[str] | None = None  # the observations it bounds by min/max; None: not recorded

    @property
    def identity(self) -> tuple:
        # The same expectation seen from two kernels (or two runs of one catalogue).
        return self.kernels, self.source, self.when

    @property
    def condition(self) -> str:
        """"with net.ipv4.tcp_timestamps=0:" for an expectation that depends on sysctl values."""
        return "with " + ", ".join(f"{k}={v}" for k, v in self.when) + ":" if self.when else ""

    @property
    def headline(self) -> str:
        return (self.condition + " " if self.condition else "") + headline(self.source)

    def constrains_any(self, keys) -> bool:
        """Whether it constrains one of keys; an unrecorded list might, so it counts."""
        return self.observations is None or bool(self.observations & set(keys))


def applied_expectations(result: dict) -> list[Applied]:
    expectation = result.get("expectation") or {}
    applied = expectation.get("applied")
    if isinstance(applied, list):
        return [
            Applied(str(entry.get("kernels") or ""), str(entry.get("source") or ""),
                    frozenset(entry.get("observations") or ()),
                    tuple(sorted((str(k), str(v)) for k, v in (entry.get("when") or {}).items())),
                    frozenset(entry["bounded"]) if isinstance(entry.get("bounded"), list) else None)
            for entry in applied if isinstance(entry, dict)
        ]
    return _from_joined(expectation.get("kernels"), expectation.get("source"))


def _from_joined(kernels, source) -> list[Applied]:
    if not kernels and not source:
        return []
    ranges = str(kernels or "").split(KERNELS_JOIN)
    sources = str(source or "").split(SOURCE_JOIN)
    if len(ranges) != len(sources):  # a source that itself held " | ": keep the whole as one
        return [Applied(str(kernels or ""), str(source or ""), None)]
    return [Applied(r, s, None) for r, s in zip(ranges, sources)]


def headline(source: str) -> str:
    """The part of a source worth a table cell: the commit and subject, or its first sentence."""
    match = COMMIT_HEADLINE.match(source)
    text = match.group(1) if match else source.split(". ")[0]
    return text if len(text) <= MAX_HEADLINE else text[: MAX_HEADLINE - 1] + "…"
