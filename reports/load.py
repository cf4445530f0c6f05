"""Find and read results.json documents (the format is harness/RESULTS.md)."""

import json
from dataclasses import dataclass
from pathlib import Path

from harness.cases import result_id
from harness.gtest_output import split_name

SCHEMA = "tcprepro-results/2"
FILENAME = "results.json"
DIR_HINT = "pass a run directory (<out>) or a target directory (<out>/<target>)"


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
    """Every results.json in result_dirs, each file once."""
    if not result_dirs:
        raise ReportInputError(f"no result directories given; {DIR_HINT}")
    files = {}
    for result_dir in result_dirs:
        for path in find_results_files(Path(result_dir)):
            files.setdefault(path.resolve(), path)
    return [read_result_set(path) for path in files.values()]


def find_results_files(result_dir: Path) -> list[Path]:
    """results.json in result_dir itself (a target dir) or one level below (a run dir)."""
    if not result_dir.is_dir():
        raise ReportInputError(f"{result_dir}: no such directory; {DIR_HINT}")
    direct = result_dir / FILENAME
    if direct.is_file():
        return [direct]
    found = sorted(result_dir.glob(f"*/{FILENAME}"))
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
