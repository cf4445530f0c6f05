"""Small results.json documents written the way the harness lays them out."""

import json
from pathlib import Path

SCRIPT = "<script>alert(1)</script>"
COMMIT = "23e89e8ee7be tcp: Don't drop SYN+ACK for simultaneous connect() (v6.11)"


def result(result_id: str, scenario: str, outcome: str = "passed", *, observations=None,
           claim: str = "holds", verdict: str = "as_expected", mismatches=(), reason=None,
           evidence: bool = True) -> dict:
    ran = outcome == "passed"
    return {
        "id": result_id,
        "scenario": scenario,
        "family": scenario[:2],
        "title": f"title of {scenario}",
        "variant": {"family": "ipv4", "address": "loopback"},
        "outcome": outcome,
        "reason": reason,
        "duration_seconds": 0.2,
        "impairment_backend": None,
        "observations": (observations or {}) if ran else {},
        "sysctls": {"net.ipv4.ip_local_port_range": "40000 40015"},
        "evidence": [{"kind": "pcap", "path": f"evidence/{result_id}/client.pcap",
                      "namespace": "client", "description": "every packet"}] if evidence else [],
        "claim": {"text": f"claim of {scenario}", "verdict": claim if ran else "unknown"},
        "expectation": {"verdict": verdict if ran else "none", "kernels": ">=6.11",
                        "source": COMMIT, "mismatches": list(mismatches), "note": None},
        "log": f"evidence/{result_id}/gtest.log",
    }


def standard_results(**s1a_overrides) -> list[dict]:
    """One result of every kind; keyword arguments change the S1a result only."""
    s1a = dict(observations={"connect_errno": "0", "local_equals_peer": True,
                             "rtt_ms": list(range(10)), "banner": SCRIPT})
    s1a.update(s1a_overrides)
    return [
        result("S1_SelfConnect.S1a_Explicit/ipv4_loopback", "S1a", **s1a),
        result("S2_Rst.S2b_Challenge/ipv6", "S2b", observations={"challenge_ack_delta": 1},
               claim="refuted", verdict="unexpected",
               mismatches=[{"observation": "challenge_ack_delta", "expected": 0, "observed": 1}]),
        result("S3_Loss.S3a_Netem/ipv4", "S3a", "skipped", reason="needs nfqueue"),
        result("S3_Loss.S3b_Queue/ipv4", "S3b", "error", reason="case program timed out"),
    ]


def write_target(run_dir: Path, name: str, upstream: str, results: list[dict],
                 *, make_evidence: bool = True) -> Path:
    """<run_dir>/<name>/results.json plus the evidence files it names."""
    target_dir = run_dir / name
    target_dir.mkdir(parents=True)
    doc = {
        "schema": "tcprepro-results/1",
        "run": {"id": "20261122-030501", "started": "2026-11-22T03:05:01Z",
                "finished": "2026-11-22T03:05:09Z", "wall_seconds": 8.2,
                "command": ["./tcprepro", "run"], "selection": None, "jobs": 2,
                "tcprepro_revision": "v0.1-3-gabcdef0"},
        "target": {"name": name, "accelerator": None,
                   "kernel": {"release": f"{upstream}-test", "version": "#1 SMP", "upstream": upstream,
                              "machine": "x86_64"}},
        "summary": {},
        "results": results,
    }
    (target_dir / "results.json").write_text(json.dumps(doc), encoding="utf-8")
    if make_evidence:
        for path in _evidence_paths(results):
            (target_dir / path).parent.mkdir(parents=True, exist_ok=True)
            (target_dir / path).write_text("evidence", encoding="utf-8")
    return target_dir


def _evidence_paths(results: list[dict]) -> list[str]:
    return [e["path"] for r in results for e in r["evidence"]] + [r["log"] for r in results]
