"""Steps of a port sequence: what consecutive connects to one destination did.

A step is the forward distance, within the range, from one port of a
destination to the next port of the same destination (so a wrap-around past
the top of the range is a small step, not a negative one), together with the
gap: how many connects to other destinations came in between. The gap is what
tells a shared hint (steps grow with it) from a per-destination table.
"""
from __future__ import annotations

import dataclasses
from typing import Hashable, Sequence


@dataclasses.dataclass(frozen=True)
class Step:
    delta: int  # forward distance in the range, 0..size-1
    gap: int  # connects to other destinations in between
    wrapped: bool  # the port went past the top of the range and came back from the bottom


def steps(ports: Sequence[int | None], schedule: Sequence[Hashable], low: int, high: int) -> list[Step]:
    """Every step of every destination, in the order the later connect happened.

    A None (a connect that got no port) breaks the destination's chain.
    """
    size = high - low + 1
    last: dict[Hashable, tuple[int, int]] = {}  # dest -> (index, port)
    out = []
    for index, (port, dest) in enumerate(zip(ports, schedule)):
        if port is None:
            last.pop(dest, None)
            continue
        if dest in last:
            previous_index, previous = last[dest]
            out.append(Step((port - previous) % size, index - previous_index - 1, port < previous))
        last[dest] = (index, port)
    return out


def summary(ports: Sequence[int], schedule: Sequence[Hashable], low: int, high: int) -> dict:
    """Observations derived from a sequence (names as they appear in results.json)."""
    found = steps(ports, schedule, low, high)
    deltas = [s.delta for s in found]
    out = {
        "even_port_share": _share(ports, lambda p: p % 2 == 0),
        "start_offset_fraction": round((ports[0] - low) / (high - low + 1), 4) if ports else None,
        "wraps": sum(s.wrapped for s in found),
    }
    if not deltas:
        return out
    out.update({
        "delta_min": min(deltas),
        "delta_max": max(deltas),
        "delta_mean": round(sum(deltas) / len(deltas), 3),
        "distinct_deltas": len(set(deltas)),
        "share_deltas_exactly_1": _share(deltas, lambda d: d == 1),
        "share_deltas_exactly_2": _share(deltas, lambda d: d == 2),
        "share_deltas_even_2_to_16": _share(deltas, lambda d: d % 2 == 0 and 2 <= d <= 16),
        "share_deltas_at_most_16": _share(deltas, lambda d: 1 <= d <= 16),
    })
    back_to_back = [s.delta for s in found if s.gap == 0]
    interleaved = [s.delta for s in found if s.gap > 0]
    if back_to_back and interleaved:
        alone, mixed = sum(back_to_back) / len(back_to_back), sum(interleaved) / len(interleaved)
        out.update({
            "mean_delta_back_to_back": round(alone, 3),
            "mean_delta_interleaved": round(mixed, 3),
            "interleaving_ratio": round(mixed / alone, 3) if alone else None,
        })
    return out


# Parity shares judged by the S2 catalogue, each from a port list a case
# program records as it came: name -> (recorded list, parity counted, how many
# of its first ports).
PARITY_SHARES = {
    "connect_even_share": ("connect_ports", 0, None),
    "bind0_odd_share": ("bind0_ports", 1, None),
    "bind_no_port_connect_even_share": ("bind_no_port_connect_ports", 0, None),
    "connect_odd_share_with_odd_low": ("connect_ports_with_odd_low", 1, None),
    "outgoing_odd_share_first_16": ("outgoing_ports_head", 1, 16),
}


def parity_shares(observations: dict) -> dict:
    """The PARITY_SHARES whose port list was recorded."""
    out = {}
    for name, (recorded, parity, first) in PARITY_SHARES.items():
        ports = observations.get(recorded)
        if isinstance(ports, list):
            out[name] = _share(ports[:first], lambda p, parity=parity: p % 2 == parity)
    return out


def _share(values, predicate) -> float:
    values = list(values)
    return round(sum(1 for v in values if predicate(v)) / len(values), 4) if values else 0.0
