"""--shard K/N: a deterministic split of one target's selected tests across N jobs.

Tests are dealt round-robin in the suite's own order (families S1, S2, ..., then
each program's test order), so shards are balanced in number and every shard of
the same checkout and selection picks the same tests on any machine.
"""
from __future__ import annotations

import re


class ShardError(ValueError):
    """A --shard value that is not K/N with 1 <= K <= N."""


def parse(text: str) -> tuple[int, int]:
    match = re.fullmatch(r"(\d+)/(\d+)", text.strip())
    if not match:
        raise ShardError(f"--shard {text}: expected K/N, e.g. 1/4 (job K of N)")
    k, n = int(match.group(1)), int(match.group(2))
    if not 1 <= k <= n:
        raise ShardError(f"--shard {text}: K must be between 1 and N")
    return k, n


def pick(text: str, ordered: list) -> list:
    """The items of shard K/N among `ordered`."""
    k, n = parse(text)
    return ordered[k - 1::n]
