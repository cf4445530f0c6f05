"""kcidb.json for a run: the results as KCIDB I/O data (kernelci/kcidb-io, schema v5.3),
so a lab can submit them to KernelCI.

Each target is one checkout (the kernel as packaged) and one build of it; each
result is one test with its status. Statuses follow the schema's meanings:
PASS (judged, as expected), FAIL (behaviour differs, or a feature the kernel
should have is missing), ERROR (the machinery failed), DONE (ran, but no
expectation covers this kernel), SKIP (the kernel lacks the feature, as the
catalogue says). Identifiers are "<origin>:<run id>:<target>[:<test id>]"; the
origin is the submitting CI system's name (run --kcidb-origin, default "tcprepro").
"""
from __future__ import annotations

import json
import pathlib
import re

from harness.judge import gate

FILENAME = "kcidb.json"
ORIGIN = "tcprepro"
ORIGIN_PATTERN = re.compile(r"^[a-z0-9_]+$")  # the schema's origin_pattern
SCHEMA_VERSION = {"major": 5, "minor": 3}
_STATUS = {gate.PASS: "PASS", gate.CHANGED: "FAIL", gate.ERROR: "ERROR", gate.INCOMPLETE: "DONE"}


def status(entry: dict) -> str:
    if entry["gate"]["status"] == gate.PASS and entry["outcome"] == "skipped":
        return "SKIP"
    return _STATUS[entry["gate"]["status"]]


def _path_part(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]", "_", text) or "_"


def test_path(entry: dict) -> str:
    """Dot-separated, each part of [A-Za-z0-9_-]: tcprepro.S1.S1a.ipv4_loopback."""
    variant = entry["id"].rpartition("/")[2] if "/" in entry["id"] else entry["id"]
    return ".".join(_path_part(part) for part in ("tcprepro", entry["family"], entry["scenario"], variant))


def _stamp(text: str | None) -> str | None:
    # results.json writes "...+00:00" or "...Z": both are RFC 3339 date-times.
    return text or None


def _drop_none(table: dict) -> dict:
    # The schema allows no nulls: a missing value is an absent property.
    return {key: value for key, value in table.items() if value is not None}


def build(documents: list[dict]) -> dict:
    checkouts, builds, tests = [], [], []
    for document in documents:
        run, target = document["run"], document["target"]
        kernel = target["kernel"]
        origin = run.get("kcidb_origin") or ORIGIN
        node = f"{origin}:{run.get('id')}:{target['name']}" + (f":shard{run['shard']}" if run.get("shard") else "")
        checkouts.append(_drop_none({
            "id": node, "origin": origin, "start_time": _stamp(run.get("started")), "valid": True,
            "comment": f"Linux {kernel.get('upstream')} ({kernel['release']}) as {target['name']}",
            "misc": _drop_none({"packages": target.get("packages"), "uname_v": kernel.get("version")}),
        }))
        builds.append(_drop_none({
            "id": node, "checkout_id": node, "origin": origin, "architecture": kernel.get("machine"),
            "comment": kernel["release"], "start_time": _stamp(run.get("started")),
            "status": "ERROR" if target.get("error") else "PASS",
            "misc": _drop_none({"accelerator": target.get("accelerator"), "error": target.get("error")}),
        }))
        for entry in document["results"]:
            tests.append(_drop_none({
                "id": f"{node}:{entry['id']}", "build_id": node, "origin": origin, "path": test_path(entry),
                "status": status(entry), "duration": float(entry["duration_seconds"]),
                "start_time": _stamp(run.get("started")),
                "comment": entry["gate"]["why"] or entry["title"],
                "environment": {"comment": f"{target['name']}, {target.get('accelerator') or 'host kernel'}"},
                "misc": _drop_none({
                    "result_id": entry["id"], "gate": entry["gate"]["status"],
                    "expectation_verdict": entry["expectation"]["verdict"],
                    "claim_verdict": entry["claim"]["verdict"],
                    "relaxed_by": entry["gate"]["relaxed_by"],
                    "mismatches": entry["expectation"].get("mismatches") or None,
                    "evidence": [item["path"] for item in entry.get("evidence", [])] or None,
                    "log": entry.get("log"),
                }),
            }))
    return {"version": dict(SCHEMA_VERSION), "checkouts": checkouts, "builds": builds, "tests": tests}


def write(out_dir: pathlib.Path, documents: list[dict]) -> pathlib.Path:
    path = out_dir / FILENAME
    path.write_text(json.dumps(build(documents), indent=1) + "\n")
    return path
