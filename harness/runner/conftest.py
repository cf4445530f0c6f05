"""pytest plugin that runs the stories on one target (`./tcprepro run` starts one
pytest session per target; the harness's own tests are in harness/tests).

Collection makes one item per selected case test, its id the result id
("S1a/ipv4_loopback"); `--tcprepro-select` is tcprepro's -k (harness/run/selection.py),
not pytest's. Before the first item runs,
every selected case test is executed, in parallel, on the target; each item
then reports its result's gate status as a pytest outcome (test_scenarios.py).
`--shard K/N` in the run block keeps a deterministic share of the selected tests.

At the end, results.json is written for the target; ./tcprepro writes the CI
files and takes the exit status from it, not from pytest.
"""
from __future__ import annotations

import datetime
import json
import os
import sys
import pathlib

import pytest

from harness.run import cases, configs, progress, selection, shard
from harness.judge import catalogue, gate, repeats, results
from harness.targets import targets


def pytest_addoption(parser):
    group = parser.getgroup("tcprepro")
    group.addoption("--tcprepro-out", type=pathlib.Path, help="directory for results.json and evidence")
    group.addoption("--tcprepro-build", type=pathlib.Path, help="CMake build directory with the case programs")
    group.addoption("--tcprepro-jobs", type=int, default=None,
                    help="bound on case programs at once (default: the scheduler's, from the stories' costs)")
    group.addoption("--tcprepro-target", default="host")
    group.addoption("--tcprepro-repeat", type=int, default=1, help="runs of every test (run --repeat)")
    group.addoption("--tcprepro-run", default=None, help="JSON of the run block (set by ./tcprepro)")
    group.addoption("--tcprepro-configuration", default=None,
                    help="JSON of the configuration this session runs under (harness/run/configs.py)")
    group.addoption("--tcprepro-select", default=None, help="tcprepro's -k expression over result ids")


class ScenarioRun:
    """State of one run on one target, shared by the hooks and the fixture."""

    def __init__(self, config):
        self.out: pathlib.Path = config.getoption("--tcprepro-out")
        self.build: pathlib.Path = config.getoption("--tcprepro-build")
        self.jobs: int | None = config.getoption("--tcprepro-jobs")
        self.target = targets.make(config.getoption("--tcprepro-target"))
        self.configuration = json.loads(config.getoption("--tcprepro-configuration") or "null") or \
            configs.DEFAULT_CONFIGURATION.to_json()
        self.families = catalogue.load()
        selected = selection.parse(config.getoption("--tcprepro-select"))
        self.block = json.loads(config.getoption("--tcprepro-run") or "{}")
        self.tests = [t for t in cases.discover(self.families, self.build) if selected(t.id)]
        if self.block.get("shard"):  # --shard K/N: this job's share of the selection
            self.tests = shard.pick(self.block["shard"], self.tests)
        self.repeat: int = config.getoption("--tcprepro-repeat")
        self.entries: dict[str, dict] = {}  # draw 0's, which carry the repeats block
        self.draws: dict[str, dict[int, dict]] = {}
        self.started = datetime.datetime.now(datetime.timezone.utc)
        self.interrupted = False

    def execute(self, selected: list[cases.CaseTest]) -> None:
        """Runs the selected tests; each result is judged as it comes, so an
        interrupted run still writes what finished."""
        events = progress.Events()  # live progress for ./tcprepro run, when it asked for it
        events.planned(len(selected))

        def judged(raw: cases.RawResult) -> None:
            version = self.target.kernel.upstream  # a QEMU target knows its kernel once it ran
            entry = results.result_entry(raw, version, self.out, self.block.get("gate_relaxed_by") or [],
                                         self.described_configuration())
            self.draws.setdefault(raw.test.id, {})[raw.draw] = entry
            if raw.draw == 0:
                self.entries[raw.test.id] = entry
                if isinstance(self.target, targets.HostTarget):  # a guest's results are followed live instead
                    events.finished(entry)
        try:
            self.target.run_tests(selected, self.out / "evidence", self.jobs, judged, self.repeat, events)
        except KeyboardInterrupt:
            # Ctrl-C: what finished is written and the session ends here. Ending
            # it through pytest took most of the 2 s a Ctrl-C may take.
            self.interrupted = True
            self.write()
            sys.stdout.flush()
            os._exit(130)
        if self.repeat > 1:
            self.add_repeats()

    def write(self) -> None:
        """results.json of what has been judged (every selected test, unless interrupted)."""
        if self.interrupted and self.repeat > 1:
            self.add_repeats()
        if not self.entries:
            return
        finished = datetime.datetime.now(datetime.timezone.utc)
        block = {**self.block,
                 "started": self.started.isoformat(timespec="seconds"),
                 "finished": finished.isoformat(timespec="seconds"),
                 "wall_seconds": round((finished - self.started).total_seconds(), 2),
                 "jobs": self.jobs,
                 "repeat": self.repeat}
        if self.interrupted:
            block["interrupted"] = True  # results[] holds only the tests that finished
        ordered = [self.entries[t.id] for t in self.tests if t.id in self.entries]
        results.write(self.out, block, {**self.target.describe(), "configuration": self.described_configuration()},
                      ordered)

    def add_repeats(self) -> None:
        for test_id, entry in self.entries.items():
            draws = self.draws[test_id]
            entry["repeats"] = repeats.block([draws[d] for d in sorted(draws)])
            missing = self.repeat - len(draws)
            if missing:  # a guest that did not finish every draw
                entry["repeats"].update(stable=False, missing_runs=missing)
            # The run's exit status reads this: a later draw's change is a change.
            entry["gate"] = gate.over_draws([draws[d]["gate"] for d in sorted(draws)], missing)

    def described_configuration(self) -> dict:
        """The configuration, with what a guest applied kernel-wide (not per namespace)."""
        kernel_wide = getattr(self.target, "kernel_wide", None)
        return {**self.configuration, **({"kernel_wide": kernel_wide} if kernel_wide else {})}


_RUN = pytest.StashKey[ScenarioRun]()


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    if config.getoption("--tcprepro-out") is not None:
        config.stash[_RUN] = ScenarioRun(config)


def pytest_generate_tests(metafunc):
    if "case" in metafunc.fixturenames:
        tests = metafunc.config.stash[_RUN].tests
        metafunc.parametrize("case", tests, ids=[t.id for t in tests])


@pytest.fixture(scope="session")
def executed(request) -> dict[str, dict]:
    run = request.config.stash[_RUN]
    selected = [item.callspec.params["case"] for item in request.session.items]
    run.execute(selected)
    return run.entries


def pytest_sessionfinish(session, exitstatus):
    run = session.config.stash.get(_RUN, None)
    if run is not None:
        run.write()
