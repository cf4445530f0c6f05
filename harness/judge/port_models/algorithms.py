"""Executable models of Linux's connect() source-port choice, one per era.

Each model is a small state machine written after the kernel code it names
(net/ipv4/inet_hashtables.c, __inet_hash_connect(), unless noted), in the
kernel's own u32 arithmetic. A model picks ports for connect() calls to
destinations (any hashable label) in a range [low, high]; `is_free(port, dest)`
says whether the 4-tuple is free, so the same model runs under any occupancy.

The per-destination hash (secure_*_port_ephemeral(saddr, daddr, dport), keyed
by a boot-time secret) and the kernel's random state are drawn from the
`random.Random` the model is given, so a seeded run is reproducible.

Not modelled: the 10-second re-salt of the hash (4dfa9b438ee3): a sequence
that crosses a 10 s boundary shows one jump, which the fit treats as noise.
"""
from __future__ import annotations

import random
from typing import Callable, Hashable

U32 = 0xFFFFFFFF

IsFree = Callable[[int, Hashable], bool]


class Model:
    """One algorithm. Subclasses implement pick()."""

    name = ""
    title = ""
    source = ""
    # connect() checks the whole 4-tuple (__inet_check_established), so a port in
    # use towards one destination is still free towards another.
    port_per_destination = True

    def __init__(self, low: int, high: int, rng: random.Random):
        if low > high:
            raise ValueError(f"empty range {low}..{high}")
        self.low, self.high, self.rng = low, high, rng
        self._hashes: dict[Hashable, int] = {}

    def port_offset(self, dest: Hashable) -> int:
        """The keyed hash of the destination: fixed per destination for the run."""
        if dest not in self._hashes:
            self._hashes[dest] = self.rng.getrandbits(64)
        return self._hashes[dest]

    def pick(self, dest: Hashable, is_free: IsFree) -> int | None:
        """The port connect() to `dest` gets, or None for EADDRNOTAVAIL."""
        raise NotImplementedError


class RandomStart(Model):
    """2.6: a random start, then a linear probe.

    2.6's inet_csk_get_port() (net/ipv4/inet_connection_sock.c) starts its search
    at "rover = net_random() % (high - low) + low". That is the bind(0) path; the
    claim this family tests (docs/scenarios.md, S2) presents it as 2.6's choice
    for outgoing connections, and so does this model.
    """

    name = "random_start"
    title = "2.6: random start, linear probe"
    source = "v2.6 inet_csk_get_port() (net/ipv4/inet_connection_sock.c): rover = net_random() % (high - low) + low"
    port_per_destination = False  # a bind-style search: a used port is used

    def pick(self, dest, is_free):
        remaining = self.high - self.low + 1
        port = self.rng.randrange(remaining) + self.low
        for _ in range(remaining):
            if is_free(port, dest):
                return port
            port = self.low if port >= self.high else port + 1
        return None


class HintSequential(Model):
    """3.x: one global hint plus the destination's hash; hint += i on success.

    __inet_hash_connect() of v3.10 (net/ipv4/inet_hashtables.c): offset = hint + port_offset;
    port = low + (i + offset) % remaining for i = 1..remaining; hint += i.
    """

    name = "hint_sequential"
    title = "3.x: global hint, step 1"
    source = "v3.10 __inet_hash_connect() (net/ipv4/inet_hashtables.c): static u32 hint; hint += i"

    def __init__(self, low, high, rng):
        super().__init__(low, high, rng)
        self.hint = 0  # static u32 hint: zero at boot

    def pick(self, dest, is_free):
        remaining = self.high - self.low + 1
        offset = (self.hint + (self.port_offset(dest) & U32)) & U32
        for i in range(1, remaining + 1):
            port = self.low + (i + offset) % remaining
            if is_free(port, dest):
                self.hint = (self.hint + i) & U32
                return port
        return None


class _ParityScan(Model):
    """The scan shared since 4.6: ports of @low parity first, then the others."""

    def _scan(self, offset: int, dest, is_free) -> tuple[int, int] | None:
        """(port, i) of the first free port from `offset`, as __inet_hash_connect walks."""
        high = self.high + 1
        remaining = high - self.low
        if remaining > 1:
            remaining &= ~1
        offset %= remaining
        offset &= ~1
        while True:
            port = self.low + offset
            for i in range(0, remaining, 2):
                if port >= high:
                    port -= remaining
                if is_free(port, dest):
                    return port, i
                port += 2
            offset += 1
            if not ((offset & 1) and remaining > 1):
                return None


class ParitySplit(_ParityScan):
    """4.6-5.11: the global hint, connect() scans ports of @low parity first, hint += i + 2."""

    name = "parity_split"
    title = "4.6: global hint, even ports first, step 2"
    source = "1580ab63fc9a tcp/dccp: better use of ephemeral ports in connect() (v4.6)"

    def __init__(self, low, high, rng):
        super().__init__(low, high, rng)
        self.hint = 0

    def pick(self, dest, is_free):
        found = self._scan((self.hint + (self.port_offset(dest) & U32)) & U32, dest, is_free)
        if found is None:
            return None
        port, i = found
        self.hint = (self.hint + i + 2) & U32
        return port


class PerturbTable(_ParityScan):
    """5.12-5.17: RFC 6056 algorithm 4, table_perturb[256] indexed by hash_32(port_offset, 8),
    += i + 2; and, from the same release, when the first candidate was free (i == 0), one
    connect in 16 skips the next candidate: i = 2, so the step is +4 (the exact-+2 share of
    one destination's steps is 15/16 = 0.9375).

    The stable backports to 5.10.119 and 5.4.197 took 190cc82489f4 without c579bd1b4021
    (it came with the 2022 series, in 5.10.125 and 5.4.201): their steps are all +2, which
    this model scores as nearly as well as parity_split's.
    """

    name = "perturb_table"
    title = "5.12: per-destination table (256), step 2 (+4 one time in 16)"
    source = ("190cc82489f4 tcp: change source port randomizarion at connect() time; c579bd1b4021 tcp: add "
              "some entropy in __inet_hash_connect() (v5.12)")
    table_size = 256

    def __init__(self, low, high, rng):
        super().__init__(low, high, rng)
        self.table: dict[int, int] = {}  # net_get_random_once(): random at first use
        self._index: dict = {}

    def _slot(self, dest) -> int:
        # hash_32() of the 32-bit hash: any fixed, well-mixed function of the destination.
        if dest not in self._index:
            self._index[dest] = self.rng.randrange(self.table_size)
        slot = self._index[dest]
        if slot not in self.table:
            self.table[slot] = self.rng.getrandbits(32)
        return slot

    def pick(self, dest, is_free):
        slot = self._slot(dest)
        found = self._scan((self.table[slot] + (self.port_offset(dest) & U32)) & U32, dest, is_free)
        if found is None:
            return None
        port, i = found
        self.table[slot] = (self.table[slot] + self._increment(i)) & U32
        return port

    def _increment(self, i: int) -> int:
        if i == 0 and self.rng.randrange(16) == 0:  # if (!i && !(prandom_u32() % 16)) i = 2;
            i = 2
        return i + 2


class RandomIncrement(PerturbTable):
    """2022 (5.18; stable 5.17.9, 5.15.41, 5.10.125, 5.4.201): table of 2^16, the
    index and the offset from different halves of a 64-bit hash, and a random
    increment: i = max(i, prandom(0..7) * 2); table += i + 2.
    """

    name = "random_increment"
    title = "5.18: per-destination table (2^16), random step 2..16"
    source = ("ca7af0402550 tcp: add small random increments to the source port; 4c2c8f03a5ab tcp: increase "
              "source port perturb table to 2^16; 9e9b70ae923b tcp: use different parts of the port_offset for "
              "index and offset (v5.18)")
    table_size = 1 << 16

    def pick(self, dest, is_free):
        offset_hash = self.port_offset(dest)
        slot = offset_hash & (self.table_size - 1)
        if slot not in self.table:
            self.table[slot] = self.rng.getrandbits(32)
        found = self._scan((self.table[slot] + (offset_hash >> 32)) & U32, dest, is_free)
        if found is None:
            return None
        port, i = found
        i = max(i, self.rng.randrange(8) * 2)
        self.table[slot] = (self.table[slot] + i + 2) & U32
        return port


MODELS: dict[str, type[Model]] = {
    model.name: model for model in (RandomStart, HintSequential, ParitySplit, PerturbTable, RandomIncrement)
}
