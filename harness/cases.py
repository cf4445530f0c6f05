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
import time

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


# A batch bounds its wait by the sum of generous per-test times; one that runs
# over (or crashes) is retried test by test, each with the full timeout.
BATCH_SECONDS_PER_TEST = 20


def _split_log(text: str) -> dict[str, str]:
    """Each test's part of a GoogleTest log, from its [ RUN ] line to its result line."""
    parts, current = {}, None
    for line in text.splitlines(keepends=True):
        match = re.match(r"\[ RUN      \] (\S+)", line)
        if match:
            current = match.group(1)
            parts[current] = ""
        if current:
            parts[current] += line
            if re.match(r"\[ {2}(     OK| FAILED |SKIPPED ) \] ", line):
                current = None
    return parts


def run_batch(tests: list[CaseTest], evidence_root: pathlib.Path) -> list[RawResult]:
    """Runs tests of one case program in a single process: cheaper where starting a
    process is slow (a QEMU guest under TCG). Falls back to run_test per test when
    the batch does not end normally."""
    binary = tests[0].binary
    assert all(t.binary == binary for t in tests), "a batch is one case program"
    evidence_root.mkdir(parents=True, exist_ok=True)
    log = evidence_root / f"{binary.name}.batch.log"
    report = evidence_root / f"{binary.name}.batch.json"
    argv = [str(binary), "--gtest_filter=" + ":".join(t.id for t in tests), f"--gtest_output=json:{report}"]
    status, timed_out = _run_program(argv, {"TCPREPRO_EVIDENCE_ROOT": str(evidence_root)}, log,
                                     BATCH_SECONDS_PER_TEST * len(tests))
    try:
        suites = json.loads(report.read_text())["testsuites"]
    except (OSError, ValueError, KeyError):
        suites = None
    if timed_out or suites is None:
        return [run_test(test, evidence_root) for test in tests]
    reported = {f"{suite['name']}.{case['name']}": case for suite in suites for case in suite["testsuite"]}
    logs = _split_log(log.read_text(errors="replace"))
    results = []
    for test in tests:
        case = reported.get(test.id)
        if case is None:
            results.append(run_test(test, evidence_root))
            continue
        evidence_dir = evidence_root / test.evidence_name
        evidence_dir.mkdir(parents=True, exist_ok=True)
        test_log = evidence_dir / "gtest.log"
        test_log.write_text(logs.get(test.id, ""))
        record = _read_record(evidence_dir)
        failures = [f["failure"] for f in case.get("failures", [])]
        # The process status belongs to the batch; a failing test shows in its own failures.
        outcome, reason = _outcome(0, case.get("result"), failures, record, test_log.name)
        duration = float(case.get("time", "0s").rstrip("s"))
        results.append(RawResult(test, outcome, reason, round(duration, 3), record, evidence_dir, test_log, _uname()))
    return results
