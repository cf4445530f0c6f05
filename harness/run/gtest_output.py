"""What a GoogleTest program prints, read in one place: its test listing and its results.

Results are read from the program's own output, line by line, whether it ran
one test or a batch: a test's result is known the moment its closing line is
printed, so a guest that hangs later still returns it.
"""
from __future__ import annotations

import dataclasses
import re

# "[       OK ] S1/SelfConnect.S1a/ipv4_loopback (12 ms)", likewise SKIPPED; a failed
# parameterised test says "[  FAILED  ] S1/SelfConnect.S1a/ipv4_loopback, where GetParam() = ... (12 ms)".
_RESULT_LINE = re.compile(r"\[ {2}( {5}OK|FAILED |SKIPPED) \] ([^\s,]+)(?:, where .*)? \((\d+) ms\)$")
_RUN_LINE = "[ RUN      ] "


def parse_listing(text: str) -> list[str]:
    """Full names ("Prefix/Suite.Test/param", "Suite.Test") from `--gtest_list_tests` output."""
    names, suite = [], ""
    for line in text.splitlines():
        if not line.strip() or line.startswith("Running main()"):
            continue
        if not line.startswith(" "):
            suite = line.split("#")[0].strip()
        else:
            names.append(suite + line.split("#")[0].strip())
    return names


@dataclasses.dataclass(frozen=True)
class TestEnd:
    name: str  # full gtest name
    verdict: str  # OK | FAILED | SKIPPED
    milliseconds: int
    lines: list[str]  # the test's output from its RUN line through its result line

    @property
    def failure(self) -> str | None:
        """What gtest printed between RUN and FAILED (the assertion and its message)."""
        if self.verdict != "FAILED":
            return None
        return "".join(self.lines[1:-1]).strip() or "failed"


class ResultReader:
    """Fed a program's output line by line; returns a TestEnd for each line that ends a test."""

    def __init__(self):
        self._section: list[str] = []

    def feed(self, line: str) -> TestEnd | None:
        if line.startswith(_RUN_LINE):
            self._section = []
        self._section.append(line)
        ended = _RESULT_LINE.match(line)
        if not ended:
            return None
        return TestEnd(ended.group(2), ended.group(1).strip(), int(ended.group(3)), list(self._section))


def read_results(text: str) -> dict[str, TestEnd]:
    """Every finished test in a complete output, by full name."""
    reader = ResultReader()
    ends = (reader.feed(line) for line in text.splitlines(keepends=True))
    return {end.name: end for end in ends if end}
