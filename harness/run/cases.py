"""Case programs: finding their tests, and running one test as one process.

Each GoogleTest test runs alone (--gtest_filter), in its own process group with
a hard timeout, with TCPREPRO_EVIDENCE_DIR naming its evidence folder; or a
batch of one program's tests runs in one process, with TCPREPRO_EVIDENCE_DIRS
naming a JSON file {full test name: evidence folder}. What comes back is raw:
the gtest verdict on the machinery, the observations file, the log. Judging is
judge.py's job.
"""
from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import subprocess
import tempfile
import threading
import time
from typing import Callable

from harness.judge import catalogue
from contract import names
from contract.names import result_id
from harness.run import gtest_output, processes

# A single scenario's story takes well under a second here; this bounds a hung
# connect or a wedged capture, and is generous for QEMU under TCG.
TEST_TIMEOUT_SECONDS = 120


class CaseError(RuntimeError):
    """A case program that is missing or cannot list its tests."""


@dataclasses.dataclass(frozen=True)
class CaseTest:
    gtest_name: str  # full GoogleTest name: "S1/SelfConnect.S1a/ipv4_loopback"
    binary: pathlib.Path
    scenario: catalogue.Scenario
    variant_name: str  # "ipv4_loopback"; "" for a test without variants

    @property
    def id(self) -> str:
        """The result id, the one name of a result everywhere: "S1a/ipv4_loopback" (or "S5-tcp_timestamps")."""
        return result_id(self.scenario.id, self.variant_name)

    def evidence_dir(self, evidence_root: pathlib.Path) -> pathlib.Path:
        """Where the test's evidence goes: the result id under the root (evidence/S1a/ipv4_loopback).
        The one place this rule lives: the case program is told the folder (TCPREPRO_EVIDENCE_DIR,
        TCPREPRO_EVIDENCE_DIRS)."""
        return evidence_root / self.id


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
    cpu_seconds: float | None = None  # user + system CPU of its process (None: ran in a batch)
    draw: int = 0  # which run of the test (run --repeat N: 0 .. N-1)


def list_gtest_names(binary: pathlib.Path) -> list[str]:
    """Full names ("Prefix/Suite.Test/param") of every test in a GoogleTest program."""
    if not binary.is_file():
        raise CaseError(f"case program {binary} is missing: build first (ci/setup.sh)")
    listing = subprocess.run([str(binary), "--gtest_list_tests"], capture_output=True, text=True, timeout=30)
    if listing.returncode != 0:
        raise CaseError(f"{binary} --gtest_list_tests failed: {listing.stderr.strip()}")
    return gtest_output.parse_listing(listing.stdout)


def match_names(family: catalogue.Family, gtest_names: list[str]) -> tuple[list[tuple[str, catalogue.Scenario, str]], list[str]]:
    """Pairs each test of the family's program with its scenario: ([(full name, scenario, variant)], problems).

    A problem is a test no scenario names, a scenario no test runs, or two tests
    that would give one result id."""
    by_test = {s.gtest_name: s for s in family.scenarios.values()}
    matched, problems, ids, ran, unnamed = [], [], {}, set(), set()
    for name in gtest_names:
        test_name, variant = names.split_gtest_name(name)
        scenario = by_test.get(test_name)
        if scenario is None and test_name not in unnamed:
            unnamed.add(test_name)  # once per test, not per variant
            problems.append(f"{family.program}: test {name} has no scenario in the catalogue: add a scenario "
                            f"with id \"{test_name.replace('_', '-')}\" (or the id whose '-' -> '_' gives "
                            f"{test_name}) to the {family.id} file in harness/scenarios/, or rename the test")
        if scenario is None:
            continue
        rid = result_id(scenario.id, variant)
        if rid in ids:
            problems.append(f"{family.program}: tests {ids[rid]} and {name} both give result {rid}")
            continue
        ids[rid] = name
        ran.add(scenario.id)
        matched.append((name, scenario, variant))
    for scenario in family.scenarios.values():
        if scenario.id not in ran:
            problems.append(f"{family.program}: scenario {scenario.id} has no test: its story must be the "
                            f"GoogleTest test {scenario.gtest_name} (the id with '-' -> '_')")
    return matched, problems


def discover(families: list[catalogue.Family], build_dir: pathlib.Path) -> list[CaseTest]:
    """Every test of every family's program, each paired with its catalogue scenario.

    Raises CaseError when names disagree: every scenario needs a test and every test a scenario."""
    tests, problems = [], []
    for family in families:
        binary = build_dir / "cases" / family.program
        matched, found = match_names(family, list_gtest_names(binary))
        problems += found
        tests += [CaseTest(name, binary, scenario, variant) for name, scenario, variant in matched]
    if problems:
        raise CaseError("the catalogue and the case programs disagree on names:\n  " + "\n  ".join(problems))
    return tests


def _run_program(argv: list[str], env: dict, log: pathlib.Path, timeout: float) -> tuple[int, bool, float]:
    """(exit status, timed out, CPU seconds) of a case program run in its own
    process group, killed on timeout. Waits in wait4(), which returns the
    moment it ends (Popen.wait with a timeout polls, up to 50 ms late) and
    gives its CPU time."""
    with log.open("w") as log_file:
        process = processes.popen(argv, stdout=log_file, stderr=subprocess.STDOUT, env={**os.environ, **env},
                                  new_session=True)
    expired = threading.Event()

    def expire() -> None:
        expired.set()
        processes.kill_group(process)

    timer = threading.Timer(timeout, expire)
    timer.start()
    try:
        _, status, usage = os.wait4(process.pid, 0)
    finally:
        timer.cancel()
    process.returncode = os.waitstatus_to_exitcode(status)
    processes.forget(process)
    return process.returncode, expired.is_set(), usage.ru_utime + usage.ru_stime


def _read_record(evidence_dir: pathlib.Path) -> dict:
    try:
        return json.loads((evidence_dir / "observations.json").read_text())
    except (OSError, ValueError):
        return {}


def _outcome(status: int, end: gtest_output.TestEnd | None, record: dict, log_name: str) -> tuple[str, str | None]:
    if end is not None and end.failure:
        return "error", end.failure
    if status != 0:
        how = f"signal {-status}" if status < 0 else f"exit code {status}"
        return "error", f"case program ended with {how}; see {log_name}"
    if end is None:
        return "error", f"the case program printed no result for the test; see {log_name}"
    if end.verdict == "SKIPPED" or record.get("skipped"):
        return "skipped", record.get("skipped") or "skipped by the case program"
    if not record.get("observations"):
        return "error", "the case program recorded no observations"
    return "passed", None


def _uname() -> str:
    uname = os.uname()
    return f"{uname.release} {uname.version}"


def evidence_root_of_draw(evidence_root: pathlib.Path, draw: int) -> pathlib.Path:
    """Draw 0's evidence is the run's; a repeated draw's goes beside it, in repeat-<n>/."""
    return evidence_root if draw == 0 else evidence_root / f"repeat-{draw + 1}"


def run_test(test: CaseTest, evidence_root: pathlib.Path, draw: int = 0) -> RawResult:
    """Runs one test in its own process group; kills the group on timeout."""
    evidence_root = evidence_root_of_draw(evidence_root, draw)
    evidence_dir = test.evidence_dir(evidence_root)
    evidence_dir.mkdir(parents=True, exist_ok=True)
    log = evidence_dir / "gtest.log"
    argv = [str(test.binary), f"--gtest_filter={test.gtest_name}"]
    started = time.monotonic()
    status, timed_out, cpu_seconds = _run_program(argv, {"TCPREPRO_EVIDENCE_DIR": str(evidence_dir)}, log,
                                                  TEST_TIMEOUT_SECONDS)
    duration = time.monotonic() - started
    record = _read_record(evidence_dir)
    if timed_out:
        outcome, reason = "error", f"timed out after {TEST_TIMEOUT_SECONDS} s; process group killed"
    else:
        end = gtest_output.read_results(log.read_text(errors="replace")).get(test.gtest_name)
        outcome, reason = _outcome(status, end, record, log.name)
    return RawResult(test, outcome, reason, round(duration, 3), record, evidence_dir, log, _uname(),
                     round(cpu_seconds, 3), draw)


# A batch bounds its wait by the sum of generous per-test times; tests a batch
# did not finish (it crashed, or ran over) are run again one by one.
BATCH_SECONDS_PER_TEST = 20


def run_batch(tests: list[CaseTest], evidence_root: pathlib.Path,
              on_result: Callable[[RawResult], None] = lambda raw: None,
              on_start: Callable[[CaseTest], None] = lambda test: None, draw: int = 0) -> list[RawResult]:
    """Runs tests of one case program in a single process: cheaper where starting a
    process is slow (a QEMU guest under TCG). Each test's result is read from the
    program's output as soon as the test ends and handed to `on_result`, so a
    guest that hangs later still returns it."""
    binary = tests[0].binary
    assert all(t.binary == binary for t in tests), "a batch is one case program"
    evidence_root = evidence_root_of_draw(evidence_root, draw)
    by_name = {t.gtest_name: t for t in tests}
    evidence_root.mkdir(parents=True, exist_ok=True)
    # The program is told each test's folder: naming them is the harness's job alone.
    with tempfile.NamedTemporaryFile("w", dir=evidence_root, prefix=f"{binary.name}.", suffix=".dirs.json",
                                     delete=False) as dirs:
        json.dump({t.gtest_name: str(t.evidence_dir(evidence_root)) for t in tests}, dirs, indent=1)
    for test in tests:
        test.evidence_dir(evidence_root).mkdir(parents=True, exist_ok=True)
    argv = [str(binary), "--gtest_filter=" + ":".join(by_name)]
    env = {**os.environ, "TCPREPRO_EVIDENCE_DIRS": dirs.name}
    finished: dict[str, RawResult] = {}
    reader = gtest_output.ResultReader()
    with open(dirs.name.removesuffix(".dirs.json") + ".batch.log", "w") as batch_log:
        process = processes.popen(argv, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, env=env, text=True,
                                  errors="replace", new_session=True)
        watchdog = threading.Timer(BATCH_SECONDS_PER_TEST * len(tests), processes.kill_group, (process,))
        watchdog.start()
        for line in process.stdout:
            batch_log.write(line)
            if line.startswith("[ RUN      ] ") and line[13:].strip() in by_name:
                on_start(by_name[line[13:].strip()])
            end = reader.feed(line)
            if end and end.name in by_name:
                raw = dataclasses.replace(_batch_result(by_name[end.name], end, evidence_root), draw=draw)
                finished[raw.test.id] = raw
                on_result(raw)
        process.wait()
        processes.forget(process)
        watchdog.cancel()
    results = []
    for test in tests:
        if test.id not in finished and not processes.stopping():
            on_start(test)
            # evidence_root is already this draw's
            finished[test.id] = dataclasses.replace(run_test(test, evidence_root), draw=draw)
            on_result(finished[test.id])
        if test.id in finished:
            results.append(finished[test.id])
    return results


def _batch_result(test: CaseTest, end: gtest_output.TestEnd, evidence_root: pathlib.Path) -> RawResult:
    evidence_dir = test.evidence_dir(evidence_root)
    evidence_dir.mkdir(parents=True, exist_ok=True)
    log = evidence_dir / "gtest.log"
    log.write_text("".join(end.lines))
    record = _read_record(evidence_dir)
    outcome, reason = _outcome(0, end, record, log.name)
    return RawResult(test, outcome, reason, end.milliseconds / 1000, record, evidence_dir, log, _uname())
