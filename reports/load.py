"""Find and read results.json documents (the format is harness/RESULTS.md)."""

import json
import os
from dataclasses import dataclass, replace
from pathlib import Path

from contract.names import RESULTS_SCHEMA as SCHEMA
from contract.names import result_id
from contract.names import split_gtest_name as split_name

FILENAME = "results.json"
DIR_HINT = ("pass a run directory (<out>), a target directory (<out>/<target>), "
            "or a folder holding several jobs' result folders")


class ReportInputError(Exception):
    """An input the report cannot be built from; the message names the file and the fix."""


@dataclass(frozen=True)
class ResultSet:
    path: Path  # the results.json file
    doc: dict

    @property
    def base_dir(self) -> Path:
        # Paths inside the document are relative to the directory that holds it.
        return self.path.parent

    @property
    def results(self) -> list[dict]:
        return self.doc["results"]


def load_result_sets(result_dirs: list[Path]) -> list[ResultSet]:
    """Every results.json in result_dirs, each file once; shards of one target merged."""
    if not result_dirs:
        raise ReportInputError(f"no result directories given; {DIR_HINT}")
    files = {}
    for result_dir in result_dirs:
        for path in find_results_files(Path(result_dir)):
            files.setdefault(path.resolve(), path)
    return merge_shards([read_result_set(path) for path in files.values()])


def find_results_files(result_dir: Path) -> list[Path]:
    """results.json in result_dir itself (a target dir) or anywhere below it (a run dir,
    or a folder of CI jobs' artifacts)."""
    if not result_dir.is_dir():
        raise ReportInputError(f"{result_dir}: no such directory; {DIR_HINT}")
    direct = result_dir / FILENAME
    if direct.is_file():
        return [direct]
    found = sorted(result_dir.rglob(FILENAME))
    if not found:
        raise ReportInputError(
            f"{result_dir}: no {FILENAME} in it or in its subdirectories; "
            f"{DIR_HINT}, or run the harness first"
        )
    return found


def read_result_set(path: Path) -> ResultSet:
    try:
        doc = json.loads(path.read_text(encoding="utf-8"))
    except OSError as error:
        raise ReportInputError(f"{path}: cannot read ({error.strerror})") from error
    except ValueError as error:
        raise ReportInputError(
            f"{path}: not valid JSON ({error}); re-run the harness for this target or leave it out"
        ) from error
    _check_document(path, doc)
    return ResultSet(path, doc)


def _ids_from_gtest_names(doc: dict) -> None:
    """Schema 1 named a result by its GoogleTest name ("S1/SelfConnect.S1a_Explicit/ipv4_loopback"),
    schema 2 by its result id ("S1a/ipv4_loopback"): the only difference, rewritten in place."""
    for result in doc.get("results") or []:
        if isinstance(result, dict) and isinstance(result.get("id"), str) and isinstance(result.get("scenario"), str):
            result["gtest"] = result["id"]
            result["id"] = result_id(result["scenario"], split_name(result["id"])[1])
    doc["schema"] = SCHEMA


_UPGRADES = {"tcprepro-results/1": _ids_from_gtest_names}


def _check_document(path: Path, doc) -> None:
    # The schema is checked first: a newer schema may have moved everything else.
    schema = doc.get("schema") if isinstance(doc, dict) else None
    if schema in _UPGRADES:
        _UPGRADES[schema](doc)
        schema = doc["schema"]
    if schema != SCHEMA:
        raise ReportInputError(
            f"{path}: unknown schema {schema!r}, this reader understands {SCHEMA!r}; "
            "render it with the reports/ of the tcprepro revision that wrote it, or re-run the harness"
        )
    results = doc.get("results")
    if not isinstance(results, list) or not all(
        isinstance(result, dict) and isinstance(result.get("id"), str) for result in results
    ):
        raise ReportInputError(
            f"{path}: 'results' must be a list of objects with a string 'id'; "
            "re-run the harness for this target"
        )


def _target_identity(doc: dict) -> tuple:
    """Name, release and upstream version: not `uname -v`, which a guest that failed
    before its harness ran never reported (it is judged by the package's version)."""
    target = doc.get("target") or {}
    kernel = target.get("kernel") or {}
    return target.get("name"), kernel.get("release"), kernel.get("upstream")


def merge_shards(sets: list[ResultSet]) -> list[ResultSet]:
    """Result sets of one target (same name and kernel) whose results do not overlap
    are one run split into jobs (--shard K/N, or separate selections): merged into the
    first, with evidence paths rebased onto its folder.
    Sets that share a result id are separate runs and stay apart."""
    merged: list[ResultSet] = []
    for result_set in sets:
        into = next((i for i, m in enumerate(merged)
                     if _target_identity(m.doc) == _target_identity(result_set.doc)
                     and not {r["id"] for r in m.results} & {r["id"] for r in result_set.results}), None)
        if into is None:
            merged.append(result_set)
        else:
            merged[into] = _merged(merged[into], result_set)
    return merged


def _rebased(result: dict, source: Path, base: Path) -> dict:
    def rebase(path: str) -> str:
        return os.path.relpath(source / path, base)
    out = dict(result)
    out["evidence"] = [{**item, "path": rebase(item["path"])} for item in result.get("evidence") or []]
    if result.get("log"):
        out["log"] = rebase(result["log"])
    return out


def _merged_target(first: dict, other: dict) -> dict:
    """One column for the kernel: described by a shard whose guest ran, with every
    shard's guest error and failed boots kept (a failed shard says so in the column)."""
    target = dict(other if first.get("error") and not other.get("error") else first)
    errors = list(dict.fromkeys(e for e in (first.get("error"), other.get("error")) if e))
    if errors:
        target["error"] = "; ".join(errors)
    failed_boots = list(first.get("failed_boots") or []) + list(other.get("failed_boots") or [])
    if failed_boots:
        target["failed_boots"] = failed_boots
    return target


def _merged(first: ResultSet, other: ResultSet) -> ResultSet:
    doc = dict(first.doc)
    results = list(first.results) + [_rebased(r, other.base_dir, first.base_dir) for r in other.results]
    doc["results"] = results
    shards = [s for s in (first.doc["run"].get("shards") or [first.doc["run"].get("shard")]) if s]
    shards += [s for s in [other.doc["run"].get("shard")] if s]
    doc["run"] = {**first.doc["run"], "shards": sorted(set(shards)),
                  "merged_from": list(first.doc["run"].get("merged_from") or [str(first.path)]) + [str(other.path)],
                  "wall_seconds": max(first.doc["run"].get("wall_seconds") or 0, other.doc["run"].get("wall_seconds") or 0)}
    doc["run"].pop("shard", None)
    doc["target"] = _merged_target(first.doc.get("target") or {}, other.doc.get("target") or {})
    if "summary" in doc:
        doc["summary"] = {"total": len(results)}
    return replace(first, doc=doc)
