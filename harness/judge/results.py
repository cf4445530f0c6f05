"""Builds results.json (the contract documented in harness/RESULTS.md)."""
from __future__ import annotations

import collections
import json
import pathlib

from harness.run import cases, configs
from harness.judge import gate, judge, port_models, surface
from harness.kernels import kernel
from contract import ladder, names

SCHEMA = names.RESULTS_SCHEMA


def _relative(path: pathlib.Path, base: pathlib.Path) -> str:
    return str(path.relative_to(base))


def result_entry(raw: cases.RawResult, version: kernel.Version, target_dir: pathlib.Path,
                 relaxed_by: list[str] = (), configuration: dict | None = None) -> dict:
    scenario = raw.test.scenario
    record = raw.record
    observations = record.get("observations", {}) if raw.outcome == "passed" else {}
    # S2 sequences: deltas, parity, wraps and the model fit, derived before judging.
    observations = port_models.derive_observations(observations)
    # S5-surface: the knob table judged against the catalogue's knob list.
    observations = surface.derive_observations(observations, version)
    evidence = [
        {**item, "path": _relative(raw.evidence_dir / item["path"], target_dir)}
        for item in record.get("evidence", [])
    ]
    evidence += _ladders(evidence, target_dir)
    if raw.outcome == "skipped":
        expectation = judge.judge_skip(scenario, raw.reason, version)
    else:
        expectation = judge.judge_expectation(scenario, observations, version,
                                              configs.effective_sysctls(configuration, record))
    entry = {
        "id": raw.test.id,
        "scenario": scenario.id,
        "gtest": raw.test.gtest_name,
        "family": scenario.family,
        "title": scenario.title,
        "variant": record.get("variant") or {"name": raw.test.variant_name},
        "outcome": raw.outcome,
        "reason": raw.reason,
        "duration_seconds": raw.duration_seconds,
        "uname": raw.uname,
        "impairment_backend": record.get("impairment_backend"),
        "observations": observations,
        "key_observations": scenario.key_observations,
        "sysctls": record.get("sysctls", {}),
        "evidence": evidence,
        "claim": judge.judge_claim(scenario, observations),
        "configuration": configs.result_configuration(configuration, record),
        "expectation": expectation,
        "log": _relative(raw.log, target_dir),
    }
    entry["gate"] = gate.result_gate(entry, relaxed_by)
    return entry


def _ladders(evidence: list[dict], target_dir: pathlib.Path) -> list[dict]:
    """A ladder diagram beside each pcap the lab described (<capture>.exchange.json), as evidence.
    A description that cannot be drawn gets no ladder; the report says why."""
    drawn = []
    for item in evidence:
        pcap = target_dir / item["path"]
        if item.get("kind") != "pcap" or not ladder.exchange_path(pcap).is_file():
            continue
        try:
            exchange = ladder.load(ladder.exchange_path(pcap))
        except ladder.ExchangeError:
            continue
        svg = ladder.write_svg(exchange, ladder.ladder_path(pcap))
        drawn.append({"kind": "ladder", "path": _relative(svg, target_dir), "namespace": item.get("namespace"),
                      "description": f"ladder diagram of {pcap.name}, {len(exchange.segments)} segments"})
    return drawn


def summarise(entries: list[dict]) -> dict:
    outcomes = collections.Counter(e["outcome"] for e in entries)
    verdicts = collections.Counter(e["expectation"]["verdict"] for e in entries)
    gates = collections.Counter(e["gate"]["status"] for e in entries)
    return {
        "total": len(entries),
        "passed": outcomes["passed"], "skipped": outcomes["skipped"], "error": outcomes["error"],
        "as_expected": verdicts["as_expected"], "unexpected": verdicts["unexpected"],
        "new_behaviour": verdicts["new_behaviour"], "no_expectation": verdicts["none"],
        "absent_as_expected": verdicts["absent_as_expected"], "missing": verdicts["missing"],
        "gate": {status: gates[status] for status in gate.EXIT},
        "exit_status": gate.exit_status(gate.target_statuses({"results": entries})),
    }


def write(target_dir: pathlib.Path, run: dict, target: dict, entries: list[dict]) -> pathlib.Path:
    document = {"schema": SCHEMA, "run": run, "target": target, "summary": summarise(entries),
                "results": entries}
    path = target_dir / "results.json"
    path.write_text(json.dumps(document, indent=2) + "\n")
    return path
