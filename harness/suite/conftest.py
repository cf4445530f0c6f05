"""pytest plugin that runs the scenarios on one target.

Collection makes one item per case test (ids are the GoogleTest names, so
`-k ipv6_veth` or `-k S1a` select as expected). Before the first item runs,
every selected case test is executed, in parallel, on the target; each item
then reports its result's gate status as a pytest outcome (test_scenarios.py).
`--shard K/N` in the run block keeps a deterministic share of the selected items.

At the end, results.json is written for the target; ./tcprepro writes the CI
files and takes the exit status from it, not from pytest.
"""
from __future__ import annotations

import datetime
import json
import os
import pathlib

import pytest

from harness import cases, catalogue, results, shard, targets


def pytest_addoption(parser):
    group = parser.getgroup("tcprepro")
    group.addoption("--tcprepro-out", type=pathlib.Path, help="directory for results.json and evidence")
    group.addoption("--tcprepro-build", type=pathlib.Path, help="CMake build directory with the case programs")
    group.addoption("--tcprepro-jobs", type=int, default=os.cpu_count() or 1)
    group.addoption("--tcprepro-target", default="host")
    group.addoption("--tcprepro-run", default=None, help="JSON of the run block (set by ./tcprepro)")


class ScenarioRun:
    """State of one run on one target, shared by the hooks and the fixture."""

    def __init__(self, config):
        self.out: pathlib.Path = config.getoption("--tcprepro-out")
        self.build: pathlib.Path = config.getoption("--tcprepro-build")
        self.jobs: int = config.getoption("--tcprepro-jobs")
        self.target = targets.make(config.getoption("--tcprepro-target"))
        self.families = catalogue.load()
        self.tests = cases.discover(self.families, self.build)
        self.entries: dict[str, dict] = {}
        self.block = json.loads(config.getoption("--tcprepro-run") or "{}")
        self.started = datetime.datetime.now(datetime.timezone.utc)

    def execute(self, selected: list[cases.CaseTest]) -> None:
        raws = self.target.run_tests(selected, self.out / "evidence", self.jobs)
        version = self.target.kernel.upstream  # a QEMU target knows its kernel once it ran
        for raw in raws:
            self.entries[raw.test.id] = results.result_entry(raw, version, self.out,
                                                             self.block.get("gate_relaxed_by") or [])


_RUN = pytest.StashKey[ScenarioRun]()


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    if config.getoption("--tcprepro-out") is not None:
        config.stash[_RUN] = ScenarioRun(config)


def pytest_generate_tests(metafunc):
    if "case" in metafunc.fixturenames:
        tests = metafunc.config.stash[_RUN].tests
        metafunc.parametrize("case", tests, ids=[t.id for t in tests])


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    """--shard K/N (in the run block): after -k, keep this shard's share of the items."""
    run = config.stash.get(_RUN, None)
    if run is None or not run.block.get("shard"):
        return
    kept = set(shard.pick(run.block["shard"], [item.nodeid for item in items]))
    config.hook.pytest_deselected(items=[item for item in items if item.nodeid not in kept])
    items[:] = [item for item in items if item.nodeid in kept]


@pytest.fixture(scope="session")
def executed(request) -> dict[str, dict]:
    run = request.config.stash[_RUN]
    selected = [item.callspec.params["case"] for item in request.session.items]
    run.execute(selected)
    return run.entries


def pytest_sessionfinish(session, exitstatus):
    run = session.config.stash.get(_RUN, None)
    if run is None or not run.entries:
        return
    finished = datetime.datetime.now(datetime.timezone.utc)
    block = dict(run.block)
    block.update({
        "started": run.started.isoformat(timespec="seconds"),
        "finished": finished.isoformat(timespec="seconds"),
        "wall_seconds": round((finished - run.started).total_seconds(), 2),
        "jobs": run.jobs,
    })
    ordered = [run.entries[t.id] for t in run.tests if t.id in run.entries]
    results.write(run.out, block, run.target.describe(), ordered)
