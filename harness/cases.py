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


def run_test(test: CaseTest, evidence_root: pathlib.Path) -> RawResult:
    """Runs one test in its own process group; kills the group on timeout."""
    evidence_dir = evidence_root / test.evidence_name
    evidence_dir.mkdir(parents=True, exist_ok=True)
    log = evidence_dir / "gtest.log"
    report = evidence_dir / "gtest.json"
    argv = [str(test.binary), f"--gtest_filter={test.id}", f"--gtest_output=json:{report}"]
    env = {**os.environ, "TCPREPRO_EVIDENCE_DIR": str(evidence_dir)}
    started = time.monotonic()
    with log.open("w") as log_file:
        process = subprocess.Popen(argv, stdout=log_file, stderr=subprocess.STDOUT, env=env,
                                   start_new_session=True)
        try:
            status = process.wait(timeout=TEST_TIMEOUT_SECONDS)
            timed_out = False
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            status = process.wait()
            timed_out = True
    duration = time.monotonic() - started

    record_file = evidence_dir / "observations.json"
    try:
        record = json.loads(record_file.read_text())
    except (OSError, ValueError):
        record = {}
    gtest_result, failures = _gtest_failures(report)

    if timed_out:
        outcome, reason = "error", f"timed out after {TEST_TIMEOUT_SECONDS} s; process group killed"
    elif failures:
        outcome, reason = "error", "\n".join(failures)
    elif status != 0:
        how = f"signal {-status}" if status < 0 else f"exit code {status}"
        outcome, reason = "error", f"case program ended with {how}; see {log.name}"
    elif gtest_result == "SKIPPED" or record.get("skipped"):
        outcome, reason = "skipped", record.get("skipped") or "skipped by the case program"
    elif not record.get("observations"):
        outcome, reason = "error", "the case program recorded no observations"
    else:
        outcome, reason = "passed", None
    uname = os.uname()
    return RawResult(test, outcome, reason, round(duration, 3), record, evidence_dir, log,
                     f"{uname.release} {uname.version}")
