import pathlib

import pytest

from harness.run import cases
from harness.judge import catalogue, results

FAKE = pathlib.Path(__file__).parent / "fake_case.py"
SCENARIO = catalogue.Scenario(
    id="S9x", family="S9", title="fake", claim="c", claim_holds_when={"connected": True},
    key_observations=["connected"], expectations=[catalogue.Expectation(">=3.6", {"connected": True}, "src")],
    known_through=(7, 2))


def run(mode, tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_MODE", mode)
    test = cases.CaseTest("S9/Fake.S9x/ipv4_loopback", FAKE, SCENARIO, "ipv4_loopback")
    return cases.run_test(test, tmp_path / "evidence")


def test_discover_maps_gtest_names_to_scenarios(tmp_path):
    (tmp_path / "cases").mkdir()
    (tmp_path / "cases" / "fake").symlink_to(FAKE)
    family = catalogue.Family("S9", "Fake", "fake", {"S9x": SCENARIO})
    tests = cases.discover([family], tmp_path)
    assert [(t.id, t.gtest_name, t.variant_name) for t in tests] == [
        ("S9x/ipv4_loopback", "S9/Fake.S9x/ipv4_loopback", "ipv4_loopback"),
        ("S9x/ipv6_veth", "S9/Fake.S9x/ipv6_veth", "ipv6_veth")]


def test_a_test_without_a_scenario_is_an_error(tmp_path):
    (tmp_path / "cases").mkdir()
    (tmp_path / "cases" / "fake").symlink_to(FAKE)
    family = catalogue.Family("S9", "Fake", "fake", {})
    with pytest.raises(cases.CaseError, match="test S9/Fake.S9x/ipv4_loopback has no scenario in the catalogue"):
        cases.discover([family], tmp_path)


def test_missing_program_says_to_build(tmp_path):
    with pytest.raises(cases.CaseError, match="ci/setup.sh"):
        cases.list_gtest_names(tmp_path / "nope")


def test_passed_result_is_judged_with_relative_evidence(tmp_path, monkeypatch):
    raw = run("pass", tmp_path, monkeypatch)
    assert (raw.outcome, raw.reason) == ("passed", None)
    entry = results.result_entry(raw, (6, 18, 44), tmp_path)
    assert entry["claim"]["verdict"] == "holds"
    assert entry["expectation"]["verdict"] == "as_expected"
    assert entry["id"] == "S9x/ipv4_loopback"
    assert entry["evidence"][0]["path"] == "evidence/S9x/ipv4_loopback/host.pcap"
    assert (tmp_path / entry["evidence"][0]["path"]).exists()


def test_skip_carries_the_reason(tmp_path, monkeypatch):
    raw = run("skip", tmp_path, monkeypatch)
    assert raw.outcome == "skipped"
    assert raw.reason == "skipped: sysctl x does not exist"
    entry = results.result_entry(raw, (6, 18, 44), tmp_path)
    assert entry["expectation"]["verdict"] == "missing"  # the catalogue does not say this kernel lacks it
    assert entry["gate"]["status"] == "changed"


def test_machinery_failure_is_an_error_with_the_gtest_message(tmp_path, monkeypatch):
    raw = run("fail", tmp_path, monkeypatch)
    assert raw.outcome == "error"
    assert raw.reason == "lab.cc:12: Failure\ncaptured SYNs to port 40008"


def test_a_failure_in_a_batch_is_an_error_with_the_gtest_message(tmp_path, monkeypatch):
    # The result line gtest prints for a failure is "[  FAILED  ] name (n ms)".
    monkeypatch.setenv("FAKE_MODE", "pass")
    test = _batch_tests()[0]
    end = cases.gtest_output.read_results(
        f"[ RUN      ] {test.gtest_name}\nx.cc:3: Failure\nno SYN\n[  FAILED  ] {test.gtest_name} (7 ms)\n")
    raw = cases._batch_result(test, end[test.gtest_name], tmp_path)
    assert (raw.outcome, raw.reason, raw.duration_seconds) == ("error", "x.cc:3: Failure\nno SYN", 0.007)


def test_no_observations_is_an_error(tmp_path, monkeypatch):
    assert run("silent", tmp_path, monkeypatch).reason == "the case program recorded no observations"


def test_crash_is_an_error(tmp_path, monkeypatch):
    raw = run("crash", tmp_path, monkeypatch)
    assert raw.outcome == "error"
    assert "signal 11" in raw.reason


def test_hang_is_killed_at_the_timeout(tmp_path, monkeypatch):
    monkeypatch.setattr(cases, "TEST_TIMEOUT_SECONDS", 0.5)
    raw = run("hang", tmp_path, monkeypatch)
    assert raw.outcome == "error"
    assert "timed out" in raw.reason
    assert raw.duration_seconds < 5


def test_summary_counts(tmp_path, monkeypatch):
    entries = [results.result_entry(run(mode, tmp_path / mode, monkeypatch), (6, 18, 44), tmp_path / mode)
               for mode in ("pass", "skip", "crash")]
    summary = results.summarise(entries)
    assert (summary["total"], summary["passed"], summary["skipped"], summary["error"]) == (3, 1, 1, 1)
    assert (summary["as_expected"], summary["missing"], summary["no_expectation"]) == (1, 1, 1)
    assert summary["gate"] == {"pass": 1, "changed": 1, "error": 1, "incomplete": 0}
    assert summary["exit_status"] == 1  # a change outranks a machinery error


def _batch_tests():
    return [cases.CaseTest(f"S9/Fake.S9x/{v}", FAKE, SCENARIO, v) for v in ("ipv4_loopback", "ipv6_veth")]


def test_a_batch_gives_each_test_its_result_log_and_evidence_as_it_ends(tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_MODE", "batch")
    streamed = []
    raws = cases.run_batch(_batch_tests(), tmp_path / "evidence", streamed.append)
    assert streamed == raws
    assert [(r.outcome, r.duration_seconds) for r in raws] == [("passed", 0.25), ("passed", 0.25)]
    for raw in raws:
        assert raw.evidence_dir == tmp_path / "evidence" / raw.test.id
        assert raw.record["observations"] == {"connected": True}
        name = raw.test.gtest_name
        assert raw.log.read_text() == f"[ RUN      ] {name}\nstory of {name}\n[       OK ] {name} (250 ms)\n"


def test_a_batch_that_crashes_is_rerun_test_by_test(tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_MODE", "batch-crash")
    raws = cases.run_batch(_batch_tests(), tmp_path / "evidence")
    assert [r.outcome for r in raws] == ["passed", "passed"]
    assert all(r.log.name == "gtest.log" and "(one test)" in r.log.read_text() for r in raws)


def test_a_hung_batch_keeps_what_finished_and_reruns_the_rest(tmp_path, monkeypatch):
    monkeypatch.setenv("FAKE_MODE", "batch-hang")
    monkeypatch.setattr(cases, "BATCH_SECONDS_PER_TEST", 0.5)
    raws = cases.run_batch(_batch_tests(), tmp_path / "evidence")
    assert [r.outcome for r in raws] == ["passed", "passed"]
    assert "(one test)" not in raws[0].log.read_text()  # from the batch
    assert "(one test)" in raws[1].log.read_text()  # run again on its own


def test_the_gtest_reader_reads_each_kind_of_result_line():
    # As gtest prints them; a failed parameterised test names its parameter before the time.
    ends = cases.gtest_output.read_results(
        "[ RUN      ] S9/Fake.S9x/ipv4\n[       OK ] S9/Fake.S9x/ipv4 (3 ms)\n"
        "[ RUN      ] S9/Fake.S9x/ipv6\nx.cc:1: Failure\nno SYN\n"
        "[  FAILED  ] S9/Fake.S9x/ipv6, where GetParam() = ipv6 (4 ms)\n"
        "[ RUN      ] Plain.S9y\n[  SKIPPED ] Plain.S9y (0 ms)\n"
        "[  FAILED  ] 1 test, listed below:\n[  FAILED  ] S9/Fake.S9x/ipv6, where GetParam() = ipv6\n")
    assert {name: (end.verdict, end.milliseconds, end.failure) for name, end in ends.items()} == {
        "S9/Fake.S9x/ipv4": ("OK", 3, None),
        "S9/Fake.S9x/ipv6": ("FAILED", 4, "x.cc:1: Failure\nno SYN"),
        "Plain.S9y": ("SKIPPED", 0, None)}
