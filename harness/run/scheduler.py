"""When each case test runs: as many at once as their costs allow, the critical path first.

Most stories wait on the protocol (an RTO, the TIME_WAIT reuse delay, a
keepalive), so they all run together; a story that keeps a CPU busy (a
1000-attempt connect loop, port sampling) counts against the cores, and at
most as many of those as there are cores run at once.

What a story costs comes from the one table, harness/run/story_costs.py (measured
by `ci/bench.py --costs`; a story it does not know runs with the default stated
there). What kernel-global state it shares comes from the catalogue (`shares`,
docs/catalogue.md): stories sharing one instance hold a lock named after it, one
at a time in this run, and a file lock (flock) keeps other runs on this machine
out. Such stories form a chain whose length is their sum, so the next story to
start is the one with the longest work behind it: a chain's member counts as the
chain's remaining total (longest member first), any other story as itself. The
run then ends about when its critical path does, not when a chain of short
stories started last does.
"""
from __future__ import annotations

import contextlib
import fcntl
import os
import pathlib
import sys
import threading
import time
from typing import Callable, TypeVar

from harness.run import processes
from harness.run.story_costs import Cost

LOCK_POLL_SECONDS = 0.05
LOCK_NOTICE_SECONDS = 5.0  # then say why a story has not started
# Open files and memory, not the CPU, bound the stories that wait: each holds
# a few namespaces, a capture ring and a process.
MAX_AT_ONCE = 128

LOCKS = pathlib.Path("/run/tcprepro/locks")


def lock_of(test) -> str | None:
    """The lock a case test holds for the kernel-global state it shares (catalogue `shares`), or None."""
    shares = test.scenario.shares
    return shares.lock(test.scenario.family, test.id, test.variant_name) if shares else None


T = TypeVar("T")
R = TypeVar("R")


@contextlib.contextmanager
def machine_lock(name: str | None):
    """Holds /run/tcprepro/locks/<name>.lock (flock) for other runs on this machine."""
    if name is None:
        yield
        return
    LOCKS.mkdir(parents=True, exist_ok=True)
    with open(LOCKS / f"{name}.lock", "a") as lock:
        # Polled, not blocking: an interrupt must not wait for another run to let go.
        waited = 0.0
        while True:
            try:
                fcntl.flock(lock, fcntl.LOCK_EX | fcntl.LOCK_NB)  # released when the file closes, or the process dies
                break
            except BlockingIOError:
                if processes.stopping():
                    raise processes.Interrupted() from None
                if waited == LOCK_NOTICE_SECONDS:
                    print(f"tcprepro: waiting for another run on this machine to release {lock.name}",
                          file=sys.stderr, flush=True)
                time.sleep(LOCK_POLL_SECONDS)
                waited = round(waited + LOCK_POLL_SECONDS, 3)
        yield


def cores() -> int:
    """CPUs this process may run on (a CI container's cpuset, not the machine's)."""
    return len(os.sched_getaffinity(0))


def run(items: list[T], cost_of: Callable[[T], Cost], run_one: Callable[[T], R],
        on_result: Callable[[R], None] = lambda result: None, cpu_slots: int | None = None) -> list[R]:
    """Runs every item (run_one in a thread of its own), the longest work first
    (a chain of items sharing a lock counts as its remaining total), at most
    `cpu_slots` (default: the cores) CPU-bound ones at once. Returns the results
    in item order. On KeyboardInterrupt: starts nothing more, kills what runs
    (processes.kill_running), hands on what finished, and re-raises."""
    cpu_slots = cpu_slots or cores()
    costs = [cost_of(item) for item in items]
    waiting = list(range(len(items)))
    chain_left: dict[str, float] = {}  # seconds of the waiting items of each lock
    for cost in costs:
        if cost.exclusive:
            chain_left[cost.exclusive] = chain_left.get(cost.exclusive, 0.0) + cost.seconds
    results: dict[int, R] = {}
    busy = {"all": 0, "cpu": 0}
    held: set[str] = set()  # exclusive locks a running item of this run holds
    changed = threading.Condition()
    errors: list[BaseException] = []

    def worker(index: int, cost: Cost) -> None:
        try:
            with machine_lock(cost.exclusive):
                result = run_one(items[index])
            if processes.stopping():  # killed by the interrupt: not a result
                return
            with changed:
                results[index] = result
            on_result(result)
        except processes.Interrupted:
            pass
        except BaseException as error:  # reported in the main thread
            errors.append(error)
        finally:
            with changed:
                busy["all"] -= 1
                busy["cpu"] -= cost.cpu_bound
                held.discard(cost.exclusive)
                changed.notify()

    def priority(index: int) -> tuple[float, float]:
        cost = costs[index]
        return (chain_left[cost.exclusive] if cost.exclusive else cost.seconds), cost.seconds

    def next_startable() -> int | None:
        for index in sorted(waiting, key=priority, reverse=True):
            cost = costs[index]
            if (not cost.cpu_bound or busy["cpu"] < cpu_slots) and cost.exclusive not in held:
                waiting.remove(index)
                if cost.exclusive:
                    chain_left[cost.exclusive] -= cost.seconds
                return index
        return None

    threads = []
    try:
        with changed:
            while waiting or busy["all"]:
                index = next_startable() if busy["all"] < MAX_AT_ONCE and not errors else None
                if index is None:
                    if errors and not busy["all"]:
                        break
                    changed.wait()
                    continue
                cost = costs[index]
                busy["all"] += 1
                busy["cpu"] += cost.cpu_bound
                if cost.exclusive:
                    held.add(cost.exclusive)
                thread = threading.Thread(target=worker, args=(index, cost), daemon=True)
                threads.append(thread)
                thread.start()
    except KeyboardInterrupt:
        processes.kill_running()
        for thread in threads:
            thread.join()
        raise
    if errors:
        raise errors[0]
    return [results[i] for i in range(len(items)) if i in results]
