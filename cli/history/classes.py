"""Classes of results over time: stable, flaky, changed, new.

Two samples (a result in two runs) behave the same when `./tcprepro compare` would call
them same (harness/compare.py): outcome, expectation verdict, claim verdict and each
compared observation; a behaviour (an errno, a state, a counter) by value, a measurement
(a timing, a share, a sample of ports, an observation judged by bounds) by whether the
expectations that judge it were met, never by its value.

    series   one result on one kernel build (release and version string) and configuration
    flaky    a series whose samples do not all behave the same
    changed  the result behaves differently on two kernel builds next to each other in
             version order (each build stands for its most frequent behaviour), under one
             configuration: the change's boundary is that pair of builds
    new      fewer than NEW_UNTIL_CLEAN clean samples in the store (clean: the machinery
             finished, outcome and gate not error); a new result is never reported flaky
    stable   none of these

A flip is two samples of one series next to each other in time that behave differently;
the current streak is how many of a series' latest samples behave like its last one.
"""
from __future__ import annotations

import functools
from collections import Counter
from dataclasses import dataclass, field

from cli import compare
from harness.judge import catalogue, gate
from harness.run import selection
from reports.values import canonical

from .load import Run, Sample, build_order

NEW_UNTIL_CLEAN = 5
STABLE, FLAKY, CHANGED, NEW = "stable", "flaky", "changed", "new"


class Behaviour:
    """compare's rule for "same", with its measured keys taken over every run in the store."""

    def __init__(self, samples: list[Sample]):
        per_run: dict[int, list[dict]] = {}
        for sample in samples:
            if sample.draw == 1:
                per_run.setdefault(sample.run.key, []).append(sample.entry)
        self.measured = compare._scenario_measured([{"results": entries} for entries in per_run.values()])
        try:
            self.index = catalogue.scenario_index(catalogue.load())
        except catalogue.CatalogueError:
            self.index = {}

    def keys(self, scenario: str) -> set[str]:
        return self.measured.get(scenario, set()) | compare._bounded(scenario, self.index)

    def differences(self, old: Sample, new: Sample) -> list[dict]:
        scenario = old.entry["scenario"]
        return compare._differences(old.entry, new.entry, self.keys(scenario), self.index.get(scenario))[0]

    def signature(self, sample: Sample) -> tuple:
        """Equal signatures behave the same (unequal ones may too: a claim flipped only by a measurement)."""
        entry = sample.entry
        measured = self.keys(entry["scenario"])
        parts = [entry["outcome"], compare._verdict_class(entry), entry["claim"]["verdict"]]
        if entry["outcome"] == "passed":
            for key in compare._compared_keys(entry, entry):
                value = entry["observations"].get(key)
                if key in measured or compare._has_float(value):
                    parts.append((key, compare._judged_by(entry, key)))
                else:
                    parts.append((key, canonical(value)))
        return tuple(parts)


@dataclass
class Series:
    """One result on one kernel build and configuration, oldest sample first."""
    result_id: str
    samples: list[Sample]
    groups: list[int] = field(default_factory=list)  # per sample: the index of its behaviour
    representatives: list[Sample] = field(default_factory=list)  # per behaviour: its first sample

    @property
    def run(self) -> Run:
        return self.samples[-1].run

    @property
    def flaky(self) -> bool:
        return len(self.representatives) > 1

    @property
    def flips(self) -> int:
        return sum(1 for a, b in zip(self.groups, self.groups[1:]) if a != b)

    @property
    def streak(self) -> int:
        last = self.groups[-1]
        return next((n for n, g in enumerate(reversed(self.groups)) if g != last), len(self.groups))

    @property
    def mode(self) -> Sample:
        """The latest sample of the most frequent behaviour."""
        counts = Counter(self.groups)
        best = max(counts, key=lambda g: (counts[g], max(i for i, x in enumerate(self.groups) if x == g)))
        return [s for s, g in zip(self.samples, self.groups) if g == best][-1]

    def counts(self) -> list[tuple[Sample, int]]:
        counted = Counter(self.groups)
        return [(rep, counted[index]) for index, rep in enumerate(self.representatives)]


def make_series(samples: list[Sample], behaviour: Behaviour) -> list[Series]:
    grouped: dict[tuple, list[Sample]] = {}
    for sample in samples:
        grouped.setdefault((sample.result_id, sample.run.build, sample.run.config), []).append(sample)
    out = []
    for (result_id, _, _), members in grouped.items():
        series = Series(result_id, members)
        by_signature: dict[tuple, int] = {}
        for sample in members:
            signature = behaviour.signature(sample)
            if signature not in by_signature:
                same = next((i for i, rep in enumerate(series.representatives)
                             if not behaviour.differences(rep, sample)), None)
                if same is None:
                    series.representatives.append(sample)
                    same = len(series.representatives) - 1
                by_signature[signature] = same
            series.groups.append(by_signature[signature])
        out.append(series)
    return sorted(out, key=lambda s: (s.result_id, build_order(s.run), s.run.config))


@dataclass(frozen=True)
class Change:
    """One step from a kernel build to the next (version order) for one result and configuration."""
    result_id: str
    status: str  # compare's words: same, changed, new, gone
    old: Series | None
    new: Series | None
    differences: list[dict]
    old_run: Run
    new_run: Run


def changes(series: list[Series], runs: dict[int, Run], behaviour: Behaviour) -> list[Change]:
    """Per result and configuration, each pair of neighbouring builds that ran it."""
    builds: dict[tuple, list[Run]] = {}
    for run in runs.values():
        builds.setdefault((run.config, run.build), []).append(run)
    by_key: dict[tuple, dict[tuple, Series]] = {}
    for one in series:
        by_key.setdefault((one.result_id, one.run.config), {})[one.run.build] = one
    out = []
    for (result_id, config), present in sorted(by_key.items(), key=lambda item: (item[0][0], item[0][1])):
        steps = []
        for (run_config, build), build_runs in builds.items():
            if run_config != config:
                continue
            chosen = [r for r in build_runs if _selects(r.selection, result_id)]
            if chosen or build in present:
                steps.append((build_order(min(build_runs, key=lambda r: r.order)), build, sorted(chosen, key=lambda r: r.order)))
        steps.sort(key=lambda step: step[0])
        previous = None
        for _, build, chosen in steps:
            current = present.get(build)
            if previous is not None and (previous[0] is not None or current is not None):
                old, old_runs = previous
                if old is not None and current is not None:
                    differences = behaviour.differences(old.mode, current.mode)
                    status = compare.CHANGED if differences else compare.SAME
                else:
                    differences, status = [], compare.NEW if old is None else compare.GONE
                old_run = old.samples[-1].run if old else old_runs[-1]
                new_run = current.samples[0].run if current else chosen[0]
                out.append(Change(result_id, status, old, current, differences, old_run, new_run))
            previous = (current, chosen)
    return out


@functools.lru_cache(maxsize=None)
def _selector(expression: str | None):
    return selection.parse(expression)


def _selects(expression: str | None, result_id: str) -> bool:
    """Whether a run's -k took the result (a run without -k takes every result)."""
    return _selector(expression)(result_id)


def clean(sample: Sample) -> bool:
    return sample.entry["outcome"] != "error" and sample.entry["gate"].get("status") != gate.ERROR


@dataclass(frozen=True)
class Classified:
    result_id: str
    kind: str  # STABLE, FLAKY, CHANGED or NEW
    clean: int
    series: list[Series]
    changes: list[Change]

    @property
    def flips(self) -> int:
        return sum(s.flips for s in self.series)

    @property
    def latest(self) -> Series:
        return max(self.series, key=lambda s: s.samples[-1].order)


def classify(samples: list[Sample], runs: dict[int, Run], behaviour: Behaviour | None = None) -> dict[str, Classified]:
    behaviour = behaviour or Behaviour(samples)
    every = make_series(samples, behaviour)
    steps = changes(every, runs, behaviour)
    out = {}
    for result_id in dict.fromkeys(s.result_id for s in every):
        mine = [s for s in every if s.result_id == result_id]
        moved = [c for c in steps if c.result_id == result_id]
        clean_count = sum(1 for s in mine for sample in s.samples if clean(sample))
        if clean_count < NEW_UNTIL_CLEAN:
            kind = NEW
        elif any(s.flaky for s in mine):
            kind = FLAKY
        elif any(c.status == compare.CHANGED for c in moved):
            kind = CHANGED
        else:
            kind = STABLE
        out[result_id] = Classified(result_id, kind, clean_count, mine, moved)
    return out
