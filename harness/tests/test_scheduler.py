"""The scheduler, the guest's lane plan and the repeats block, on stand-in work."""
import pathlib
import threading
import time

import pytest

from harness.run import cases, scheduler
from harness.targets import guest
from harness.judge import repeats


def test_waiting_items_run_together_cpu_bound_ones_up_to_the_slots():
    running = {"all": 0, "cpu": 0, "max_all": 0, "max_cpu": 0}
    lock = threading.Lock()
    items = [("wait", i) for i in range(20)] + [("cpu", i) for i in range(6)]
    all_waiting = threading.Barrier(20, timeout=20)  # passes only if all 20 run at once

    def cost_of(item):
        return scheduler.Cost(seconds=1.0, cpu_bound=item[0] == "cpu")

    def run_one(item):
        with lock:
            running["all"] += 1
            running["cpu"] += item[0] == "cpu"
            running["max_all"] = max(running["max_all"], running["all"])
            running["max_cpu"] = max(running["max_cpu"], running["cpu"])
        if item[0] == "wait":
            all_waiting.wait()
        else:
            time.sleep(0.05)
        with lock:
            running["all"] -= 1
            running["cpu"] -= item[0] == "cpu"
        return item

    results = scheduler.run(items, cost_of, run_one, cpu_slots=2)
    assert results == items  # in item order
    assert running["max_cpu"] == 2
    assert running["max_all"] >= 20  # every waiting item at once


def test_longest_first():
    started = []
    costs = {"a": scheduler.Cost(1, True), "b": scheduler.Cost(3, True), "c": scheduler.Cost(2, True)}
    # One CPU slot: items start one after the other, in the scheduler's order.
    scheduler.run(["a", "b", "c"], costs.__getitem__, started.append, cpu_slots=1)
    assert started == ["b", "c", "a"]


def test_items_sharing_a_lock_never_overlap(tmp_path, monkeypatch):
    monkeypatch.setattr(scheduler, "LOCKS", tmp_path)
    active, overlap = set(), []
    lock = threading.Lock()
    costs = {name: scheduler.Cost(1, False, "x" if name < "d" else None) for name in "abcdef"}

    def run_one(name):
        with lock:
            if costs[name].exclusive and costs[name].exclusive in active:
                overlap.append(name)
            active.add(costs[name].exclusive)
        time.sleep(0.02)
        with lock:
            active.discard(costs[name].exclusive)
        return name

    assert scheduler.run(list("abcdef"), costs.__getitem__, run_one) == list("abcdef")
    assert not overlap
    assert (tmp_path / "x.lock").exists()  # the machine-wide half of the lock


def test_unknown_tests_count_as_cpu_bound_and_long(tmp_path):
    (tmp_path / "costs.json").write_text('{"tests": {"t1": {"seconds": 2.0, "cpu_seconds": 1.5},'
                                         ' "t2": {"seconds": 3.0, "cpu_seconds": 0.1}}}')
    costs = scheduler.load_costs(tmp_path / "costs.json")
    assert costs["t1"].cpu_bound and not costs["t2"].cpu_bound
    assert scheduler.UNKNOWN.cpu_bound and scheduler.UNKNOWN.seconds > 1e9


def test_an_error_in_one_item_is_raised_after_the_others_end():
    def run_one(item):
        if item == 2:
            raise RuntimeError("boom")
        return item

    with pytest.raises(RuntimeError, match="boom"):
        scheduler.run([1, 2, 3], lambda i: scheduler.Cost(1, False), run_one)


def test_lane_plan_balances_measured_work():
    class Scenario:
        family = "S9"
        id = "S9a"
    tests = [cases.CaseTest(f"T.t{i}", pathlib.Path(f"/b/{i % 2}"), Scenario(), f"v{i}") for i in range(8)]
    seconds = [8, 1, 1, 1, 1, 1, 1, 2]
    costs = {t.id: scheduler.Cost(s, False) for t, s in zip(tests, seconds)}
    lanes = guest.lane_plan(tests, 2, costs)
    work = [sum(costs[t.id].seconds for batch in lane for t in batch) for lane in lanes]
    assert sorted(work) == [8, 8]
    assert all(len({t.binary for t in batch}) == 1 for lane in lanes for batch in lane)


def _entry(verdict, mismatched=(), **observations):
    return {"outcome": "passed", "observations": observations,
            "expectation": {"verdict": verdict, "applied": [{"observations": ["wait_ms", "reused"]}],
                            "mismatches": [{"observation": m} for m in mismatched]}}


def test_repeats_tell_a_varying_value_from_a_varying_verdict():
    steady = repeats.block([_entry("as_expected", wait_ms=950, reused=True, port=1),
                            _entry("as_expected", wait_ms=990, reused=True, port=7)])
    assert steady["stable"]
    assert steady["observations"]["wait_ms"] == {"stable": False, "values": [950, 990], "judged": True,
                                                 "judgement_stable": True}
    assert steady["observations"]["port"] == {"stable": False, "values": [1, 7]}
    assert steady["observations"]["reused"]["value"] is True
    flipping = repeats.block([_entry("as_expected", wait_ms=950, reused=True),
                              _entry("unexpected", ["wait_ms"], wait_ms=400, reused=True)])
    assert not flipping["stable"]
    assert "wait_ms [950, 400]" in repeats.unstable_text(flipping)


def test_an_interrupt_does_not_wait_for_another_runs_lock(tmp_path, monkeypatch):
    """Another run on the machine holds the lock; Ctrl-C must still end this one at once."""
    import fcntl
    import subprocess
    from harness.run import processes
    monkeypatch.setattr(scheduler, "LOCKS", tmp_path)
    holder = subprocess.Popen(["flock", str(tmp_path / "S1.lock"), "sleep", "30"])
    try:
        deadline = time.monotonic() + 5
        with open(tmp_path / "S1.lock", "a") as probe:  # wait until the other run really holds it
            while time.monotonic() < deadline:
                try:
                    fcntl.flock(probe, fcntl.LOCK_EX | fcntl.LOCK_NB)
                    fcntl.flock(probe, fcntl.LOCK_UN)
                    time.sleep(0.01)
                except BlockingIOError:
                    break
        outcome = []

        def story():
            try:
                with scheduler.machine_lock("S1"):
                    outcome.append("ran")
            except processes.Interrupted:
                outcome.append("interrupted")

        thread = threading.Thread(target=story)
        thread.start()
        time.sleep(0.2)
        assert outcome == []  # still waiting for the other run
        monkeypatch.setattr(processes, "stopping", lambda: True)
        thread.join(timeout=2)
        assert not thread.is_alive() and outcome == ["interrupted"]
    finally:
        holder.kill()
        holder.wait()
