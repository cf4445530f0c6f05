"""Small results.json documents written the way the harness lays them out."""

import json
from pathlib import Path

SCRIPT = "<script>alert(1)</script>"
COMMIT = "23e89e8ee7be tcp: Don't drop SYN+ACK for simultaneous connect() (v6.11)"
# The S1a catalogue entries, as the judge lists them in expectation.applied.
ALWAYS = {"kernels": ">=3.6", "source": "No check against saddr:sport == daddr:dport exists.",
          "observations": ["connect_errno", "state"]}
OLD_CHALLENGE = {"kernels": ">=3.6,<6.11", "source": "0c24604b68fc tcp: implement RFC 5961 4.2 (v3.6): challenge ACK.",
                 "observations": ["TcpExtTCPChallengeACK_delta"]}
NEW_CHALLENGE = {"kernels": ">=6.11", "source": COMMIT + ": the SYN-ACK is accepted directly.",
                 "observations": ["TcpExtTCPChallengeACK_delta"]}


def result(result_id: str, scenario: str, outcome: str = "passed", *, observations=None,
           claim: str = "holds", verdict: str = "as_expected", mismatches=(), reason=None,
           evidence: bool = True, variant=None, key_observations=None, applied=None, claim_kind=None) -> dict:
    """A result; `applied` (a list of expectation entries) replaces the joined kernels/source strings."""
    ran = outcome == "passed"
    return {
        "id": result_id,
        "scenario": scenario,
        "family": scenario[:2],
        "title": f"title of {scenario}",
        "variant": variant or {"family": "ipv4", "address": "loopback"},
        "outcome": outcome,
        "reason": reason,
        "duration_seconds": 0.2,
        "impairment_backend": None,
        "observations": (observations or {}) if ran else {},
        **({"key_observations": key_observations} if key_observations is not None else {}),
        "sysctls": {"net.ipv4.ip_local_port_range": "40000 40015"},
        "evidence": [{"kind": "pcap", "path": f"evidence/{result_id}/client.pcap",
                      "namespace": "client", "description": "every packet"}] if evidence else [],
        "claim": {"text": f"claim of {scenario}", "verdict": claim if ran else "unknown",
                  **({"kind": claim_kind} if claim_kind else {})},
        "expectation": _expectation(verdict if ran else "none", list(mismatches), applied),
        "log": f"evidence/{result_id}/gtest.log",
    }


def _expectation(verdict: str, mismatches: list, applied) -> dict:
    if applied is None:  # as results were written before expectation.applied existed
        return {"verdict": verdict, "kernels": ">=6.11", "source": COMMIT, "mismatches": mismatches, "note": None}
    return {"verdict": verdict, "kernels": " ; ".join(a["kernels"] for a in applied) or None,
            "source": " | ".join(a["source"] for a in applied) or None, "applied": applied,
            "mismatches": mismatches, "note": None}


def variants(**axes) -> list[dict]:
    """Every combination of the axes: variants(family=["ipv4", "ipv6"], address=["loopback", "veth"])."""
    out = [{}]
    for axis, values in axes.items():
        out = [{**v, axis: value} for v in out for value in values]
    return out


def standard_results(**s1a_overrides) -> list[dict]:
    """One result of every kind; keyword arguments change the S1a result only."""
    s1a = dict(observations={"connect_errno": "0", "local_equals_peer": True,
                             "rtt_ms": list(range(10)), "banner": SCRIPT})
    s1a.update(s1a_overrides)
    return [
        result("S1a/ipv4_loopback", "S1a", **s1a),
        result("S2_Rst.S2b_Challenge/ipv6", "S2b", observations={"challenge_ack_delta": 1},
               claim="refuted", verdict="unexpected",
               mismatches=[{"observation": "challenge_ack_delta", "expected": 0, "observed": 1}]),
        result("S3_Loss.S3a_Netem/ipv4", "S3a", "skipped", reason="needs nfqueue"),
        result("S3_Loss.S3b_Queue/ipv4", "S3b", "error", reason="case program timed out"),
    ]


def write_target(run_dir: Path, name: str, upstream: str, results: list[dict],
                 *, make_evidence: bool = True, run_id: str = "20261122-030501", dir_name: str | None = None,
                 **target_extra) -> Path:
    """<run_dir>/<name>/results.json plus the evidence files it names; target_extra goes into 'target'
    (accelerator, error, console_log, ...)."""
    target_dir = run_dir / (dir_name or name.replace(":", "-"))
    target_dir.mkdir(parents=True)
    doc = {
        "schema": "tcprepro-results/2",
        "run": {"id": run_id, "started": "2026-11-22T03:05:01Z",
                "finished": "2026-11-22T03:05:09Z", "wall_seconds": 8.2,
                "command": ["./tcprepro", "run"], "selection": None, "jobs": 2,
                "tcprepro_revision": "v0.1-3-gabcdef0"},
        "target": {"name": name, "accelerator": None,
                   "kernel": {"release": f"{upstream}-test", "version": "#1 SMP", "upstream": upstream,
                              "machine": "x86_64"}, **target_extra},
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
