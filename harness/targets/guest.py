"""Runs inside a QEMU guest: the selected case tests, each reported as one JSON line.

`python3 -m harness.targets.guest JOB.json` (harness/targets/targets.py writes the job and
boots the guest). The first line of the output file is the guest's kernel;
each further line is one test's raw result, written as soon as the test
ends, or {"started": id} when a test begins (for live progress) (the tests of one case program run in one process), so a guest that
hangs or panics half-way still returns what it did.
"""
from __future__ import annotations

import concurrent.futures
import json
import pathlib
import sys
import threading

from harness.run import cases, configs, scheduler, story_costs
from harness.judge import catalogue
from harness.kernels import kernel


def raw_to_json(raw: cases.RawResult) -> dict:
    return {"id": raw.test.id, "outcome": raw.outcome, "reason": raw.reason,
            "duration_seconds": raw.duration_seconds, "record": raw.record,
            "evidence_dir": str(raw.evidence_dir), "log": str(raw.log), "uname": raw.uname,
            "cpu_seconds": raw.cpu_seconds, "draw": raw.draw}


def raw_from_json(data: dict, test: cases.CaseTest) -> cases.RawResult:
    return cases.RawResult(test, data["outcome"], data["reason"], data["duration_seconds"], data["record"],
                           pathlib.Path(data["evidence_dir"]), pathlib.Path(data["log"]), data["uname"],
                           data.get("cpu_seconds"), data.get("draw", 0))


class GuestJobError(RuntimeError):
    """The job names tests this guest's build does not have."""


def main(job_file: str) -> int:
    job = json.loads(pathlib.Path(job_file).read_text())
    with open(job["results"], "w") as out:
        try:
            _run(job, out)
        except Exception as error:
            # The host reads this line and tells the user; the traceback goes to guest-job.log.
            out.write(json.dumps({"harness_error": f"{type(error).__name__}: {error}"}) + "\n")
            out.flush()
            raise
    return 0


def _run(job: dict, out) -> None:
    kernel_wide = configs.apply_kernel_wide()  # a guest is thrown away: global sysctls are applied kernel-wide
    out.write(json.dumps({"kernel": kernel.running_kernel().to_json(), "kernel_wide": kernel_wide}) + "\n")
    out.flush()
    tests = {t.id: t for t in cases.discover(catalogue.load(), pathlib.Path(job["build"]))}
    missing = [name for name in job["tests"] if name not in tests]
    if missing:
        raise GuestJobError(f"unknown tests {missing}")
    evidence_root = pathlib.Path(job["evidence_root"])
    lanes = lane_plan([tests[name] for name in job["tests"]], job["jobs"],
                      story_costs.load(story_costs.series(kernel.running_kernel().upstream)))
    lock = threading.Lock()

    def write(raw: cases.RawResult) -> None:
        with lock:
            out.write(json.dumps(raw_to_json(raw)) + "\n")
            out.flush()

    def started(test: cases.CaseTest) -> None:  # for live progress on the host
        with lock:
            out.write(json.dumps({"started": test.id}) + "\n")
            out.flush()

    def run_lane(batches: list[list[cases.CaseTest]], draw: int) -> None:
        for batch in batches:
            cases.run_batch(batch, evidence_root, write, started, draw)

    for draw in range(job.get("repeat", 1)):  # run --repeat: draw after draw, each as one run
        with concurrent.futures.ThreadPoolExecutor(max_workers=len(lanes)) as pool:
            for future in [pool.submit(run_lane, lane, draw) for lane in lanes]:
                future.result()  # a batch's exception is the harness's


def lane_plan(tests: list[cases.CaseTest], lanes: int, costs: story_costs.Costs) -> list[list[list[cases.CaseTest]]]:
    """Tests split into `lanes` that run side by side, each a list of batches
    (one process per case program: starting a process costs about a second
    under TCG, several times a short story). Tests sharing kernel-global state
    (scheduler.lock_of) go to one lane as a chain, so they never overlap. Longest
    work first (a chain by its total), each to the lane with the least measured
    work so far, so the lanes end together; a test without a measured cost counts
    as the table's default (story_costs.py)."""
    units: dict[object, list[cases.CaseTest]] = {}
    for test in sorted(tests, key=lambda t: costs.of(t.id).seconds, reverse=True):
        units.setdefault(scheduler.lock_of(test) or test.id, []).append(test)

    def total(unit: list[cases.CaseTest]) -> float:
        return sum(costs.of(t.id).seconds for t in unit)

    work = [0.0] * lanes
    by_lane: list[dict[pathlib.Path, list[cases.CaseTest]]] = [{} for _ in range(lanes)]
    for unit in sorted(units.values(), key=total, reverse=True):
        lane = work.index(min(work))
        work[lane] += total(unit)
        for test in unit:
            by_lane[lane].setdefault(test.binary, []).append(test)
    return [list(batches.values()) for batches in by_lane if batches]


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
