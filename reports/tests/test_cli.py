import json
import subprocess
import sys

import pytest

from reports.__main__ import main

from reports.load import load_result_sets

from .builders import result, standard_results, write_target


def run_cli(capsys, *args) -> tuple[int, str, str]:
    code = main([str(arg) for arg in args])
    captured = capsys.readouterr()
    return code, captured.out, captured.err


def test_renders_and_prints_paths(tmp_path, capsys):
    target = write_target(tmp_path / "run", "host", "6.6.0", standard_results())
    code, out, _ = run_cli(capsys, target, "--out", tmp_path / "report")
    assert code == 0
    assert out.split() == [str(tmp_path / "report" / "report.html"), str(tmp_path / "report" / "report.md")]


def test_missing_dir(tmp_path, capsys):
    code, _, err = run_cli(capsys, tmp_path / "nope", "--out", tmp_path / "report")
    assert code == 2 and f"{tmp_path / 'nope'}: no such directory" in err


def test_dir_without_results(tmp_path, capsys):
    (tmp_path / "empty" / "host").mkdir(parents=True)
    code, _, err = run_cli(capsys, tmp_path / "empty", "--out", tmp_path / "report")
    assert code == 2 and "no results.json" in err and "run the harness" in err


def test_invalid_json(tmp_path, capsys):
    target = write_target(tmp_path / "run", "host", "6.6.0", [])
    (target / "results.json").write_text("{not json", encoding="utf-8")
    code, _, err = run_cli(capsys, target, "--out", tmp_path / "report")
    assert code == 2 and f"{target / 'results.json'}: not valid JSON" in err


@pytest.mark.parametrize("schema", ["tcprepro-results/3", None])
def test_unknown_schema(tmp_path, capsys, schema):
    target = write_target(tmp_path / "run", "host", "6.6.0", [])
    doc = json.loads((target / "results.json").read_text())
    doc["schema"] = schema
    (target / "results.json").write_text(json.dumps(doc), encoding="utf-8")
    code, _, err = run_cli(capsys, target, "--out", tmp_path / "report")
    assert code == 2 and "unknown schema" in err and str(target / "results.json") in err
    assert not (tmp_path / "report").exists()


def test_module_entry_point(tmp_path):
    done = subprocess.run([sys.executable, "-m", "reports", str(tmp_path / "nope"), "--out", str(tmp_path)],
                          capture_output=True, text=True, check=False)
    assert done.returncode == 2 and "no such directory" in done.stderr


def test_a_schema_1_document_is_read_with_result_ids(tmp_path, capsys):
    # Schema 1 named results by their GoogleTest names; the report shows result ids for old runs too.
    target = write_target(tmp_path / "run", "host", "6.6.0", [
        result("S1/SelfConnect.S1a_Explicit/ipv4_loopback", "S1a"), result("KernelSurface.S5_tcp_rfc1337", "S5-tcp_rfc1337")])
    doc = json.loads((target / "results.json").read_text())
    doc["schema"] = "tcprepro-results/1"
    (target / "results.json").write_text(json.dumps(doc), encoding="utf-8")
    assert [r["id"] for r in load_result_sets([target])[0].results] == ["S1a/ipv4_loopback", "S5-tcp_rfc1337"]
