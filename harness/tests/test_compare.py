"""`./tcprepro compare`, shards merged by report and compare, and run --baseline."""
import copy
import json
import os
import pathlib
import subprocess

import pytest

from cli import compare
from harness.tests.test_outputs import check_kcidb, document, result
from reports.load import load_result_sets

REPO = pathlib.Path(__file__).resolve().parents[2]
# A five-kernel run (host 6.18 and debian:bookworm 6.1 among them), when one is at hand.
BASELINE = pathlib.Path(os.environ.get("TCPREPRO_TEST_BASELINE", "/nonexistent"))

needs_root_and_build = pytest.mark.skipif(
    os.geteuid() != 0 or not (REPO / "build" / "CMakeCache.txt").exists(),
    reason="needs root and a build (ci/setup.sh)")


def tcprepro(*args):
    return subprocess.run([str(REPO / "tcprepro"), *args], capture_output=True, text=True, timeout=600)


def judged(rid, observations, applied=(), mismatches=(), duration=0.2, **fields):
    entry = result(rid, **fields)
    entry["observations"] = observations
    entry["key_observations"] = list(observations)
    entry["expectation"]["applied"] = [{"kernels": k, "source": "s", "observations": list(o)} for k, o in applied]
    entry["expectation"]["mismatches"] = list(mismatches)
    entry["duration_seconds"] = duration
    return entry


def save(tmp_path, name, doc):
    directory = tmp_path / name / doc["target"]["name"].replace(":", "-")
    directory.mkdir(parents=True)
    (directory / "results.json").write_text(json.dumps(doc))
    return tmp_path / name


def host(tmp_path, name, results):
    """A run folder of the host target holding these results."""
    return save(tmp_path, name, document(results, name="host", accelerator=None))


BASE = [judged("S9a/ipv4", {"state": "CLOSE", "wait_ms": 800.5}, applied=[(">=3.6", ["state", "wait_ms"])]),
        judged("S9b/ipv4", {"count": 3})]


def test_the_same_results_are_the_same(tmp_path):
    base = host(tmp_path, "base", BASE)
    comparison = compare.compare([base], [base])
    assert comparison["counts"] == {"same": 2, "changed": 0, "new": 0, "gone": 0}
    assert comparison["exit_status"] == 0


def test_timing_noise_alone_is_listed_but_never_a_change(tmp_path):
    base = host(tmp_path, "base", BASE)
    slower = copy.deepcopy(BASE)
    slower[0]["observations"]["wait_ms"] = 3000.0  # a measurement: judged by the same expectation
    slower[0]["duration_seconds"] = slower[1]["duration_seconds"] = 5.0
    new = host(tmp_path, "new", slower)
    comparison = compare.compare([base], [new])
    assert comparison["exit_status"] == 0 and comparison["counts"]["changed"] == 0
    moved = comparison["targets"][0]["results"][0]["timings"]
    assert {t["what"] for t in moved} == {"duration_seconds", "wait_ms"}
    assert "never change the exit status" in compare.markdown(comparison)


def test_timings_are_not_compared_between_tcg_and_real_hardware(tmp_path):
    base = host(tmp_path, "base", BASE)
    slower = copy.deepcopy(BASE)
    slower[0]["duration_seconds"] = 50.0
    new = save(tmp_path, "new", document(slower, name="debian:sid", accelerator="tcg"))
    comparison = compare.compare([base], [new])
    assert comparison["exit_status"] == 0
    assert "timings" not in comparison["targets"][0]["results"][0]
    assert "TCG" in comparison["targets"][0]["notes"][0]


def test_a_behaviour_change_lists_old_and_new_and_exits_1(tmp_path):
    base = host(tmp_path, "base", BASE)
    changed = copy.deepcopy(BASE)
    changed[0]["observations"]["state"] = "ESTABLISHED"
    changed[0]["expectation"]["applied"].append({"kernels": ">=6.14", "source": "s2", "observations": ["wait_ms"]})
    new = host(tmp_path, "new", changed)
    comparison = compare.compare([base], [new])
    assert comparison["exit_status"] == 1
    differences = comparison["targets"][0]["results"][0]["differences"]
    assert {"what": "state", "kind": "behaviour", "old": "CLOSE", "new": "ESTABLISHED"} in differences
    assert any(d["what"] == "wait_ms" and d["kind"] == "measurement" for d in differences)
    assert "| S9a/ipv4 | state | CLOSE | ESTABLISHED |" in compare.markdown(comparison)


def test_gone_results_are_incomplete_and_new_ones_are_listed(tmp_path):
    base = host(tmp_path, "base", BASE)
    new = host(tmp_path, "new", [BASE[0], judged("S9c/ipv4", {})])
    comparison = compare.compare([base], [new])
    assert comparison["counts"] == {"same": 1, "changed": 0, "new": 1, "gone": 1}
    assert comparison["exit_status"] == 4


def test_the_cli_writes_json_and_markdown_and_exits_with_the_comparison(tmp_path):
    base = host(tmp_path, "base", BASE)
    changed = copy.deepcopy(BASE)
    changed[1]["observations"]["count"] = 4
    new = host(tmp_path, "new", changed)
    same = tcprepro("compare", str(base), str(base))
    assert same.returncode == 0, same.stderr
    differ = tcprepro("compare", str(base), str(new), "--out", str(tmp_path / "cmp"))
    assert differ.returncode == 1
    assert "| S9b/ipv4 | count | 3 | 4 |" in differ.stdout
    assert json.loads((tmp_path / "cmp" / "compare.json").read_text())["counts"]["changed"] == 1


@pytest.mark.skipif(not (BASELINE / "host" / "results.json").exists(), reason="set TCPREPRO_TEST_BASELINE to a five-kernel run folder")
def test_6_1_against_6_18_lists_what_the_report_shows():
    result = tcprepro("compare", str(BASELINE / "debian-bookworm"), str(BASELINE / "host"))
    assert result.returncode == 1
    for what in ["| S3e-valid-syn/ipv4 | synack_isn_from_time_wait | false | true |",
                 "| S3c-crafted-rst/ipv4 | stale_old_ack_TcpOutSegs_delta | 1 | 0 |",
                 "| S5-tcp_tw_reuse_delay | exists | false | true |"]:
        assert what in result.stdout


@needs_root_and_build
def test_two_shards_merged_equal_one_unsharded_run_result_for_result(tmp_path):
    runs = {}
    for name, extra in [("whole", []), ("shard1", ["--shard", "1/2"]), ("shard2", ["--shard", "2/2"])]:
        run = tcprepro("run", "-k", "S1", "--out", str(tmp_path / "jobs" / name if extra else tmp_path / name), *extra)
        assert run.returncode == 0, run.stdout + run.stderr
        runs[name] = run
    shards = [json.loads((tmp_path / "jobs" / n / "host" / "results.json").read_text()) for n in ("shard1", "shard2")]
    whole = json.loads((tmp_path / "whole" / "host" / "results.json").read_text())
    ids = [[r["id"] for r in doc["results"]] for doc in shards]
    assert not set(ids[0]) & set(ids[1]) and abs(len(ids[0]) - len(ids[1])) <= 1
    (merged,) = load_result_sets([tmp_path / "jobs"])
    assert sorted(r["id"] for r in merged.results) == sorted(r["id"] for r in whole["results"])
    assert merged.doc["run"]["shards"] == ["1/2", "2/2"]
    for entry in merged.results:  # evidence of a merged shard still resolves from the merged set's folder
        assert (merged.base_dir / entry["evidence"][0]["path"]).is_file()

    comparison = tcprepro("compare", str(tmp_path / "whole"), str(tmp_path / "jobs"), "--json")
    assert comparison.returncode == 0, comparison.stdout
    assert json.loads(comparison.stdout)["counts"] == {"same": len(whole["results"]), "changed": 0, "new": 0, "gone": 0}
    report = tcprepro("report", str(tmp_path / "jobs"), "--out", str(tmp_path / "report"))
    assert report.returncode == 0, report.stderr
    check_kcidb(json.loads((tmp_path / "jobs" / "shard1" / "kcidb.json").read_text()))
    merged_kcidb = json.loads((tmp_path / "report" / "kcidb.json").read_text())
    check_kcidb(merged_kcidb)
    assert len(merged_kcidb["tests"]) == len(whole["results"])


@needs_root_and_build
def test_run_with_a_baseline_compares_at_the_end(tmp_path):
    first = tcprepro("run", "-k", "S1a", "--out", str(tmp_path / "first"))
    assert first.returncode == 0, first.stdout + first.stderr
    again = tcprepro("run", "-k", "S1a", "--out", str(tmp_path / "again"), "--baseline", str(tmp_path / "first"))
    assert again.returncode == 0, again.stdout + again.stderr
    assert "4 same, 0 changed" in again.stdout
    assert (tmp_path / "again" / "compare.md").exists()
    fewer = tcprepro("run", "-k", "S1a and ipv4", "--out", str(tmp_path / "fewer"), "--baseline", str(tmp_path / "first"))
    assert fewer.returncode == 4, fewer.stdout  # results the baseline has are gone


def test_a_claim_verdict_flipped_only_by_a_measurement_is_noise_not_a_change(tmp_path):
    # On kernels before 6.14, tcp_tw_reuse=1 reuses after (0, 1] s: a wait either side of the
    # claim's "more than a second" bound from run to run is timing, not behaviour.
    def reuse(wait_ms, claim):
        entry = judged("S3b-reuse1-veth/ipv4", {"reused": True, "timestamps_negotiated": True,
                                                             "reuse_wait_ms": wait_ms},
                       applied=[(">=4.18,<6.14", ["reuse_wait_ms"])], scenario="S3b-reuse1-veth")
        entry["claim"]["verdict"] = claim
        return entry
    base = host(tmp_path, "base", [reuse(950.2, "holds")])
    new = host(tmp_path, "new", [reuse(412.7, "refuted")])
    comparison = compare.compare([base], [new])
    assert comparison["exit_status"] == 0
    (row,) = comparison["targets"][0]["results"]
    assert {"what": "claim verdict (by reuse_wait_ms)", "old": "holds", "new": "refuted"} in row["timings"]

    flipped = reuse(950.2, "refuted")
    flipped["observations"]["reused"] = False  # a behaviour flips the claim: a change
    new = host(tmp_path, "behaviour", [flipped])
    assert compare.compare([base], [new])["exit_status"] == 1
