"""Case programs: finding their tests, and running one test as one process.

Each GoogleTest test runs alone (--gtest_filter), in its own process group with
a hard timeout, with TCPREPRO_EVIDENCE_DIR pointing at its evidence folder. What
comes back is raw: the gtest verdict on the machinery, the observations file,
the log. Judging is judge.py's job.
"""
from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import re
import signal
import subprocess
import threading
import time
from typing import Callable

from harness import catalogue

# A single scenario's story takes well under a second here; this bounds a hung
# connect or a wedged capture, and is generous for QEMU under TCG.
TEST_TIMEOUT_SECONDS = 120


class CaseError(RuntimeError):
    """A case program that is missing or cannot list its tests."""


@dataclasses.dataclass(frozen=True)
class CaseTest:
    id: str  # full gtest name: "S1/SelfConnect.S1a_Explicit/ipv4_loopback"
    binary: pathlib.Path
    scenario: catalogue.Scenario
    variant_name: str  # "ipv4_loopback"

    @property
    def evidence_name(self) -> str:
        return re.sub(r"[^A-Za-z0-9_.-]", "_", self.id)


@dataclasses.dataclass
class RawResult:
    test: CaseTest
    outcome: str  # passed | skipped | error
    reason: str | None
    duration_seconds: float
    record: dict  # observations.json, or {} when the program left none
    evidence_dir: pathlib.Path
    log: pathlib.Path
    uname: str = ""  # `uname -rv` where the test ran: the guest's kernel for QEMU targets


def list_gtest_names(binary: pathlib.Path) -> list[str]:
    """Full names ("Prefix/Suite.Test/param") of every test in a GoogleTest program."""
    if not binary.is_file():
        raise CaseError(f"case program {binary} is missing: build first (ci/setup.sh)")
    listing = subprocess.run([str(binary), "--gtest_list_tests"], capture_output=True, text=True, timeout=30)
    if listing.returncode != 0:
        raise CaseError(f"{binary} --gtest_list_tests failed: {listing.stderr.strip()}")
    names, suite = [], ""
    for line in listing.stdout.splitlines():
        if not line.strip() or line.startswith("Running main()"):
            continue
        if not line.startswith(" "):
            suite = line.split("#")[0].strip()
        else:
            names.append(suite + line.split("#")[0].strip())
    return names


def discover(families: list[catalogue.Family], build_dir: pathlib.Path) -> list[CaseTest]:
    """Every test of every family's program that the catalogue knows a scenario for."""
    tests = []
    for family in families:
        binary = build_dir / "cases" / family.program
        by_test = {s.test: s for s in family.scenarios.values()}
        for name in list_gtest_names(binary):
            # "S1/SelfConnect.S1a_Explicit/ipv4_loopback" -> test "S1a_Explicit", variant "ipv4_loopback"
            method = name.split(".", 1)[1]
            test_name, _, variant = method.partition("/")
            if test_name not in by_test:
                raise CaseError(f"{binary.name}: test {name} has no scenario in the catalogue "
                                f"(add `test = \"{test_name}\"` to a scenario in harness/scenarios/)")
            tests.append(CaseTest(name, binary, by_test[test_name], variant))
    return tests


def _gtest_failures(report: pathlib.Path) -> tuple[str | None, list[str]]:
    """(result, failure messages) of the single test in a gtest JSON report."""
    try:
        data = json.loads(report.read_text())
        test = data["testsuites"][0]["testsuite"][0]
    except (OSError, ValueError, KeyError, IndexError):
        return None, []
    return test.get("result"), [f["failure"] for f in test.get("failures", [])]


def _run_program(argv: list[str], env: dict, log: pathlib.Path, timeout: float) -> tuple[int, bool]:
    """(exit status, timed out) of a case program run in its own process group, killed on timeout."""
    with log.open("w") as log_file:
        process = subprocess.Popen(argv, stdout=log_file, stderr=subprocess.STDOUT, env={**os.environ, **env},
                                   start_new_session=True)
        try:
            return process.wait(timeout=timeout), False
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            return process.wait(), True


def _read_record(evidence_dir: pathlib.Path) -> dict:
    try:
        return json.loads((evidence_dir / "observations.json").read_text())
    except (OSError, ValueError):
        return {}


def _outcome(status: int, gtest_result: str | None, failures: list[str], record: dict,
             log_name: str) -> tuple[str, str | None]:
    if failures:
        return "error", "\n".join(failures)
    if status != 0:
        how = f"signal {-status}" if status < 0 else f"exit code {status}"
        return "error", f"case program ended with {how}; see {log_name}"
    if gtest_result == "SKIPPED" or record.get("skipped"):
        return "skipped", record.get("skipped") or "skipped by the case program"
    if not record.get("observations"):
        return "error", "the case program recorded no observations"
    return "passed", None


def _uname() -> str:
    uname = os.uname()
    return f"{uname.release} {uname.version}"


def run_test(test: CaseTest, evidence_root: pathlib.Path) -> RawResult:
    """Runs one test in its own process group; kills the group on timeout."""
    evidence_dir = evidence_root / test.evidence_name
    evidence_dir.mkdir(parents=True, exist_ok=True)
    log = evidence_dir / "gtest.log"
    report = evidence_dir / "gtest.json"
    argv = [str(test.binary), f"--gtest_filter={test.id}", f"--gtest_output=json:{report}"]
    started = time.monotonic()
    status, timed_out = _run_program(argv, {"TCPREPRO_EVIDENCE_DIR": str(evidence_dir)}, log, TEST_TIMEOUT_SECONDS)
    duration = time.monotonic() - started
    record = _read_record(evidence_dir)
    if timed_out:
        outcome, reason = "error", f"timed out after {TEST_TIMEOUT_SECONDS} s; process group killed"
    else:
        gtest_result, failures = _gtest_failures(report)
        outcome, reason = _outcome(status, gtest_result, failures, record, log.name)
    return RawResult(test, outcome, reason, round(duration, 3), record, evidence_dir, log, _uname())


# A batch bounds its wait by the sum of generous per-test times; tests a batch
# did not finish (it crashed, or ran over) are run again one by one.
BATCH_SECONDS_PER_TEST = 20
_RESULT_LINE = re.compile(r"\[ {2}( {5}OK| FAILED |SKIPPED ) \] (\S+) \((\d+) ms\)")


def run_batch(tests: list[CaseTest], evidence_root: pathlib.Path,
              on_result: Callable[[RawResult], None] = lambda raw: None,
              on_start: Callable[[CaseTest], None] = lambda test: None) -> list[RawResult]:
    """Runs tests of one case program in a single process: cheaper where starting a
    process is slow (a QEMU guest under TCG). Each test's result is read from the
    program's output as soon as the test ends and handed to `on_result`, so a
    guest that hangs later still returns it."""
    binary = tests[0].binary
    assert all(t.binary == binary for t in tests), "a batch is one case program"
    by_id = {t.id: t for t in tests}
    evidence_root.mkdir(parents=True, exist_ok=True)
    argv = [str(binary), "--gtest_filter=" + ":".join(by_id)]
    env = {**os.environ, "TCPREPRO_EVIDENCE_ROOT": str(evidence_root)}
    finished: dict[str, RawResult] = {}
    section: list[str] = []
    with (evidence_root / f"{binary.name}.batch.log").open("w") as batch_log:
        process = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True,
                                   errors="replace", start_new_session=True)
        watchdog = threading.Timer(BATCH_SECONDS_PER_TEST * len(tests), os.killpg, (process.pid, signal.SIGKILL))
        watchdog.start()
        for line in process.stdout:
            batch_log.write(line)
            if line.startswith("[ RUN      ] "):
                section = []
                if line[13:].strip() in by_id:
                    on_start(by_id[line[13:].strip()])
            section.append(line)
            ended = _RESULT_LINE.match(line)
            if ended and ended.group(2) in by_id:
                raw = _batch_result(by_id[ended.group(2)], ended.group(1).strip(), int(ended.group(3)),
                                    section, evidence_root)
                finished[raw.test.id] = raw
                on_result(raw)
        process.wait()
        watchdog.cancel()
    results = []
    for test in tests:
        if test.id not in finished:
            on_start(test)
            finished[test.id] = run_test(test, evidence_root)
            on_result(finished[test.id])
        results.append(finished[test.id])
    return results


def _batch_result(test: CaseTest, verdict: str, milliseconds: int, section: list[str],
                  evidence_root: pathlib.Path) -> RawResult:
    evidence_dir = evidence_root / test.evidence_name
    evidence_dir.mkdir(parents=True, exist_ok=True)
    log = evidence_dir / "gtest.log"
    log.write_text("".join(section))
    record = _read_record(evidence_dir)
    # gtest prints a failure's location and message between RUN and FAILED.
    failures = ["".join(section[1:-1]).strip() or "failed"] if verdict == "FAILED" else []
    gtest_result = "SKIPPED" if verdict == "SKIPPED" else "COMPLETED"
    outcome, reason = _outcome(0, gtest_result, failures, record, log.name)
    return RawResult(test, outcome, reason, milliseconds / 1000, record, evidence_dir, log, _uname())
