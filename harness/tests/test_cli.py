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
    (["run", "--kernel", "9x=debian:bookworm"], "a label is a letter"),
    (["run", "--kernel", "debian:bookworm/arm64"], "unknown flavour 'arm64'"),
    (["run", "--kernel", "a=debian:bookworm", "--kernel", "a=debian:trixie"], "--kernel a=debian:trixie is given twice"),
    (["kernel", "build", "--from", "/nonexistent"], "--from /nonexistent: not a kernel source tree"),
    (["kernel", "build", "--from", "debian:nope"], "unknown Debian suite 'nope'"),
    (["kernel", "build", "--from", "/tmp", "--config", "/nonexistent.config"], "--config /nonexistent.config: no such file"),
    (["run", "-k", "S1a and"], "-k 'S1a and': the expression ends too early"),
    (["run", "-k", "S1a S2"], "-k 'S1a S2': unexpected 'S2'"),
    (["run", "-k", "(S1a or S2"], "the expression ends too early"),
    (["list", "-k", "S1a and"], "the expression ends too early"),
    (["list", "--variants", "--build-dir", "/nonexistent"], "no build in /nonexistent"),
])
def test_bad_input_is_a_clear_error(args, message, tmp_path):
    result = tcprepro(*args, *(["--out", str(tmp_path / "out")] if args[0] == "run" else []))
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("tcprepro: error:")
    assert message in result.stderr
    assert result.stderr.count("\n") == 1
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


def test_a_closed_pipe_ends_a_listing_quietly():
    # `./tcprepro list | head`: the reader goes away before the listing is written.
    for listing in ("list", "list --variants -k S1a"):
        done = subprocess.run(f"{REPO / 'tcprepro'} {listing} | true", shell=True, capture_output=True, text=True,
                              timeout=60)
        assert done.returncode == 0 and done.stderr == "", done.stderr


@needs_root_and_build
@pytest.mark.parametrize("expression", ["no_such_scenario", "S2 and S3"])
def test_a_selection_of_nothing_is_bad_input_and_creates_nothing(tmp_path, expression):
    result = tcprepro("run", "-k", expression, "--out", str(tmp_path / "out"))
    assert result.returncode == 2, result.stderr
    assert result.stderr == f"tcprepro: error: -k {expression!r} selects no result; " \
                            "`./tcprepro list --variants` prints the result ids\n"
    assert not (tmp_path / "out").exists()


@needs_root_and_build
def test_list_prints_the_ids_that_k_takes():
    listing = tcprepro("list").stdout
    assert "  S3b-reuse1-loopback " in listing
    variants = tcprepro("list", "--variants").stdout.split()
    assert "S3b-reuse1-loopback/ipv4_loopback" in variants and "S5-tcp_timestamps" in variants
    assert len(variants) == len(set(variants))
    assert tcprepro("list", "-k", "S3b-reuse1-loopback").stdout.split() == [
        v for v in variants if v.startswith("S3b-reuse1-loopback/")]
    assert not any(v.startswith("S4") for v in tcprepro("list", "-k", "S2").stdout.split())


@needs_root_and_build
def test_selected_run_writes_results_and_report(tmp_path):
    # An id copied from `list --variants` selects exactly that result.
    result_id = next(v for v in tcprepro("list", "--variants").stdout.split() if v.startswith("S1a/ipv6_veth"))
    result = tcprepro("run", "-k", result_id, "--out", str(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    document = json.loads((tmp_path / "host" / "results.json").read_text())
    assert document["schema"] == "tcprepro-results/2"
    assert [r["id"] for r in document["results"]] == ["S1a/ipv6_veth"]
    assert (tmp_path / "host" / "evidence" / "S1a" / "ipv6_veth" / "observations.json").is_file()
    entry = document["results"][0]
    assert entry["outcome"] == "passed"
    assert entry["observations"]["local"].startswith("[fd00:") and entry["observations"]["local"].endswith("]:40008")
    assert (tmp_path / "host" / entry["evidence"][0]["path"]).stat().st_size > 0
    assert (tmp_path / "report.html").exists() and (tmp_path / "host" / "junit.xml").exists()
    assert "report: " in result.stdout


@needs_root_and_build
def test_a_corrupt_cache_file_is_one_line_and_exit_2(tmp_path):
    cache = tmp_path / "cache"
    (cache / "apt" / "bookworm+updates+security").mkdir(parents=True)
    (cache / "apt" / "bookworm+updates+security" / "pins.json").write_text('{"debian:bookworm": ["linux-ima')
    result = subprocess.run([str(REPO / "tcprepro"), "run", "--kernel", "debian:bookworm", "--out", str(tmp_path / "out")],
                            capture_output=True, text=True, timeout=300, env={**os.environ, "TCPREPRO_CACHE": str(cache)})
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("tcprepro: error: cache file ") and "pins.json is corrupt" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1
    assert not (tmp_path / "out").exists()
