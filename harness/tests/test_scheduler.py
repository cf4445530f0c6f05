"""The scheduler, the guest's lane plan and the repeats block, on stand-in work."""
import pathlib
import threading
import time

import pytest

from harness.run import cases, scheduler, story_costs
from harness.judge import catalogue, repeats
from harness.targets import guest


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


def test_unmeasured_tests_run_with_the_stated_default(tmp_path):
    table = tmp_path / "costs.json"
    table.write_text('{"tests": {"t1": {"seconds": 2.0, "cpu_seconds": 1.5},'
                     ' "t2": {"seconds": 3.0, "cpu_seconds": 0.1}},'
                     ' "guests": {"6.1": {"tests": {"t1": {"seconds": 9.0, "cpu_seconds": 1.0}}}}}')
    costs = story_costs.load(path=table)
    assert costs.of("t1").cpu_bound and not costs.of("t2").cpu_bound
    # Not measured: CPU-bound, as long as the longest measured story.
    assert costs.of("new") == story_costs.Cost(3.0, True) and costs.unmeasured(["t1", "new"]) == ["new"]
    guest_costs = story_costs.load("6.1", path=table)
    assert guest_costs.of("t1") == story_costs.Cost(9.0, False) and guest_costs.where == "guest 6.1"
    assert story_costs.load("5.10", path=table).where == "host"  # never measured there: the host's
    assert story_costs.load(path=tmp_path / "none.json").of("x") == story_costs.Cost(story_costs.DEFAULT_SECONDS, True)


def test_a_guest_table_is_stored_beside_the_host_one(tmp_path):
    table = tmp_path / "costs.json"
    story_costs.write({"a": {"seconds": 1.0, "cpu_seconds": 0.1}}, "host", "2026-12-03", path=table)
    story_costs.write({"a": {"seconds": 5.0, "cpu_seconds": 4.0}}, "guest", "2026-12-03", "6.12", path=table)
    assert story_costs.load(path=table).of("a").seconds == 1.0
    assert story_costs.load("6.12", path=table).of("a") == story_costs.Cost(5.0, True)
    assert story_costs.series((6, 12, 118)) == "6.12"


def test_a_chain_of_short_stories_starts_before_a_longer_single_one(tmp_path, monkeypatch):
    """Three 1 s stories sharing a lock are 3 s of critical path: they start before a 2 s
    story (longest member first), so the run ends at about 3 s instead of 2 + 3."""
    monkeypatch.setattr(scheduler, "LOCKS", tmp_path)
    costs = {"long": scheduler.Cost(2, True), "c1": scheduler.Cost(1, True, "x"),
             "c2": scheduler.Cost(1.5, True, "x"), "c3": scheduler.Cost(0.5, True, "x"), "short": scheduler.Cost(0.1, True)}
    started = []
    scheduler.run(list(costs), costs.__getitem__, started.append, cpu_slots=1)
    assert started == ["c2", "long", "c1", "c3", "short"]


def test_every_shared_state_is_declared_in_the_catalogue():
    """The locks come from the catalogue's `shares`: S1 by variant, each S2 result alone."""
    index = catalogue.scenario_index(catalogue.load())

    def lock(scenario_id, variant):
        return scheduler.lock_of(cases.CaseTest("T.t", pathlib.Path("/b"), index[scenario_id], variant))
    assert lock("S1a", "ipv4_veth") == lock("S1b", "ipv4_veth") == "port-offsets-S1-ipv4_veth"
    assert lock("S1a", "ipv6_veth") != lock("S1a", "ipv4_veth")
    assert lock("S2a", "ipv4_veth") == "port-offsets-S2a_ipv4_veth"
    assert lock("S3a-reuseaddr", "ipv4_veth") is None


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
        shares = None
    tests = [cases.CaseTest(f"T.t{i}", pathlib.Path(f"/b/{i % 2}"), Scenario(), f"v{i}") for i in range(8)]
    seconds = [8, 1, 1, 1, 1, 1, 1, 2]
    costs = story_costs.Costs({t.id: scheduler.Cost(s, False) for t, s in zip(tests, seconds)}, "host")
    lanes = guest.lane_plan(tests, 2, costs)
    work = [sum(costs.of(t.id).seconds for batch in lane for t in batch) for lane in lanes]
    assert sorted(work) == [8, 8]
    assert all(len({t.binary for t in batch}) == 1 for lane in lanes for batch in lane)


def test_lane_plan_keeps_a_chain_in_one_lane():
    """Stories sharing kernel-global state never overlap in a guest either: one lane runs them in turn."""
    index = catalogue.scenario_index(catalogue.load())
    tests = [cases.CaseTest("T.t", pathlib.Path("/b/s1"), index[sid], "ipv4_veth") for sid in ("S1a", "S1b", "S1c-app-check-close")]
    tests += [cases.CaseTest("T.t", pathlib.Path("/b/s3"), index["S3a-reuseaddr"], f"v{i}") for i in range(3)]
    costs = story_costs.Costs({t.id: scheduler.Cost(1, False) for t in tests}, "host")
    lanes = guest.lane_plan(tests, 3, costs)
    s1_lanes = [n for n, lane in enumerate(lanes) for batch in lane for t in batch if t.scenario.family == "S1"]
    assert len(set(s1_lanes)) == 1 and len(s1_lanes) == 3
    assert len(lanes) == 3  # the chain (3 s) in one lane, the three 1 s stories in the others


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
