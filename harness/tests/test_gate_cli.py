"""Every exit status of `./tcprepro run`, produced through the real CLI.

Red paths are injected without fakes in the product: a test catalogue
(TCPREPRO_CATALOGUE, a copy of the shipped one with one expectation made wrong)
run against the real case programs; a forced impairment backend this machine
lacks (a real skip); dropped privileges (setpriv, unshare -U). Only the
machinery error uses a stand-in case program (fake_case.py), in a build folder
of its own.
"""
import json
import os
import pathlib
import re
import shutil
import subprocess

import pytest

from harness.tests.test_outputs import check_kcidb

REPO = pathlib.Path(__file__).resolve().parents[2]
SCENARIOS = REPO / "harness" / "scenarios"
S1A = "S1a and ipv4_loopback"

needs_root_and_build = pytest.mark.skipif(
    os.geteuid() != 0 or not (REPO / "build" / "CMakeCache.txt").exists(),
    reason="needs root and a build (ci/setup.sh)")


def tcprepro(*args, env=None, prefix=()):
    return subprocess.run([*prefix, str(REPO / "tcprepro"), *args], capture_output=True, text=True, timeout=600,
                          env={**os.environ, **(env or {})})


def catalogue_copy(tmp_path: pathlib.Path, edit_s1a=None, family_text=None) -> pathlib.Path:
    """A copy of the shipped S1 catalogue with S1a's block edited (the other programs are left out)."""
    directory = tmp_path / "catalogue"
    directory.mkdir()
    text = family_text(SCENARIOS.joinpath("self_connect.toml").read_text()) if family_text else \
        SCENARIOS.joinpath("self_connect.toml").read_text()
    blocks = text.split("[[scenario]]")
    for i, block in enumerate(blocks):
        if re.search(r'^id = "S1a"$', block, re.M) and edit_s1a:
            blocks[i] = edit_s1a(block)
    directory.joinpath("self_connect.toml").write_text("[[scenario]]".join(blocks))
    return directory




def wrong_state(block: str) -> str:
    edited = block.replace('state = "ESTABLISHED"', 'state = "SYN_SENT"')
    assert edited != block
    return edited


def run_s1a(tmp_path, catalogue, *options):
    out = tmp_path / "out"
    result = tcprepro("run", "-k", S1A, "--out", str(out), *options,
                      env={"TCPREPRO_CATALOGUE": str(catalogue)})
    return result, out


@needs_root_and_build
def test_a_mismatched_observation_exits_1_with_evidence_in_every_output(tmp_path):
    result, out = run_s1a(tmp_path, catalogue_copy(tmp_path, wrong_state))
    assert result.returncode == 1, result.stdout + result.stderr
    document = json.loads((out / "host" / "results.json").read_text())
    (entry,) = document["results"]
    assert entry["gate"]["status"] == "changed"
    assert entry["expectation"]["mismatches"] == [{"observation": "state", "expected": "SYN_SENT",
                                                   "observed": "ESTABLISHED"}]
    junit = (out / "host" / "junit.xml").read_text()
    assert 'type="changed"' in junit and entry["evidence"][0]["path"] in junit
    assert "not ok 1 " in (out / "host" / "results.ktap").read_text()
    data = json.loads((out / "kcidb.json").read_text())
    check_kcidb(data)
    assert [test["status"] for test in data["tests"]] == ["FAIL"]


@needs_root_and_build
def test_a_kernel_beyond_known_through_with_mismatches_exits_1_unless_accepted(tmp_path):
    catalogue = catalogue_copy(tmp_path, wrong_state,
                               family_text=lambda text: text.replace('known_through = "7.2"', 'known_through = "6.0"'))
    result, out = run_s1a(tmp_path, catalogue)
    assert result.returncode == 1, result.stdout + result.stderr
    (entry,) = json.loads((out / "host" / "results.json").read_text())["results"]
    assert entry["expectation"]["verdict"] == "new_behaviour"
    assert entry["gate"] == {"status": "changed", "why": entry["gate"]["why"], "relaxed_by": None}

    shutil.rmtree(out)
    result, out = run_s1a(tmp_path, catalogue, "--accept-new-kernel")
    assert result.returncode == 0, result.stdout + result.stderr
    assert "gate relaxed by --accept-new-kernel" in result.stdout
    document = json.loads((out / "host" / "results.json").read_text())
    assert document["run"]["gate_relaxed_by"] == ["--accept-new-kernel"]
    assert document["results"][0]["gate"]["relaxed_by"] == "--accept-new-kernel"
    assert "--accept-new-kernel" in (out / "report.md").read_text()


@needs_root_and_build
def test_a_kernel_beyond_known_through_that_matches_exits_0(tmp_path):
    catalogue = catalogue_copy(tmp_path, family_text=lambda t: t.replace('known_through = "7.2"', 'known_through = "6.0"'))
    result, out = run_s1a(tmp_path, catalogue)
    assert result.returncode == 0, result.stdout + result.stderr
    (entry,) = json.loads((out / "host" / "results.json").read_text())["results"]
    assert entry["expectation"]["verdict"] == "as_expected"
    assert "newer than every range" in entry["expectation"]["note"]


@needs_root_and_build
def test_no_expectation_for_this_kernel_exits_4(tmp_path):
    def only_old_kernels(block):
        return re.sub(r'^(\s*kernels = )".*"$', r'\1"<3.0"', block, flags=re.M)
    result, out = run_s1a(tmp_path, catalogue_copy(tmp_path, only_old_kernels))
    assert result.returncode == 4, result.stdout + result.stderr
    (entry,) = json.loads((out / "host" / "results.json").read_text())["results"]
    assert entry["gate"]["status"] == "incomplete"
    assert "<error" in (out / "host" / "junit.xml").read_text()


@needs_root_and_build
def test_a_skip_where_the_catalogue_expects_the_feature_exits_1_and_an_expected_one_0(tmp_path):
    # A real skip: the lost-ACK story drops only the n-th ACK, which the netem backend cannot express.
    selection = ["-k", "S3d-time-wait/ipv4", "--impairment-backend", "netem"]
    result = tcprepro("run", *selection, "--out", str(tmp_path / "red"))
    assert result.returncode == 1, result.stdout + result.stderr
    (entry,) = json.loads((tmp_path / "red" / "host" / "results.json").read_text())["results"]
    assert entry["outcome"] == "skipped" and entry["expectation"]["verdict"] == "missing"
    assert "expected on this kernel" in entry["gate"]["why"]

    catalogue = tmp_path / "lacks"
    catalogue.mkdir()
    text = SCENARIOS.joinpath("time_wait.toml").read_text().replace(
        'id = "S3d-time-wait"\n',
        'id = "S3d-time-wait"\n'
        'lacks = [{ kernels = ">=2.6", feature = "a netem that counts matches", skip_reason = "^skipped: netem backend", '
        'source = "test catalogue: a stand-in for a kernel that lacks a feature" }]\n')
    catalogue.joinpath("time_wait.toml").write_text(text)
    result = tcprepro("run", *selection, "--out", str(tmp_path / "green"), env={"TCPREPRO_CATALOGUE": str(catalogue)})
    assert result.returncode == 0, result.stdout + result.stderr
    (entry,) = json.loads((tmp_path / "green" / "host" / "results.json").read_text())["results"]
    assert entry["expectation"]["verdict"] == "absent_as_expected"
    assert 'SKIP skipped as the catalogue expects' in (tmp_path / "green" / "host" / "results.ktap").read_text()


FAKE_CATALOGUE = """family = "S9"\ntitle = "fake"\nprogram = "fake_test"\nknown_through = "7.2"
[[scenario]]
id = "S9x"\ntitle = "x"\nclaim = "it connects"\nclaim_kind = "property"\nclaim_holds_when = { connected = true }
  [[scenario.expect]]
  kernels = ">=3.0"\nobservations = { connected = true }\nsource = "test catalogue for the gate's exit statuses"
"""


@pytest.fixture
def fake_build(tmp_path):
    """A build folder whose only case program is fake_case.py (FAKE_MODE says what it does)."""
    source, build = tmp_path / "fake-src", tmp_path / "fake-build"
    source.mkdir()
    source.joinpath("CMakeLists.txt").write_text("cmake_minimum_required(VERSION 3.13)\nproject(fake NONE)\n")
    subprocess.run(["cmake", "-S", str(source), "-B", str(build)], check=True, capture_output=True)
    (build / "cases").mkdir()
    (build / "cases" / "fake_test").symlink_to(pathlib.Path(__file__).parent / "fake_case.py")
    catalogue = tmp_path / "fake-catalogue"
    catalogue.mkdir()
    catalogue.joinpath("fake.toml").write_text(FAKE_CATALOGUE)
    return build, catalogue


@needs_root_and_build
@pytest.mark.parametrize("mode,status", [("crash", 3), ("fail", 3), ("pass", 0), ("skip", 1)])
def test_machinery_errors_exit_3(fake_build, tmp_path, mode, status):
    build, catalogue = fake_build
    result = tcprepro("run", "--build-dir", str(build), "-k", "ipv4_loopback", "--out", str(tmp_path / "out"),
                      env={"TCPREPRO_CATALOGUE": str(catalogue), "FAKE_MODE": mode})
    assert result.returncode == status, result.stdout + result.stderr


@needs_root_and_build
@pytest.mark.parametrize("prefix", [
    ["setpriv", "--inh-caps=-sys_admin", "--bounding-set=-sys_admin"],  # root without CAP_SYS_ADMIN
    ["unshare", "--user"],                                                # an unprivileged user
])
def test_no_privilege_is_one_line_and_exit_5_before_anything_is_created(tmp_path, prefix):
    result = tcprepro("run", "-k", S1A, "--out", str(tmp_path / "out"), prefix=prefix)
    assert result.returncode == 5, result.stdout + result.stderr
    assert result.stderr.startswith("tcprepro: cannot run here:") and result.stderr.count("\n") == 1
    assert not (tmp_path / "out").exists()


@needs_root_and_build
def test_bad_input_is_found_before_privileges(tmp_path):
    result = tcprepro("run", "--jobs", "0", "--out", str(tmp_path / "out"),
                      prefix=["setpriv", "--inh-caps=-sys_admin", "--bounding-set=-sys_admin"])
    assert result.returncode == 2


@pytest.mark.parametrize("args,message", [
    (["run", "--shard", "3/2"], "K must be between 1 and N"),
    (["run", "--shard", "half"], "expected K/N"),
    (["run", "--kernels", "/nonexistent/kernels.txt"], "cannot read it"),
    (["run", "--baseline", "/nonexistent/run"], "--baseline: /nonexistent/run: no such directory"),
    (["run", "--kcidb-origin", "My Lab"], "KCIDB origins are lower-case letters"),
    (["compare", "/nonexistent/a", "/nonexistent/b"], "no such directory"),
])
def test_bad_gate_options_are_a_clear_error(args, message, tmp_path):
    result = tcprepro(*args, *(["--out", str(tmp_path / "out")] if args[0] == "run" else []))
    assert result.returncode == 2, result.stderr
    assert result.stderr.startswith("tcprepro: error:") and message in result.stderr
    assert not (tmp_path / "out").exists()


def test_an_empty_kernels_file_is_a_clear_error(tmp_path):
    kernels = tmp_path / "kernels.txt"
    kernels.write_text("# nothing yet\n\n")
    result = tcprepro("run", "--kernels", str(kernels), "--out", str(tmp_path / "out"))
    assert result.returncode == 2 and "no kernel spec in it" in result.stderr


@needs_root_and_build
def test_kernels_file_names_the_targets(tmp_path):
    kernels = tmp_path / "kernels.txt"
    kernels.write_text("# the running kernel only\nhost   # a comment after the spec\n\n")
    result = tcprepro("run", "--kernels", str(kernels), "-k", S1A, "--out", str(tmp_path / "out"))
    assert result.returncode == 0, result.stdout + result.stderr
    assert json.loads((tmp_path / "out" / "host" / "results.json").read_text())["target"]["name"] == "host"
