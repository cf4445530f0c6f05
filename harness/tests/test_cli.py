"""The command line: bad input is a clear one-line error, exit 2, nothing created."""
import json
import os
import pathlib
import subprocess

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]


def tcprepro(*args):
    return subprocess.run([str(REPO / "tcprepro"), *args], capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("args,message", [
    (["run", "--kernel", "vms:lts"], "unknown kernel spec"),
    (["run", "--jobs", "0"], "--jobs 0: must be at least 1"),
    (["run", "--kernel", "debian:buster2"], "unknown Debian suite 'buster2'"),
    (["run", "--kernel", "host", "--kernel", "host"], "--kernel host is given twice"),
    (["run", "--kernel", "local:/nonexistent/bzImage:/tmp"], "does not exist"),
    (["exec", "--kernel", "debian:nope", "--", "true"], "unknown Debian suite 'nope'"),
    (["exec", "--kernel", "host", "--", "true"], "run the command directly"),
    (["exec", "--kernel", "debian:bookworm"], "give the command after --"),
    (["report", "/nonexistent/dir", "--out", "/tmp/x"], "/nonexistent/dir"),
])
def test_bad_input_is_a_clear_error(args, message, tmp_path):
    result = tcprepro(*args, *(["--out", str(tmp_path / "out")] if args[0] == "run" else []))
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("tcprepro: error:")
    assert message in result.stderr
    assert not (tmp_path / "out").exists()


def test_existing_results_are_not_overwritten(tmp_path):
    (tmp_path / "host").mkdir()
    (tmp_path / "host" / "results.json").write_text("{}")
    result = tcprepro("run", "--out", str(tmp_path))
    assert result.returncode == 2
    assert "already holds results" in result.stderr


def test_list_names_every_scenario_with_its_claim():
    result = tcprepro("list")
    assert result.returncode == 0
    for sid in ["S1a", "S1b", "S1c-outside-range", "S1c-reserved-port", "S1c-app-check-rst"]:
        assert sid in result.stdout
    assert result.stdout.count("claim:") >= 6


needs_root_and_build = pytest.mark.skipif(
    os.geteuid() != 0 or not (REPO / "build" / "CMakeCache.txt").exists(),
    reason="needs root and a build (ci/setup.sh)")


@needs_root_and_build
def test_empty_selection_is_an_error_not_a_pass(tmp_path):
    result = tcprepro("run", "-k", "no_such_scenario", "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert "selects no scenario" in result.stderr
    assert not (tmp_path / "out").exists()


@needs_root_and_build
def test_selected_run_writes_results_and_report(tmp_path):
    result = tcprepro("run", "-k", "S1a and ipv6_veth", "--out", str(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    document = json.loads((tmp_path / "host" / "results.json").read_text())
    assert [r["id"] for r in document["results"]] == ["S1/SelfConnect.S1a/ipv6_veth"]
    entry = document["results"][0]
    assert entry["outcome"] == "passed"
    assert entry["observations"]["local"] == "[fd00:210::1]:40008"
    assert (tmp_path / "host" / entry["evidence"][0]["path"]).stat().st_size > 0
    assert (tmp_path / "report.html").exists() and (tmp_path / "host" / "junit.xml").exists()
    assert "report: " in result.stdout
