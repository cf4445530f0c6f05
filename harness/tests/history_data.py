"""Runs written as the harness writes them, for the history store's tests."""
from __future__ import annotations

import json
import pathlib

KERNELS = {  # name -> (release, version string, upstream)
    "debian:bullseye": ("5.10.0-32-amd64", "#1 SMP Debian 5.10.223-1 (2024-08-10)", "5.10.223"),
    "debian:bookworm": ("6.1.0-50-amd64", "#1 SMP PREEMPT_DYNAMIC Debian 6.1.176-1 (2026-07-02)", "6.1.176"),
    "host": ("6.18.44-test", "#1 SMP PREEMPT_DYNAMIC @0", "6.18.44"),
}


def entry(rid: str, observations: dict, *, judged: dict | None = None, verdict: str = "as_expected",
          outcome: str = "passed", claim: str = "holds", key=None, repeats=None) -> dict:
    """A result; judged maps an observation to True (met) or False (mismatched)."""
    judged = judged or {}
    mismatches = [{"observation": k, "expected": "x", "observed": observations.get(k)} for k, met in judged.items()
                  if not met]
    status = {"as_expected": "pass", "unexpected": "changed", "none": "incomplete"}[verdict]
    if outcome == "error":
        status = "error"
    scenario = rid.split("/")[0]
    out = {
        "id": rid, "scenario": scenario, "family": scenario[:2], "title": "t", "variant": {},
        "outcome": outcome, "reason": "crashed" if outcome == "error" else None, "duration_seconds": 0.2,
        "observations": observations if outcome == "passed" else {},
        "key_observations": key if key is not None else list(observations),
        "evidence": [{"kind": "pcap", "path": f"evidence/{rid}/client.pcap", "description": "packets"}],
        "claim": {"text": "c", "verdict": claim if outcome == "passed" else "unknown"},
        "expectation": {"verdict": verdict, "kernels": ">=3.6", "source": "abc123 subject",
                        "applied": [{"kernels": ">=3.6", "source": "abc123 subject", "observations": list(judged)}],
                        "mismatches": mismatches, "note": None},
        "gate": {"status": status, "why": None, "relaxed_by": None},
        "log": f"evidence/{rid}/gtest.log",
    }
    if repeats:
        out["repeats"] = repeats
    return out


def write_run(root: pathlib.Path, run_id: str, kernel: str, results: list[dict], *, minute: int = 0,
              selection: str | None = None, configuration: str = "defaults", sysctls=None) -> pathlib.Path:
    """<root>/<run_id>/<target>/results.json (and its evidence files); returns the run folder."""
    release, version, upstream = KERNELS[kernel]
    folder = kernel.replace(":", "-") + ("" if configuration == "defaults" else f"@{configuration}")
    target = root / run_id / folder
    target.mkdir(parents=True)
    doc = {"schema": "tcprepro-results/2",
           "run": {"id": run_id, "started": f"2026-12-01T{minute // 60:02d}:{minute % 60:02d}:00+00:00",
                   "selection": selection, "repeat": 1, "tcprepro_revision": "v1"},
           "target": {"name": kernel, "accelerator": None if kernel == "host" else "tcg",
                      "packages": [] if kernel == "host" else [f"linux-image-{release}={version.split()[-2]}"],
                      "configuration": {"name": configuration, "sysctls": sysctls or {}, "source": None},
                      "kernel": {"release": release, "version": version, "upstream": upstream, "machine": "x86_64"}},
           "results": results}
    (target / "results.json").write_text(json.dumps(doc))
    for result in results:
        for item in result["evidence"]:
            (target / item["path"]).parent.mkdir(parents=True, exist_ok=True)
            (target / item["path"]).write_text("pcap")
    return root / run_id
