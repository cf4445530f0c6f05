"""junit.xml, results.ktap and kcidb.json, built from results documents.

The KCIDB checks are written from kernelci/kcidb-io's schema definitions
(kcidb_io/schema/v05_03.py, "Kernel CI reporting I/O schema v5.3", with the
patterns it inherits from v03_00.py and v05_00.py); the project keeps no copy
of the schema, so what is checked is spelled out here: the required properties
of each object, that no other properties and no nulls appear, the identifier
and origin patterns, the test path pattern, the status values and the version.
"""
import re
import xml.etree.ElementTree as ET

import pytest

from harness.outputs import junit, kcidb, ktap



def result(rid, family="S1", scenario="S1a", outcome="passed", status="pass", duration=0.25, why=None,
           verdict="as_expected", mismatches=(), relaxed_by=None):
    return {
        "id": rid, "scenario": scenario, "family": family, "title": "t", "variant": {}, "outcome": outcome,
        "reason": why if outcome != "passed" else None, "duration_seconds": duration, "uname": "",
        "observations": {}, "key_observations": [], "sysctls": {},
        "evidence": [{"kind": "pcap", "path": f"evidence/{rid.replace('/', '_')}/client.pcap"}],
        "claim": {"text": "c", "verdict": "holds"},
        "expectation": {"verdict": verdict, "kernels": ">=3.6", "source": "abc123 subject", "applied": [],
                        "mismatches": list(mismatches), "note": None},
        "gate": {"status": status, "why": why, "relaxed_by": relaxed_by},
        "log": f"evidence/{rid.replace('/', '_')}/gtest.log",
    }


def document(results, name="debian:bookworm", accelerator="tcg"):
    return {"schema": "tcprepro-results/2",
            "run": {"id": "20261201-010000", "started": "2026-12-01T01:00:00+00:00", "wall_seconds": 0.5},
            "target": {"name": name, "accelerator": accelerator,
                       "kernel": {"release": "6.1.0-50-amd64", "version": "#1 SMP Debian 6.1.176-1",
                                  "upstream": "6.1.176", "machine": "x86_64"}},
            "results": results}


MIXED = document([
    result("S1a/ipv4_loopback", duration=0.071),
    result("S1a/ipv6_loopback", status="changed", duration=0.5,
           why="unexpected on this kernel (>=3.6): state: expected \"A\", observed \"B\"", verdict="unexpected",
           mismatches=[{"observation": "state", "expected": "A", "observed": "B"}]),
    result("S2e-socket-range/ipv4", family="S2", scenario="S2e-socket-range",
           outcome="skipped", why="skipped as the catalogue expects: kernel 5.10.0 lacks it",
           verdict="absent_as_expected", duration=0.01),
    result("S3b-reuse1-veth/ipv4", family="S3", scenario="S3b-reuse1-veth", outcome="error",
           status="error", why="machinery error: crashed", verdict="none", duration=1.2),
    result("S5-x", family="S5", scenario="S5-x", status="incomplete",
           why="not judged: no expectation covers kernel 6.1.176", verdict="none", duration=0.02),
])


def test_junit_gives_each_test_its_own_duration_and_they_add_up_to_the_run():
    suite = junit.build(MIXED)
    times = [float(case.get("time")) for case in suite.iter("testcase")]
    assert times == [0.071, 0.5, 0.01, 1.2, 0.02]
    assert float(suite.get("time")) == pytest.approx(sum(times))
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors"), suite.get("skipped")) == ("5", "1", "2", "1")


def test_junit_names_the_kernel_and_puts_why_and_the_evidence_in_a_failure():
    suite = junit.build(MIXED)
    assert "debian:bookworm" in suite.get("name") and "6.1.0-50-amd64" in suite.get("name")
    assert all(case.get("classname").startswith("tcprepro.debian-bookworm_6_1_176.") for case in suite.iter("testcase"))
    failure = suite.find("testcase/failure")
    assert "state" in failure.get("message")
    assert "evidence/S1a_ipv6_loopback/client.pcap" in failure.text
    assert suite.find("testcase/skipped").get("message").startswith("skipped as the catalogue expects")


def test_junit_file_parses(tmp_path):
    junit.write(tmp_path, MIXED)
    root = ET.parse(tmp_path / "junit.xml").getroot()
    assert root.tag == "testsuites" and float(root.get("time")) == pytest.approx(1.801)


def parse_ktap(text: str) -> tuple[int, list[tuple[bool, int, str, str | None]]]:
    """(plan, [(ok, number, name, directive)]) of a flat KTAP v1 document; asserts its shape."""
    lines = text.splitlines()
    assert lines[0] == "KTAP version 1"
    plans = [line for line in lines if re.fullmatch(r"1\.\.\d+", line)]
    assert len(plans) == 1
    results = []
    for line in lines[1:]:
        match = re.fullmatch(r"(ok|not ok) (\d+) ([^#]*?)(?: # (.*))?", line)
        if match:
            results.append((match.group(1) == "ok", int(match.group(2)), match.group(3), match.group(4)))
        else:
            assert line.startswith("#") or line == plans[0], line
    return int(plans[0][3:]), results


def test_ktap_plan_equals_the_test_lines_and_skips_carry_their_reason():
    plan, results = parse_ktap("\n".join(ktap.lines(MIXED)))
    assert plan == len(results) == 5
    assert [r[1] for r in results] == [1, 2, 3, 4, 5]
    assert [r[0] for r in results] == [True, False, True, False, False]
    assert results[2][3].startswith("SKIP skipped as the catalogue expects")
    text = "\n".join(ktap.lines(MIXED))
    assert "# Totals: pass:1 fail:1 xfail:0 xpass:0 skip:1 error:2" in text
    assert "# evidence: evidence/S1a_ipv6_loopback/client.pcap" in text


# --- KCIDB I/O schema v5.3, from kcidb_io/schema/v05_03.py -----------------------------
ORIGIN = re.compile(r"^[a-z0-9_]+$")                        # v03_00 origin_pattern
ORIGIN_ID = re.compile(r"^[a-z0-9_]+:[^\0]*$")              # v05_00 origin_id_pattern
TEST_PATH = re.compile(r"^([a-zA-Z0-9_-]+(\.[a-zA-Z0-9_-]+)*)?$")  # v05_00 test_path_re
STATUSES = {"FAIL", "ERROR", "MISS", "PASS", "DONE", "SKIP"}      # $defs/status
TOP = {"properties": {"version", "checkouts", "builds", "tests", "issues", "incidents"}, "required": {"version"}}
OBJECTS = {
    "checkouts": {"required": {"id", "origin"}, "ids": {"id"},
                  "properties": {"_timestamp", "id", "origin", "tree_name", "git_repository_url", "git_commit_hash",
                                 "git_commit_name", "git_commit_tags", "git_commit_message", "git_repository_branch",
                                 "git_repository_branch_tip", "patchset_files", "patchset_hash", "message_id",
                                 "comment", "start_time", "origin_builds_finish_time", "origin_tests_finish_time",
                                 "log_url", "log_excerpt", "valid", "misc"}},
    "builds": {"required": {"checkout_id", "id", "origin"}, "ids": {"id", "checkout_id"},
               "properties": {"_timestamp", "checkout_id", "id", "origin", "comment", "start_time", "duration",
                              "architecture", "command", "compiler", "input_files", "output_files", "config_name",
                              "config_url", "log_url", "log_excerpt", "status", "misc"}},
    "tests": {"required": {"build_id", "id", "origin"}, "ids": {"id", "build_id"},
              "properties": {"_timestamp", "build_id", "id", "origin", "environment", "path", "comment", "log_url",
                             "log_excerpt", "status", "number", "start_time", "duration", "output_files",
                             "input_files", "misc"}},
}
DATE_TIME = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(\.\d+)?(Z|[+-]\d\d:\d\d)$")


def _no_nulls(value, where):
    assert value is not None, f"{where}: null (the schema allows none)"
    if isinstance(value, dict):
        for key, item in value.items():
            _no_nulls(item, f"{where}.{key}")
    if isinstance(value, list):
        for i, item in enumerate(value):
            _no_nulls(item, f"{where}[{i}]")


def check_kcidb(data: dict) -> None:
    assert set(data) <= TOP["properties"] and TOP["required"] <= set(data)
    assert data["version"]["major"] == 5 and 0 <= data["version"].get("minor", 0) <= 3
    assert set(data["version"]) <= {"major", "minor"}
    _no_nulls(data, "data")
    for kind, rules in OBJECTS.items():
        for obj in data.get(kind, []):
            assert rules["required"] <= set(obj), (kind, obj)
            assert set(obj) <= rules["properties"], (kind, set(obj) - rules["properties"])
            assert ORIGIN.match(obj["origin"])
            for key in rules["ids"]:
                assert ORIGIN_ID.match(obj[key]), (kind, key, obj[key])
            if "status" in obj:
                assert obj["status"] in STATUSES
            if "start_time" in obj:
                assert DATE_TIME.match(obj["start_time"]), obj["start_time"]
            if "duration" in obj:
                assert isinstance(obj["duration"], (int, float))
            if "misc" in obj:
                assert isinstance(obj["misc"], dict)
    for test in data.get("tests", []):
        assert TEST_PATH.match(test["path"]), test["path"]
        assert set(test.get("environment", {})) <= {"compatible", "comment", "misc"}
    ids = [t["id"] for t in data.get("tests", [])]
    assert len(ids) == len(set(ids))
    builds = {b["id"] for b in data.get("builds", [])}
    checkouts = {c["id"] for c in data.get("checkouts", [])}
    assert all(t["build_id"] in builds for t in data.get("tests", []))
    assert all(b["checkout_id"] in checkouts for b in data.get("builds", []))


def test_kcidb_follows_the_v5_schema_with_one_test_per_result():
    data = kcidb.build([MIXED, document([result("S1a/ipv4_loopback")], name="host",
                                        accelerator=None)])
    check_kcidb(data)
    assert len(data["tests"]) == 6 and len(data["builds"]) == len(data["checkouts"]) == 2
    assert [t["status"] for t in data["tests"][:5]] == ["PASS", "FAIL", "SKIP", "ERROR", "DONE"]
    assert data["tests"][0]["path"] == "tcprepro.S1.S1a.ipv4_loopback"
    lab = dict(MIXED, run={**MIXED["run"], "kcidb_origin": "my_lab"})
    assert {t["id"].split(":")[0] for t in kcidb.build([lab])["tests"]} == {"my_lab"}
    check_kcidb(kcidb.build([lab]))


@pytest.mark.parametrize("broken", [
    lambda d: d.update(version={"major": 4}),
    lambda d: d["tests"][0].update(status="BROKEN"),
    lambda d: d["tests"][0].update(path="tcprepro.S1a/ipv4"),
    lambda d: d["tests"][0].update(id="no-origin"),
    lambda d: d["tests"][0].pop("build_id"),
    lambda d: d["tests"][0].update(comment=None),
    lambda d: d["builds"][0].update(unknown_field=1),
])
def test_the_schema_check_can_fail(broken):
    data = kcidb.build([MIXED])
    broken(data)
    with pytest.raises(AssertionError):
        check_kcidb(data)
