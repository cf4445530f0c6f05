"""`history add DIR...`: results.json documents into the store.

The folders are read by the report's reader (reports/load.py: run, target, shard or
CI-job folders; shards of one target merged) before the store is opened, so a folder
without results writes nothing. Each target of a run is one transaction: its run row
(unique by run id, target and configuration) and its results (unique per run, result
and draw) are inserted where missing, so adding the same run twice, or from two
processes at once, leaves one copy.
"""
from __future__ import annotations

import datetime
import json
from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite

from reports.load import ResultSet

from . import store as schema


@dataclass(frozen=True)
class Added:
    """What one target of a run added."""
    run_id: str
    target: str
    configuration: str
    release: str
    results: int  # rows new to the store (a result and draw)
    already: int  # rows the store held before

    def text(self) -> str:
        where = f"{self.target}" + ("" if self.configuration == "defaults" else f" @ {self.configuration}")
        state = f"{self.results} results added" + (f", {self.already} already there" if self.already else "")
        return f"{self.run_id} {where} ({self.release}): {state}"


def canonical(value) -> str:
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


def run_row(rs: ResultSet) -> dict:
    doc = rs.doc
    run, target = doc.get("run") or {}, doc.get("target") or {}
    kernel = target.get("kernel") or {}
    configuration = target.get("configuration") or {}
    return {
        "run_id": str(run.get("id") or rs.path.parent.parent.name),
        "target": str(target.get("name") or rs.base_dir.name),
        "configuration": str(configuration.get("name") or "defaults"),
        "sysctls": canonical(configuration.get("sysctls") or {}),
        "started": run.get("started"), "finished": run.get("finished"),
        "revision": run.get("tcprepro_revision"), "selection": run.get("selection"),
        "repeat": int(run.get("repeat") or 1), "accelerator": target.get("accelerator"),
        "release": str(kernel.get("release") or "unknown"), "kernel_version": str(kernel.get("version") or ""),
        "upstream": kernel.get("upstream"), "machine": kernel.get("machine"),
        "packages": canonical(target.get("packages") or []),
        "folder": str(rs.base_dir.resolve()),
        "added": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
    }


def _judged(entry: dict) -> set[str]:
    expectation = entry.get("expectation") or {}
    keys = {k for applied in expectation.get("applied") or [] for k in applied.get("observations") or []}
    return keys | _mismatched(entry)


def _mismatched(entry: dict) -> set[str]:
    return {m.get("observation") for m in (entry.get("expectation") or {}).get("mismatches") or []}


def _draws(entry: dict) -> list[tuple[int, dict, dict[str, tuple]]]:
    """(draw, fields, {key: (value, judged, met)}) for draw 1 (the entry) and draws 2..N (its repeats block)."""
    judged, mismatched = _judged(entry), _mismatched(entry)
    first = {key: (value, key in judged, (key not in mismatched) if key in judged else None)
             for key, value in (entry.get("observations") or {}).items()}
    gate = (entry.get("gate") or {}).get("status")
    draws = [(1, {"outcome": entry.get("outcome"), "verdict": (entry.get("expectation") or {}).get("verdict"),
                  "claim": (entry.get("claim") or {}).get("verdict"), "gate": gate}, first)]
    repeats = entry.get("repeats") or {}
    for index in range(1, int(repeats.get("runs") or 1)):
        values = {}
        for key, seen in (repeats.get("observations") or {}).items():
            value = seen.get("value") if seen.get("stable") else (seen.get("values") or [None] * (index + 1))[index]
            is_judged = bool(seen.get("judged")) or key in judged
            # A judgement the same in every draw is draw 1's; otherwise this draw's is not recorded.
            met = first.get(key, (None, False, None))[2] if is_judged and seen.get("judgement_stable", True) else None
            values[key] = (value, is_judged, met)
        fields = {"outcome": (repeats.get("outcomes") or [None] * (index + 1))[index],
                  "verdict": (repeats.get("verdicts") or [None] * (index + 1))[index], "claim": None, "gate": None}
        draws.append((index + 1, fields, values))
    return draws


def result_rows(rs: ResultSet) -> list[tuple[dict, dict[str, tuple]]]:
    rows = []
    for entry in rs.results:
        expectation = entry.get("expectation") or {}
        evidence = [{"kind": item.get("kind"), "path": str((rs.base_dir / item["path"]).resolve()),
                     "description": item.get("description")}
                    for item in entry.get("evidence") or [] if item.get("path")]
        common = {
            "result_id": entry["id"], "scenario": str(entry.get("scenario") or entry["id"].split("/")[0]),
            "reason": entry.get("reason"), "duration": entry.get("duration_seconds"),
            "expectation": canonical({k: expectation.get(k) for k in ("kernels", "source", "applied", "mismatches", "note")}),
            "key_observations": canonical(entry.get("key_observations") or []),
            "evidence": canonical(evidence),
            "log": str((rs.base_dir / entry["log"]).resolve()) if entry.get("log") else None,
        }
        for draw, fields, values in _draws(entry):
            rows.append(({**common, **fields, "draw": draw}, values))
    return rows


def _insert(connection, table: sa.Table):
    dialect = postgresql if connection.dialect.name == "postgresql" else sqlite
    return dialect.insert(table).on_conflict_do_nothing()


def add(store: schema.Store, result_sets: list[ResultSet]) -> list[Added]:
    """Adds every result set, one transaction each; returns what each added."""
    return [_add_one(store, rs) for rs in result_sets]


def _add_one(store: schema.Store, rs: ResultSet) -> Added:
    run = run_row(rs)
    rows = result_rows(rs)
    runs, results, observations = schema.runs, schema.results, schema.observations
    identity = sa.and_(runs.c.run_id == run["run_id"], runs.c.target == run["target"],
                       runs.c.configuration == run["configuration"])
    with store.write() as connection:
        connection.execute(_insert(connection, runs), [run])
        run_key = connection.execute(sa.select(runs.c.id).where(identity)).scalar_one()
        held = {(r.result_id, r.draw) for r in connection.execute(
            sa.select(results.c.result_id, results.c.draw).where(results.c.run == run_key))}
        new = [(fields, values) for fields, values in rows if (fields["result_id"], fields["draw"]) not in held]
        if new:
            connection.execute(_insert(connection, results), [{**fields, "run": run_key} for fields, _ in new])
            ids = {(r.result_id, r.draw): r.id for r in connection.execute(
                sa.select(results.c.id, results.c.result_id, results.c.draw).where(results.c.run == run_key))}
            observed = [{"result": ids[(fields["result_id"], fields["draw"])], "key": key, "value": canonical(value),
                         "judged": judged, "met": met}
                        for fields, values in new for key, (value, judged, met) in values.items()]
            if observed:
                connection.execute(_insert(connection, observations), observed)
    return Added(run["run_id"], run["target"], run["configuration"], run["release"], len(new), len(rows) - len(new))
