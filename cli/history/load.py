"""Reading the store back: runs and samples (one result of one run's draw), as results.json entries.

A sample's `entry` has the fields `compare` reads (harness/compare.py), so two samples
are compared exactly as two runs are by `./tcprepro compare`.
"""
from __future__ import annotations

import json
from dataclasses import dataclass, field

import sqlalchemy as sa

from reports.values import version_key, time_text

from harness.judge import gate

from . import store as schema


@dataclass(frozen=True)
class Run:
    key: int  # the store's row id
    run_id: str
    target: str
    configuration: str
    sysctls: str
    started: str | None
    selection: str | None
    accelerator: str | None
    release: str
    kernel_version: str
    upstream: str | None
    machine: str | None
    packages: tuple[str, ...]
    folder: str

    @property
    def build(self) -> tuple:
        """One kernel build: the same release and version string (Debian's carries the package version)."""
        return self.release, self.kernel_version, self.machine

    @property
    def config(self) -> tuple:
        return self.configuration, self.sysctls

    @property
    def kernel_text(self) -> str:
        package = next((p.split("=", 1)[1] for p in self.packages if p.startswith("linux-image") and "=" in p), None)
        return f"{self.target} {self.upstream or '?'} ({self.release}" + (f", {package}" if package else "") + ")"

    @property
    def when(self) -> str:
        return time_text(self.started)

    @property
    def order(self) -> tuple:
        return self.started or "", self.run_id, self.key


@dataclass
class Sample:
    run: Run
    result_id: str
    draw: int
    entry: dict  # a results.json entry: outcome, expectation, claim, gate, observations, ...
    judged: dict = field(default_factory=dict)  # key -> met (None: not known)

    @property
    def order(self) -> tuple:
        return (*self.run.order, self.draw)


def build_order(run: Run) -> tuple:
    """Kernel builds oldest first: upstream version, then release."""
    return version_key(run.upstream), run.release, run.kernel_version


def runs(connection) -> dict[int, Run]:
    out = {}
    for row in connection.execute(sa.select(schema.runs)):
        out[row.id] = Run(row.id, row.run_id, row.target, row.configuration, row.sysctls, row.started, row.selection,
                          row.accelerator, row.release, row.kernel_version, row.upstream, row.machine,
                          tuple(json.loads(row.packages)), row.folder)
    return out


def samples(connection, scenario: str | None = None) -> list[Sample]:
    """Every sample (of one scenario's results when given), oldest run first."""
    known = runs(connection)
    r, o = schema.results, schema.observations
    query = sa.select(r)
    if scenario is not None:
        query = query.where(r.c.scenario == scenario)
    by_id = {}
    for row in connection.execute(query):
        expectation = json.loads(row.expectation)
        entry = {"id": row.result_id, "scenario": row.scenario, "outcome": row.outcome, "reason": row.reason,
                 "duration_seconds": row.duration, "expectation": {**expectation, "verdict": row.verdict or "none"},
                 "claim": {"verdict": row.claim or "unknown"}, "gate": {"status": row.gate},
                 "key_observations": json.loads(row.key_observations), "evidence": json.loads(row.evidence),
                 "log": row.log, "observations": {}}
        by_id[row.id] = Sample(known[row.run], row.result_id, row.draw, entry)
    query = sa.select(o.c.result, o.c.key, o.c.value, o.c.judged, o.c.met)
    if scenario is not None:
        query = query.join(r, r.c.id == o.c.result).where(r.c.scenario == scenario)
    for row in connection.execute(query):
        sample = by_id.get(row.result)
        if sample is None:
            continue
        sample.entry["observations"][row.key] = json.loads(row.value)
        if row.judged:
            sample.judged[row.key] = row.met
    first = {(s.run.key, s.result_id): s for s in by_id.values() if s.draw == 1}
    for sample in by_id.values():
        if sample.draw > 1:
            _later_draw(sample, first.get((sample.run.key, sample.result_id)))
    return sorted(by_id.values(), key=lambda s: s.order)


def _later_draw(sample: Sample, first: Sample | None) -> None:
    """A --repeat draw after the first records its outcome, verdict and observations only: its
    mismatches are the judgements known to have failed, its claim is the first draw's (a claim
    per draw is not recorded), its gate follows from the rest."""
    entry = sample.entry
    entry["expectation"]["mismatches"] = [
        {"observation": key, "expected": None, "observed": entry["observations"].get(key)}
        for key, met in sample.judged.items() if met is False]
    entry["claim"] = dict(first.entry["claim"]) if first else {"verdict": "unknown"}
    entry["expectation"].setdefault("note", None)
    entry["gate"] = gate.result_gate(entry)


def result_ids(connection) -> dict[str, str]:
    """Every result id in the store, with its scenario."""
    r = schema.results
    return dict(sorted((row.result_id, row.scenario) for row in connection.execute(
        sa.select(r.c.result_id, r.c.scenario).distinct())))


def counts(connection) -> dict[str, int]:
    return {name: connection.execute(sa.select(sa.func.count()).select_from(table)).scalar_one()
            for name, table in (("runs", schema.runs), ("results", schema.results),
                                ("observations", schema.observations))}
