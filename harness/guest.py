"""Runs inside a QEMU guest: the selected case tests, each reported as one JSON line.

`python3 -m harness.guest JOB.json` (harness/targets.py writes the job and
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

from harness import cases, catalogue, configs, kernel


def raw_to_json(raw: cases.RawResult) -> dict:
    return {"id": raw.test.id, "outcome": raw.outcome, "reason": raw.reason,
            "duration_seconds": raw.duration_seconds, "record": raw.record,
            "evidence_dir": str(raw.evidence_dir), "log": str(raw.log), "uname": raw.uname}


def raw_from_json(data: dict, test: cases.CaseTest) -> cases.RawResult:
    return cases.RawResult(test, data["outcome"], data["reason"], data["duration_seconds"], data["record"],
                           pathlib.Path(data["evidence_dir"]), pathlib.Path(data["log"]), data["uname"])


def main(job_file: str) -> int:
    job = json.loads(pathlib.Path(job_file).read_text())
    tests = {t.id: t for t in cases.discover(catalogue.load(), pathlib.Path(job["build"]))}
    missing = [name for name in job["tests"] if name not in tests]
    if missing:
        print(f"harness.guest: unknown tests {missing}", file=sys.stderr)
        return 2
    evidence_root = pathlib.Path(job["evidence_root"])
    with open(job["results"], "w") as out:
        kernel_wide = configs.apply_kernel_wide()
        out.write(json.dumps({"kernel": kernel.running_kernel().to_json(), "kernel_wide": kernel_wide}) + "\n")
        out.flush()
        # One process per case program and share of the CPUs: starting a process
        # costs about a second under TCG, several times a short story.
        batches: dict[tuple, list[cases.CaseTest]] = {}
        for index, name in enumerate(job["tests"]):
            test = tests[name]
            batches.setdefault((test.binary, index % job["jobs"]), []).append(test)
        lock = threading.Lock()

        def write(raw: cases.RawResult) -> None:
            with lock:
                out.write(json.dumps(raw_to_json(raw)) + "\n")
                out.flush()

        def started(test: cases.CaseTest) -> None:  # for live progress on the host
            with lock:
                out.write(json.dumps({"started": test.id}) + "\n")
                out.flush()

        with concurrent.futures.ThreadPoolExecutor(max_workers=job["jobs"]) as pool:
            for batch in batches.values():
                pool.submit(cases.run_batch, batch, evidence_root, write, started)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
