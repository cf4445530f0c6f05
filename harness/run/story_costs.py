"""What each story costs: the one table of measured wall and CPU seconds.

harness/run/story_costs.json is written by `ci/bench.py --costs` (the host) and
`ci/bench.py --costs --kernel SPEC` (inside a guest of that kernel series, where
a story's cost is not the host's: process starts, `tc` and timers cost far more
under TCG). The host's scheduler reads the host table; a guest's lane plan reads
its kernel series' table ("6.1"), or the host's when that series was never
measured.

A story the table does not know runs with the stated default: CPU-bound, and as
long as the longest measured story of the table (DEFAULT_SECONDS when the
table is empty), so a new story starts early and never overloads the machine.
"""
from __future__ import annotations

import dataclasses
import json
import pathlib

TABLE = pathlib.Path(__file__).resolve().parent / "story_costs.json"
# A story that keeps a core busy for at least this share of its wall time is CPU-bound.
CPU_BOUND_SHARE = 0.5
DEFAULT_SECONDS = 60.0


@dataclasses.dataclass(frozen=True)
class Cost:
    seconds: float
    cpu_bound: bool
    exclusive: str | None = None  # a lock for kernel-global state the story holds while it runs


@dataclasses.dataclass(frozen=True)
class Costs:
    """The measured costs of one table (the host's, or one kernel series' in a guest)."""
    measured: dict[str, Cost]
    where: str  # "host", "guest 6.1"

    @property
    def default(self) -> Cost:
        longest = max((cost.seconds for cost in self.measured.values()), default=DEFAULT_SECONDS)
        return Cost(longest, cpu_bound=True)

    def of(self, test_id: str) -> Cost:
        return self.measured.get(test_id) or self.default

    def unmeasured(self, test_ids: list[str]) -> list[str]:
        return [test_id for test_id in test_ids if test_id not in self.measured]


def series(version: tuple[int, ...]) -> str:
    """A kernel's series, the key of its guest table: (6, 1, 192) -> "6.1"."""
    return ".".join(map(str, version[:2]))


def _costs(tests: dict) -> dict[str, Cost]:
    return {test_id: Cost(m["seconds"], m["cpu_seconds"] >= CPU_BOUND_SHARE * max(m["seconds"], 1e-3))
            for test_id, m in tests.items()}


def read(path: pathlib.Path = TABLE) -> dict:
    try:
        return json.loads(path.read_text())
    except (OSError, ValueError):
        return {}


def load(kernel_series: str | None = None, path: pathlib.Path = TABLE) -> Costs:
    """The table for the host (kernel_series None) or for a guest of that series,
    falling back to the host's; an empty table when there is none."""
    document = read(path)
    guest = (document.get("guests") or {}).get(kernel_series or "")
    if guest:
        return Costs(_costs(guest["tests"]), f"guest {kernel_series}")
    return Costs(_costs(document.get("tests") or {}), "host")


def write(tests: dict[str, dict], how: str, measured: str, kernel_series: str | None = None,
          machine: str | None = None, path: pathlib.Path = TABLE) -> None:
    """Stores one measurement: the host's table, or one series' guest table, keeping the others."""
    document = read(path)
    block = {"measured": measured, "how": how, "tests": tests, **({"machine": machine} if machine else {})}
    if kernel_series is None:
        document.update(block)
    else:
        document.setdefault("guests", {})[kernel_series] = block
    path.write_text(json.dumps(document, indent=1, sort_keys=True) + "\n")
