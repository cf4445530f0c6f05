"""The bisection itself, pure: ordered steps, verdicts, the next step to take, the answer.

Step 0 is GOOD and the last step is BAD; both are judged first (they must differ).
Between them the next step is the one git bisect would take: the middle of the range
that is still open (after the last good step, before the first bad one), and, when that
step was skipped, the closest step to the middle that was not. A step is
    good  its draws all behave as GOOD did
    bad   its draws all behave otherwise
    skip  it gave no answer: did not build, boot or run
    weak  its draws disagreed, also after drawing more (treated as a skip; its values are kept)
"""
from __future__ import annotations

import dataclasses

GOOD, BAD, SKIP, WEAK = "good", "bad", "skip", "weak"
VERDICTS = (GOOD, BAD, SKIP, WEAK)


@dataclasses.dataclass(frozen=True)
class Outcome:
    status: str  # "found" | "inconclusive" | "open"
    last_good: int
    first_bad: int
    # Inconclusive: every step that may be the first bad one (skipped or weak ones, and first_bad).
    candidates: tuple[int, ...] = ()


class Bisection:
    def __init__(self, count: int, verdicts: dict[int, str] | None = None):
        if count < 2:
            raise ValueError("a bisection needs GOOD and BAD")
        self.count = count
        self.verdicts: dict[int, str] = {}
        for index, verdict in (verdicts or {}).items():
            self.record(int(index), verdict)

    def record(self, index: int, verdict: str) -> None:
        if verdict not in VERDICTS:
            raise ValueError(f"unknown verdict {verdict!r}")
        if not 0 <= index < self.count:
            raise ValueError(f"step {index} is outside 0..{self.count - 1}")
        self.verdicts[index] = verdict

    def range(self) -> tuple[int, int]:
        """(last good, first bad) as far as known: the first bad step after the last good one."""
        goods = [i for i, v in self.verdicts.items() if v == GOOD]
        last_good = max(goods, default=0)
        bads = [i for i, v in self.verdicts.items() if v == BAD and i > last_good]
        return last_good, min(bads, default=self.count - 1)

    def ends_pending(self) -> list[int]:
        """GOOD and BAD are judged before any step between them."""
        return [i for i in (0, self.count - 1) if i not in self.verdicts]

    def next_step(self) -> int | None:
        """The step to judge next, None when the answer is known (or cannot be)."""
        pending = self.ends_pending()
        if pending:
            return pending[0]
        low, high = self.range()
        open_steps = [i for i in range(low + 1, high) if i not in self.verdicts]
        if not open_steps:
            return None
        middle = (low + high) / 2
        # Closest to the middle; of two as close, the lower (git's order is no better).
        return min(open_steps, key=lambda i: (abs(i - middle), i))

    def steps_left(self) -> int:
        """About how many more steps: log2 of what is still open, rounded up."""
        if self.ends_pending():
            return len(self.ends_pending()) + max(0, self.count - 2).bit_length()
        low, high = self.range()
        open_count = sum(1 for i in range(low + 1, high) if i not in self.verdicts)
        return open_count.bit_length()

    def outcome(self) -> Outcome:
        low, high = self.range()
        if self.next_step() is not None:
            return Outcome("open", low, high)
        between = tuple(i for i in range(low + 1, high) if self.verdicts.get(i) in (SKIP, WEAK))
        if between:
            return Outcome("inconclusive", low, high, between + (high,))
        return Outcome("found", low, high)
