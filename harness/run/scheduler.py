"""When each case test runs: as many at once as their costs allow, longest first.

Most stories wait on the protocol (an RTO, the TIME_WAIT reuse delay, a
keepalive), so they all run together; a story that keeps a CPU busy (a
1000-attempt connect loop, port sampling) counts against the cores, and at
most as many of those as there are cores run at once. The longest stories
start first, so the run ends about when its longest story does.

What a story costs (wall seconds and CPU seconds, each test alone on an idle
machine) is measured by `ci/bench.py --costs` into harness/run/story_costs.json.
A test the table does not know counts as CPU-bound and long, so a new story
can slow a run down but never overload the machine.

Some stories observe kernel state that every namespace shares: the source
port a connect() picks comes from table_perturb, one table for the whole host
indexed by (saddr, daddr, dport) without the namespace. Two stories that
connect over the same (saddr, daddr, dport) at the same time move each
other's offsets: S1 stories of one variant share theirs (the service port on
the namespace's own address); each S2 test has a destination port of its own,
shared only with itself (the same test in two draws of --repeat, or in two
runs at once). Such stories hold a lock named after what they share: one at a
time in this run, and a file lock (flock) keeps other runs on this machine out.
"""
from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import pathlib
import sys
import threading
import time
from typing import Callable, TypeVar

from harness.run import processes

COSTS = pathlib.Path(__file__).resolve().parent / "story_costs.json"
LOCK_POLL_SECONDS = 0.05
LOCK_NOTICE_SECONDS = 5.0  # then say why a story has not started
# A story that keeps a core busy for at least this share of its wall time.
CPU_BOUND_SHARE = 0.5
# Open files and memory, not the CPU, bound the stories that wait: each holds
# a few namespaces, a capture ring and a process.
MAX_AT_ONCE = 128

LOCKS = pathlib.Path("/run/tcprepro/locks")


def kernel_global_lock(family: str, test_id: str, variant: str) -> str | None:
    """The lock a story holds for the kernel-global state it observes, or None."""
    if family == "S1":
        return f"port-offsets-S1-{variant}"
    if family == "S2":
        return "port-offsets-" + "".join(c if c.isalnum() else "_" for c in test_id)
    return None

T = TypeVar("T")
R = TypeVar("R")


@dataclasses.dataclass(frozen=True)
class Cost:
    seconds: float
    cpu_bound: bool
    exclusive: str | None = None  # a KERNEL_GLOBAL lock the story holds while it runs


UNKNOWN = Cost(seconds=float("inf"), cpu_bound=True)


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


def load_costs(path: pathlib.Path = COSTS) -> dict[str, Cost]:
    """The measured costs by test id; {} when there is no table (every test then counts as unknown)."""
    try:
        table = json.loads(path.read_text())["tests"]
    except (OSError, ValueError, KeyError):
        return {}
    return {test_id: Cost(m["seconds"], m["cpu_seconds"] >= CPU_BOUND_SHARE * max(m["seconds"], 1e-3))
            for test_id, m in table.items()}


def cores() -> int:
    """CPUs this process may run on (a CI container's cpuset, not the machine's)."""
    return len(os.sched_getaffinity(0))


def run(items: list[T], cost_of: Callable[[T], Cost], run_one: Callable[[T], R],
        on_result: Callable[[R], None] = lambda result: None, cpu_slots: int | None = None) -> list[R]:
    """Runs every item (run_one in a thread of its own), longest first, at most
    `cpu_slots` (default: the cores) CPU-bound ones at once. Returns the results
    in item order. On KeyboardInterrupt: starts nothing more, kills what runs
    (processes.kill_running), hands on what finished, and re-raises."""
    cpu_slots = cpu_slots or cores()
    waiting = sorted(range(len(items)), key=lambda i: -cost_of(items[i]).seconds)
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

    def next_startable() -> int | None:
        for position, index in enumerate(waiting):
            cost = cost_of(items[index])
            if (not cost.cpu_bound or busy["cpu"] < cpu_slots) and cost.exclusive not in held:
                return waiting.pop(position)
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
                cost = cost_of(items[index])
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
