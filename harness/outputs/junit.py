"""junit.xml for one target, from its results.json.

The testsuite and every classname name the kernel, so files of several kernels
can be merged by a CI. Each testcase carries its own duration (the run's time
is their sum, as JUnit readers add them up); a failure carries why, the
mismatches and the evidence paths (relative to the target folder).
"""
from __future__ import annotations

import pathlib
import re
import xml.etree.ElementTree as ET

from harness.judge import gate

FILENAME = "junit.xml"


def suite_name(document: dict) -> str:
    target = document["target"]
    kernel = target["kernel"]
    return f"tcprepro {target['name']} (kernel {kernel['release']}, upstream {kernel.get('upstream')})"


def class_prefix(document: dict) -> str:
    target = document["target"]
    # Dots separate packages in JUnit readers: the version is written with underscores.
    version = str(target["kernel"].get("upstream") or target["kernel"]["release"]).replace(".", "_")
    return f"tcprepro.{re.sub(r'[^A-Za-z0-9_-]', '-', target['name'])}_{version}"


def _failure_text(entry: dict) -> str:
    lines = [entry["gate"]["why"] or ""]
    lines += [f"{m['observation']}: expected {m['expected']!r}, observed {m['observed']!r}"
              for m in entry["expectation"].get("mismatches", [])]
    if entry["expectation"].get("source"):
        lines.append(f"expectation: {entry['expectation']['kernels']}: {entry['expectation']['source']}")
    lines += [f"evidence: {item['path']}" for item in entry.get("evidence", [])]
    lines.append(f"log: {entry['log']}")
    return "\n".join(lines)


def build(document: dict) -> ET.Element:
    entries = document["results"]
    total_time = round(sum(e["duration_seconds"] for e in entries), 3)
    counts = {"failures": 0, "errors": 0, "skipped": 0}
    suite = ET.Element("testsuite", name=suite_name(document), tests=str(len(entries)),
                       timestamp=document["run"].get("started", ""), time=f"{total_time:.3f}")
    properties = ET.SubElement(suite, "properties")
    target = document["target"]
    for name, value in [("target", target["name"]), ("kernel.release", target["kernel"]["release"]),
                        ("kernel.version", target["kernel"].get("version")),
                        ("kernel.upstream", target["kernel"].get("upstream")),
                        ("accelerator", target.get("accelerator")), ("run.id", document["run"].get("id")),
                        ("run.wall_seconds", document["run"].get("wall_seconds")),
                        ("run.shard", document["run"].get("shard")),
                        ("gate.relaxed_by", " ".join(document["run"].get("gate_relaxed_by") or []) or None)]:
        if value is not None:
            ET.SubElement(properties, "property", name=name, value=str(value))
    prefix = class_prefix(document)
    for entry in entries:
        case = ET.SubElement(suite, "testcase", classname=f"{prefix}.{entry['family']}.{entry['scenario']}",
                             name=entry["id"], time=f"{entry['duration_seconds']:.3f}")
        verdict = entry["gate"]
        if verdict["status"] == gate.PASS:
            if entry["outcome"] == "skipped":
                counts["skipped"] += 1
                ET.SubElement(case, "skipped", message=verdict["why"] or "")
            elif verdict["relaxed_by"]:
                ET.SubElement(case, "system-out").text = verdict["why"]
        elif verdict["status"] == gate.CHANGED:
            counts["failures"] += 1
            ET.SubElement(case, "failure", message=verdict["why"], type="changed").text = _failure_text(entry)
        else:  # error or incomplete: the result could not be judged
            counts["errors"] += 1
            ET.SubElement(case, "error", message=verdict["why"], type=verdict["status"]).text = _failure_text(entry)
    for name, value in counts.items():
        suite.set(name, str(value))
    return suite


def write(target_dir: pathlib.Path, document: dict) -> pathlib.Path:
    suite = build(document)
    root = ET.Element("testsuites", name="tcprepro", tests=suite.get("tests"), failures=suite.get("failures"),
                      errors=suite.get("errors"), skipped=suite.get("skipped"), time=suite.get("time"))
    root.append(suite)
    ET.indent(root)
    path = target_dir / FILENAME
    ET.ElementTree(root).write(path, encoding="utf-8", xml_declaration=True)
    return path
