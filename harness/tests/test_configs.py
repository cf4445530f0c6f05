"""The configuration axis: parsing, checking against the kernel (through the CLI),
`when` expectations, what a result ran with, and the kernel surface judged knob by knob."""
import json
import os
import pathlib
import subprocess

import pytest

from harness.judge import catalogue, judge, surface
from harness.run import configs

REPO = pathlib.Path(__file__).resolve().parents[2]
needs_root_and_build = pytest.mark.skipif(
    os.geteuid() != 0 or not (REPO / "build" / "CMakeCache.txt").exists(),
    reason="needs root and a build (ci/setup.sh)")


def tcprepro(*args):
    return subprocess.run([str(REPO / "tcprepro"), *args], capture_output=True, text=True, timeout=600)


def test_sysctl_conf_syntax(tmp_path):
    conf = tmp_path / "99-tw.conf"
    conf.write_text("# a comment\n; another\n\nnet.ipv4.tcp_tw_reuse = 1\n"
                    "-net/ipv4/tcp_rfc1337=1\nnet.ipv4.ip_local_port_range =  40000   50000 \n"
                    "net.ipv4.tcp_tw_reuse = 0\n")
    entries = configs.parse_file(conf)
    assert [(e.name, e.value, e.optional) for e in entries] == [
        ("net.ipv4.tcp_tw_reuse", "1", False), ("net.ipv4.tcp_rfc1337", "1", True),
        ("net.ipv4.ip_local_port_range", "40000 50000", False), ("net.ipv4.tcp_tw_reuse", "0", False)]
    (proposed, _), = configs.from_arguments(None, conf, None)
    assert proposed.name == "proposed"
    assert proposed.sysctls == {"net.ipv4.tcp_rfc1337": "1", "net.ipv4.ip_local_port_range": "40000 50000",
                                "net.ipv4.tcp_tw_reuse": "0"}  # a later line wins
    assert proposed.folder("host") == "host@proposed"
    assert configs.DEFAULT_CONFIGURATION.folder("debian-bookworm") == "debian-bookworm"


@pytest.mark.parametrize("args,message", [
    (["--sysctl", "net.ipv4.tcp_tw_reuse"], "--sysctl net.ipv4.tcp_tw_reuse: expected NAME = VALUE"),
    (["--sysctl", "net.ipv4.tcp_*=1"], "is not a sysctl name"),
    (["--config", "nofile"], "--config nofile: expected NAME:FILE"),
    (["--config", "defaults:/dev/null"], "must be letters"),
    (["--sysctl-file", "/nonexistent.conf"], "/nonexistent.conf: cannot read"),
])
def test_malformed_input_is_one_line_exit_2(args, message, tmp_path):
    result = tcprepro("run", *args, "--out", str(tmp_path / "out"))
    assert result.returncode == 2, result.stderr
    assert result.stderr.count("\n") == 1 and result.stderr.startswith("tcprepro: error:")
    assert message in result.stderr
    assert not (tmp_path / "out").exists()


def test_malformed_file_line_names_file_and_line(tmp_path):
    conf = tmp_path / "bad.conf"
    conf.write_text("# ok\nnet.ipv4.tcp_tw_reuse = 1\nthis line has no equals sign\n")
    result = tcprepro("run", "--sysctl-file", str(conf), "--out", str(tmp_path / "out"))
    assert result.returncode == 2
    assert f"{conf}:3: expected NAME = VALUE" in result.stderr
    assert not (tmp_path / "out").exists()


def _host_value(name):
    return pathlib.Path("/proc/sys", *name.split(".")).read_text()


@needs_root_and_build
@pytest.mark.parametrize("assignment,message", [
    ("net.ipv4.tcp_tw_reuze=1", "the running kernel has no sysctl net.ipv4.tcp_tw_reuze; closest: net.ipv4.tcp_tw_reuse"),
    ("net.ipv4.tcp_tw_reuse=7", "the kernel rejects '7' for net.ipv4.tcp_tw_reuse (EINVAL: Invalid argument)"),
    ("net.ipv4.tcp_mem=1 2 3", "net.ipv4.tcp_mem is not per network namespace, so setting it would change the host"),
    ("net.core.rmem_max=4096", "net.core.rmem_max is read-only in a network namespace (global)"),
])
def test_bad_values_are_refused_before_anything_is_made(assignment, message, tmp_path):
    name = assignment.partition("=")[0]
    before = _host_value(name) if pathlib.Path("/proc/sys", *name.split(".")).exists() else None
    result = tcprepro("run", "--sysctl", assignment, "-k", "S1a", "--out", str(tmp_path / "out"))
    assert result.returncode == 2, result.stdout + result.stderr
    assert result.stderr.count("\n") == 1 and message in result.stderr, result.stderr
    assert not (tmp_path / "out").exists()
    if before is not None:
        assert _host_value(name) == before


def test_when_expectations_replace_the_defaults_ones():
    s = catalogue.Scenario(
        id="X", family="S9", title="t", claim="c", claim_holds_when={}, key_observations=[],
        expectations=[catalogue.Expectation(">=4.18", {"reused": True}, "default"),
                      catalogue.Expectation(">=4.18", {"reused": False}, "no timestamps",
                                            {"net.ipv4.tcp_timestamps": "0"})],
        known_through=(7, 2))
    at_defaults = judge.judge_expectation(s, {"reused": True}, (6, 1, 0), {})
    assert at_defaults["verdict"] == "as_expected" and [a["source"] for a in at_defaults["applied"]] == ["default"]
    configured = judge.judge_expectation(s, {"reused": False}, (6, 1, 0), {"net.ipv4.tcp_timestamps": {"0"}})
    assert configured["verdict"] == "as_expected"
    assert configured["applied"] == [{"kernels": ">=4.18", "source": "no timestamps", "observations": ["reused"],
                                      "when": {"net.ipv4.tcp_timestamps": "0"}}]
    assert judge.judge_expectation(s, {"reused": True}, (6, 1, 0),
                                   {"net.ipv4.tcp_timestamps": {"0"}})["verdict"] == "unexpected"


def test_a_story_that_pins_the_knob_everywhere_runs_with_its_own_value():
    configuration = {"name": "proposed", "sysctls": {"net.ipv4.tcp_timestamps": "0"}}
    pinned_everywhere = {"configuration": {"applied_in": ["host"], "pinned": {"net.ipv4.tcp_timestamps": "1"},
                                           "pinned_in": {"net.ipv4.tcp_timestamps": ["host"]}}}
    assert configs.effective_sysctls(configuration, pinned_everywhere) == {"net.ipv4.tcp_timestamps": {"1"}}
    pinned_in_one = {"configuration": {"applied_in": ["client", "server"], "pinned": {"net.ipv4.tcp_timestamps": "1"},
                                       "pinned_in": {"net.ipv4.tcp_timestamps": ["client"]}}}
    assert configs.effective_sysctls(configuration, pinned_in_one) == {"net.ipv4.tcp_timestamps": {"0", "1"}}
    suspended = {"configuration": {"suspended": True}}
    assert configs.effective_sysctls(configuration, suspended) == {}
    entry = configs.result_configuration(configuration, pinned_in_one)
    assert entry["pinned"] == {"net.ipv4.tcp_timestamps": {"proposed": "0", "scenario": "1", "namespaces": ["client"]}}


def test_surface_is_judged_knob_by_knob():
    entries = [surface.KnobEntry("net.ipv4.tcp_a", ">=5.10", {"default": "1", "per_netns": True}, "src a"),
               surface.KnobEntry("net.ipv4.tcp_b", ">=6.14", {"default": "1000"}, "src b")]
    observed = {"net.ipv4.tcp_a": {"default": "1", "per_netns": True},
                "net.ipv4.tcp_new": {"default": "0", "per_netns": True}}
    judged = surface.judge(observed, (6, 1, 0), entries)
    assert judged["knobs_new"] == ["net.ipv4.tcp_new"]  # never a silent pass
    assert judged["knobs_unexpected"] == []  # tcp_b is absent before 6.14, as the catalogue says
    judged = surface.judge(observed, (6, 18, 0), entries)
    assert judged["knobs_unexpected"] == ["net.ipv4.tcp_b: absent, the catalogue has it on this kernel"]
    judged = surface.judge({"net.ipv4.tcp_a": {"default": "2", "per_netns": True}}, (6, 1, 0), entries)
    assert judged["knobs_unexpected"] == ["net.ipv4.tcp_a: default '2', expected '1'"]
    assert judged["knob_verdicts"]["net.ipv4.tcp_a"] == {"verdict": "unexpected", "source": "src a", "kernels": ">=5.10"}


def test_the_shipped_knob_list_loads():
    entries = surface.load()
    assert len({e.name for e in entries}) > 100
    assert all(e.source for e in entries)


@needs_root_and_build
def test_a_configuration_runs_beside_the_defaults(tmp_path):
    result = tcprepro("run", "--sysctl", "net.ipv4.tcp_timestamps=0", "-k", "S3c-crafted-rst/ipv4_veth",
                      "--out", str(tmp_path))
    assert result.returncode == 0, result.stdout + result.stderr
    defaults = json.loads((tmp_path / "host" / "results.json").read_text())
    proposed = json.loads((tmp_path / "host@proposed" / "results.json").read_text())
    assert defaults["target"]["configuration"]["name"] == "defaults"
    assert proposed["target"]["configuration"]["sysctls"] == {"net.ipv4.tcp_timestamps": "0"}
    (entry,) = proposed["results"]
    assert entry["observations"]["reused"] is False  # no timestamps, no reuse: the hazard cannot arise
    assert entry["expectation"]["verdict"] == "as_expected"
    assert entry["expectation"]["applied"][0]["when"] == {"net.ipv4.tcp_timestamps": "0"}
    assert defaults["results"][0]["observations"]["reused"] is True
    report = (tmp_path / "report.md").read_text()
    assert "host @ proposed" in report and "with net.ipv4.tcp\\_timestamps=0" in report
    assert "ran with net.ipv4.tcp\\_timestamps=0" in report
