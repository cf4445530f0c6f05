"""Running a model under the conditions a scenario created.

Conditions are what the case program controlled: the range, the order of
destinations, whether each connection is held (its 4-tuple stays taken) or
released at once (a refused connect, or a reset), reserved ports, and ports
held by explicit bind() (skipped by connect() whatever the destination).
"""
from __future__ import annotations

import dataclasses
import random
from typing import Hashable, Sequence

from harness.judge.port_models.algorithms import MODELS, Model


@dataclasses.dataclass(frozen=True)
class Conditions:
    low: int
    high: int
    schedule: Sequence[Hashable]  # the destination of each connect(), in order
    hold: bool = False  # connections stay open: their 4-tuples remain taken
    reserved: frozenset = frozenset()  # ip_local_reserved_ports
    bound: frozenset = frozenset()  # ports held by explicit bind(): connect() skips them

    @property
    def size(self) -> int:
        return self.high - self.low + 1


def simulate(model: str | Model, conditions: Conditions, rng: random.Random | None = None) -> list[int | None]:
    """The port of each connect() in the schedule (None for EADDRNOTAVAIL)."""
    rng = rng or random.Random()
    instance = model if isinstance(model, Model) else MODELS[model](conditions.low, conditions.high, rng)
    taken: set[tuple[int, Hashable]] = set()
    taken_ports: set[int] = set()

    def is_free(port: int, dest: Hashable) -> bool:
        if port in conditions.reserved or port in conditions.bound:
            return False
        if instance.port_per_destination:
            return (port, dest) not in taken
        return port not in taken_ports

    ports = []
    for dest in conditions.schedule:
        port = instance.pick(dest, is_free)
        if port is not None and conditions.hold:
            taken.add((port, dest))
            taken_ports.add(port)
        ports.append(port)
    return ports
