"""Which observations a report cell shows, and which of them are compared between kernels.

A cell shows the scenario's key observations (the catalogue's `key_observations`,
copied into every result). They are of two kinds:

- *behaviour*: an errno, a state, a handshake, a counter delta, a flag. Equal on
  every run of one kernel, so a different value on another kernel is a finding.
- *measured*: a timing, a ratio, a sample of ports, a count of retries. These vary
  from run to run; they are shown, never compared (their bounds are judged by the
  expectation verdict, which is compared).

Results carry no variance, so "measured" is read from what does not change
between runs: a name that says time, a fractional number, a long list of numbers,
or an observation an expectation bounds by min/max (`bounded` in the result's
applied expectations). Results written before `bounded` existed fall back on
numbers that differ between variants of the scenario on one kernel (the noise of
a random draw) — a rule that can decide differently in two runs of the same
kernels, which the headline must not (reports/headline.py).
"""

import re
from numbers import Number

from .expectations import applied_expectations

TIMING = re.compile(r"(_ms|_us|_ns|_seconds|_secs?|_s)$|elapsed|duration|rtt|latency", re.IGNORECASE)
MAX_BEHAVIOUR_LIST = 16  # longer lists of numbers are samples (a port sequence), not a behaviour


def is_timing(key: str) -> bool:
    return bool(TIMING.search(key))


def key_names(results: list[dict]) -> list[str]:
    """The key observations the results declare; every observation when none declares any
    (results written before key_observations existed)."""
    declared = [key for result in results for key in result.get("key_observations") or []]
    if declared:
        return list(dict.fromkeys(declared))
    return list(dict.fromkeys(key for result in results for key in result.get("observations") or {}))


def measured_keys(keys: list[str], per_kernel: list[list[dict]]) -> set[str]:
    """The keys among keys that are measurements, given each kernel's passed results (one per variant)."""
    return {key for key in keys if _is_measured(key, per_kernel)}


def _is_measured(key: str, per_kernel: list[list[dict]]) -> bool:
    if is_timing(key):
        return True
    applied = [a for results in per_kernel for result in results for a in applied_expectations(result)]
    if any(a.bounded and key in a.bounded for a in applied):
        return True
    recorded = any(a.bounded is not None for a in applied)
    for results in per_kernel:
        values = [(result.get("observations") or {})[key] for result in results
                  if key in (result.get("observations") or {})]
        if any(_fractional(value) or _sample(value) for value in values):
            return True
        numbers = {value for value in values if _number(value)}
        if not recorded and len(numbers) > 1:  # variants of one kernel disagree: run-to-run noise
            return True
    return False


def _number(value) -> bool:
    return isinstance(value, Number) and not isinstance(value, bool)


def _fractional(value) -> bool:
    return isinstance(value, float)


def _sample(value) -> bool:
    return isinstance(value, list) and len(value) > MAX_BEHAVIOUR_LIST and all(_number(v) for v in value)
