"""`./tcprepro compare BASE NEW`: what changed between two sets of results.

Each side is one or more result folders (a run, a target, or many CI jobs'
artifacts; shards of one target are merged). Targets pair by name; when each
side has a single target they pair whatever their names (a nightly kernel
against the last known-good one). Results pair by id, and each is:

    same      nothing the gate compares differs
    changed   the outcome, the expectation verdict, the claim verdict, or an
              observation differs (old -> new)
    new       only in NEW
    gone      only in BASE (NEW lost coverage: incomplete)

Observations are compared the way the report compares kernels: a behaviour (an
errno, a state, a counter delta, an exchange) by value; a measurement (a timing,
a share, a sample of ports, a count of retries: reports/observations.py, or an
observation the catalogue judges by bounds) by the expectations that judge it
and whether it met them, never by its value.

Timings (each result's duration and timing observations) are listed when they
moved by more than TIMING_TOLERANCE, never between TCG-emulated and real
hardware, and never change the exit status: a slower machine is not a change.
So is a claim verdict that only a measurement flipped (a wait either side of
the claim's bound): listed with the timings.
Exit: 1 when a result changed, else 4 when one is gone, else 0.
"""
from __future__ import annotations

import json
import pathlib
import sys

from cli.common import UsageError, _check_result_dirs
from harness.judge import catalogue, gate, judge
from reports.differences import verdict_class
from reports.load import ReportInputError, load_result_sets
from reports.observations import is_timing, measured_keys
from reports.values import canonical, short_text

SCHEMA = "tcprepro-compare/1"
# A timing is listed as moved when new/old leaves [1/(1+t), 1+t] and by more than the floor.
TIMING_TOLERANCE = 0.5
TIMING_FLOOR_SECONDS = 0.05
SAME, CHANGED, NEW, GONE = "same", "changed", "new", "gone"


class CompareInputError(ValueError):
    """A side that cannot be compared: printed as a usage error (exit 2)."""


def _load(dirs: list[pathlib.Path]) -> list[dict]:
    try:
        return [s.doc for s in load_result_sets(dirs)]
    except ReportInputError as error:
        raise CompareInputError(str(error)) from None


def _pairs(base: list[dict], new: list[dict]) -> list[tuple[dict | None, dict | None]]:
    if len(base) == 1 and len(new) == 1:
        return [(base[0], new[0])]
    by_name = {d["target"]["name"]: d for d in new}
    names = {d["target"]["name"] for d in base}
    if len(names) < len(base) or len(by_name) < len(new):
        raise CompareInputError("a side holds two runs of the same target: compare them one pair at a time")
    pairs = [(d, by_name.get(d["target"]["name"])) for d in base]
    return pairs + [(None, d) for d in new if d["target"]["name"] not in names]


def _tcg(document: dict) -> bool:
    return document["target"].get("accelerator") == "tcg"


def _verdict_class(entry: dict) -> str:
    return verdict_class(entry["expectation"]["verdict"], bool(entry["expectation"].get("mismatches")))


def _bounded(scenario_id: str, index: dict) -> set[str]:
    """Observations the catalogue judges by a table of bounds: measurements."""
    scenario = index.get(scenario_id)
    if scenario is None:
        return set()
    tables = [scenario.claim_holds_when] + [e.observations for e in scenario.expectations]
    return {key for table in tables for key, condition in table.items() if isinstance(condition, dict)}


def _compared_keys(old: dict, new: dict) -> list[str]:
    keys = list(old.get("key_observations") or []) + list(new.get("key_observations") or [])
    for entry in (old, new):
        keys += [k for applied in entry["expectation"].get("applied") or [] for k in applied.get("observations") or []]
        keys += [m["observation"] for m in entry["expectation"].get("mismatches") or []]
    return [k for k in dict.fromkeys(keys) if not k.startswith("lacks ")]


def _judged_by(entry: dict, key: str) -> tuple:
    applied = sorted(a["kernels"] for a in entry["expectation"].get("applied") or [] if key in (a.get("observations") or []))
    met = key not in {m["observation"] for m in entry["expectation"].get("mismatches") or []}
    return tuple(applied), met


def _has_float(value) -> bool:
    if isinstance(value, float):
        return True
    if isinstance(value, dict):
        return any(_has_float(v) for v in value.values())
    if isinstance(value, list):
        return any(_has_float(v) for v in value)
    return False


def _claim_flipped_by(old: dict, new: dict, scenario) -> set[str]:
    """The claim's conditions met on one side and not on the other."""
    if scenario is None:
        return set()
    return {key for key, condition in scenario.claim_holds_when.items()
            if bool(judge.mismatches({key: condition}, old["observations"]))
            != bool(judge.mismatches({key: condition}, new["observations"]))}


def _differences(old: dict, new: dict, measured: set[str], scenario=None) -> tuple[list[dict], list[dict]]:
    """(differences, noise): noise is a claim verdict that only a measurement's value flipped
    (e.g. a wait on either side of a bound), which is timing, not behaviour."""
    out, noise = [], []
    for what, a, b in [("outcome", old["outcome"], new["outcome"]),
                       ("expectation verdict", _verdict_class(old), _verdict_class(new)),
                       ("claim verdict", old["claim"]["verdict"], new["claim"]["verdict"])]:
        if a == b:
            continue
        flipped_by = _claim_flipped_by(old, new, scenario) if what == "claim verdict" else set()
        if flipped_by and flipped_by <= measured:
            noise.append({"what": f"claim verdict (by {', '.join(sorted(flipped_by))})", "old": a, "new": b})
        else:
            out.append({"what": what, "old": a, "new": b})
    if old["outcome"] != "passed" or new["outcome"] != "passed":
        return out, noise
    for key in _compared_keys(old, new):
        a, b = old["observations"].get(key), new["observations"].get(key)
        if key in measured or _has_float(a) or _has_float(b):
            judged_a, judged_b = _judged_by(old, key), _judged_by(new, key)
            if judged_a != judged_b:
                out.append({"what": key, "kind": "measurement", "old": short_text(a), "new": short_text(b),
                            "judged_by": {"old": judged_a[0], "new": judged_b[0]},
                            "met": {"old": judged_a[1], "new": judged_b[1]}})
        elif canonical(a) != canonical(b):
            out.append({"what": key, "kind": "behaviour", "old": a, "new": b})
    return out, noise


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _moved(seconds_a: float, seconds_b: float) -> bool:
    if abs(seconds_a - seconds_b) <= TIMING_FLOOR_SECONDS:
        return False
    low, high = sorted((abs(seconds_a), abs(seconds_b)))
    return low == 0 or high / low > 1 + TIMING_TOLERANCE


def _timings(old: dict, new: dict) -> list[dict]:
    out = []
    candidates = [("duration_seconds", old["duration_seconds"], new["duration_seconds"], 1.0)]
    candidates += [(key, old["observations"].get(key), new["observations"].get(key),
                    0.001 if key.endswith("_ms") else 1.0)
                   for key in old["observations"] if is_timing(key) and key in new["observations"]]
    for key, a, b, to_seconds in candidates:
        if _number(a) and _number(b) and _moved(a * to_seconds, b * to_seconds):
            out.append({"what": key, "old": a, "new": b})
    return out


def _scenario_measured(documents: list[dict]) -> dict[str, set[str]]:
    """Per scenario, its keys that are measurements by the report's rule (over every variant)."""
    per_scenario: dict[str, list[list[dict]]] = {}
    for document in documents:
        grouped: dict[str, list[dict]] = {}
        for entry in document["results"]:
            if entry["outcome"] == "passed":
                grouped.setdefault(entry["scenario"], []).append(entry)
        for scenario, entries in grouped.items():
            per_scenario.setdefault(scenario, []).append(entries)
    out = {}
    for scenario, per_kernel in per_scenario.items():
        keys = list(dict.fromkeys(k for entries in per_kernel for e in entries for k in _compared_keys(e, e)))
        out[scenario] = measured_keys(keys, per_kernel)
    return out


def _describe(document: dict | None) -> dict | None:
    if document is None:
        return None
    target = document["target"]
    return {"target": target["name"], "release": target["kernel"]["release"],
            "upstream": target["kernel"].get("upstream"), "accelerator": target.get("accelerator"),
            "run": document["run"].get("id"), "shards": document["run"].get("shards")}


def compare(base_dirs: list[pathlib.Path], new_dirs: list[pathlib.Path]) -> dict:
    base, new = _load(base_dirs), _load(new_dirs)
    try:
        index = catalogue.scenario_index(catalogue.load())
    except catalogue.CatalogueError:
        index = {}
    measured = _scenario_measured(base + new)
    targets = []
    for old_doc, new_doc in _pairs(base, new):
        old_results = {r["id"]: r for r in (old_doc or {"results": []})["results"]}
        new_results = {r["id"]: r for r in (new_doc or {"results": []})["results"]}
        timings_compared = bool(old_doc and new_doc and _tcg(old_doc) == _tcg(new_doc))
        rows = []
        for rid in list(old_results) + [r for r in new_results if r not in old_results]:
            a, b = old_results.get(rid), new_results.get(rid)
            if a is None or b is None:
                rows.append({"id": rid, "status": NEW if a is None else GONE})
                continue
            keys = measured.get(a["scenario"], set()) | _bounded(a["scenario"], index)
            differences, noise = _differences(a, b, keys, index.get(a["scenario"]))
            row = {"id": rid, "status": CHANGED if differences else SAME, "differences": differences}
            if timings_compared:
                row["timings"] = _timings(a, b) + noise
            rows.append(row)
        notes = []
        if old_doc and new_doc and not timings_compared:
            notes.append("timings not compared: one side ran under TCG (emulated), the other on real hardware")
        for side, doc in (("base", old_doc), ("new", new_doc)):
            shards = (doc or {}).get("run", {}).get("shards") or []
            total = {int(s.split("/")[1]) for s in shards}
            if shards and (len(total) != 1 or len(shards) != next(iter(total))):
                notes.append(f"{side}: shards {', '.join(shards)} do not make a whole run: results may be gone")
        targets.append({"base": _describe(old_doc), "new": _describe(new_doc), "notes": notes, "results": rows})
    counts = {status: sum(1 for t in targets for r in t["results"] if r["status"] == status)
              for status in (SAME, CHANGED, NEW, GONE)}
    statuses = [gate.PASS] + ([gate.CHANGED] if counts[CHANGED] else []) + ([gate.INCOMPLETE] if counts[GONE] else [])
    return {"schema": SCHEMA, "base": [str(d) for d in base_dirs], "new": [str(d) for d in new_dirs],
            "timing_tolerance": {"relative": TIMING_TOLERANCE, "floor_seconds": TIMING_FLOOR_SECONDS,
                                 "affects_exit_status": False},
            "counts": counts, "exit_status": gate.exit_status(statuses), "targets": targets}


def _side(described: dict | None) -> str:
    if described is None:
        return "(absent)"
    accel = f", {described['accelerator']}" if described["accelerator"] else ""
    return f"{described['target']} {described['upstream']} ({described['release']}{accel})"


def _cell(value) -> str:
    text = value if isinstance(value, str) else json.dumps(value)
    return text.replace("|", "\\|")


def markdown(comparison: dict) -> str:
    counts = comparison["counts"]
    lines = ["# tcprepro compare", "",
             f"BASE: {', '.join(comparison['base'])}  ", f"NEW: {', '.join(comparison['new'])}", "",
             f"{counts['same']} same, {counts['changed']} changed, {counts['new']} new, {counts['gone']} gone; "
             f"exit status {comparison['exit_status']}.", "",
             f"Timings are listed when they moved by more than {int(TIMING_TOLERANCE * 100)} % "
             f"(and {TIMING_FLOOR_SECONDS * 1000:.0f} ms); they never change the exit status."]
    for target in comparison["targets"]:
        lines += ["", f"## {_side(target['base'])} -> {_side(target['new'])}", ""]
        lines += [f"- {note}" for note in target["notes"]]
        changed = [r for r in target["results"] if r["status"] == CHANGED]
        if changed:
            lines += ["", "| result | what | old | new |", "| --- | --- | --- | --- |"]
            for row in changed:
                for difference in row["differences"]:
                    old, new = difference["old"], difference["new"]
                    if difference.get("kind") == "measurement":
                        old = f"{_cell(old)} (judged by {', '.join(difference['judged_by']['old']) or 'nothing'})"
                        new = f"{_cell(new)} (judged by {', '.join(difference['judged_by']['new']) or 'nothing'})"
                    lines.append(f"| {row['id']} | {difference['what']} | {_cell(old)} | {_cell(new)} |")
        for status in (NEW, GONE):
            ids = [r["id"] for r in target["results"] if r["status"] == status]
            if ids:
                lines += ["", f"{status}: " + ", ".join(ids)]
        moved = [(r["id"], t) for r in target["results"] for t in r.get("timings") or []]
        if moved:
            lines += ["", "| timing moved | what | old | new |", "| --- | --- | --- | --- |"]
            lines += [f"| {rid} | {t['what']} | {t['old']} | {t['new']} |" for rid, t in moved]
    return "\n".join(lines) + "\n"


def write(comparison: dict, out_dir: pathlib.Path) -> dict[str, pathlib.Path]:
    out_dir.mkdir(parents=True, exist_ok=True)
    paths = {"json": out_dir / "compare.json", "md": out_dir / "compare.md"}
    paths["json"].write_text(json.dumps(comparison, indent=1) + "\n")
    paths["md"].write_text(markdown(comparison))
    return paths


def cmd_compare(args) -> int:
    _check_result_dirs("compare", args.base + args.new)
    try:
        comparison = compare(args.base, args.new)
    except CompareInputError as error:
        raise UsageError(str(error)) from None
    if args.out:
        written = write(comparison, args.out)
        print(f"compare: {written['json']}\n         {written['md']}", file=sys.stderr)
    sys.stdout.write(json.dumps(comparison, indent=1) + "\n" if args.json else markdown(comparison))
    return comparison["exit_status"]

