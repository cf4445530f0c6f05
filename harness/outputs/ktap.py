"""results.ktap for one target: KTAP version 1 as kselftest prints it
(Documentation/dev-tools/ktap.rst): the version line, the plan, one result line
per test (`ok N name`, `not ok N name`, `ok N name # SKIP reason`), diagnostic
lines (`# ...`) before a result saying why it failed, and kselftest's totals line.
"""
from __future__ import annotations

import pathlib

from harness.judge import gate

FILENAME = "results.ktap"


def _one_line(text: str | None) -> str:
    # A directive or a diagnostic is one line; '#' would start a directive in a name.
    return " ".join((text or "").split())


def lines(document: dict) -> list[str]:
    entries = document["results"]
    target = document["target"]
    out = ["KTAP version 1",
           f"# tcprepro on {target['name']}: kernel {target['kernel']['release']} "
           f"(upstream {target['kernel'].get('upstream')})",
           f"1..{len(entries)}"]
    totals = {"pass": 0, "fail": 0, "xfail": 0, "xpass": 0, "skip": 0, "error": 0}
    for number, entry in enumerate(entries, start=1):
        name = entry["id"].replace("#", "_")
        verdict = entry["gate"]
        if verdict["status"] == gate.PASS:
            if entry["outcome"] == "skipped":
                totals["skip"] += 1
                out.append(f"ok {number} {name} # SKIP {_one_line(verdict['why'])}")
            else:
                totals["pass"] += 1
                if verdict["relaxed_by"]:
                    out.append(f"# {_one_line(verdict['why'])}")
                out.append(f"ok {number} {name}")
            continue
        totals["fail" if verdict["status"] == gate.CHANGED else "error"] += 1
        out.append(f"# {verdict['status']}: {_one_line(verdict['why'])}")
        out += [f"# evidence: {item['path']}" for item in entry.get("evidence", [])]
        out.append(f"# log: {entry['log']}")
        out.append(f"not ok {number} {name}")
    out.append("# Totals: " + " ".join(f"{key}:{value}" for key, value in totals.items()))
    return out


def write(target_dir: pathlib.Path, document: dict) -> pathlib.Path:
    path = target_dir / FILENAME
    path.write_text("\n".join(lines(document)) + "\n")
    return path
