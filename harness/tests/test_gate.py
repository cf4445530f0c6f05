"""The gate's pieces: judging skips against the catalogue, statuses and their precedence, shards."""
import pytest

from harness.judge import catalogue, gate, judge
from harness.run import shard

LACKS = catalogue.Lacks(kernels="<6.3", feature="IP_LOCAL_PORT_RANGE",
                        skip_reason=r"IP_LOCAL_PORT_RANGE .*ENOPROTOOPT", source="91d0b78c5177 (v6.3)")


def scenario(lacks=(LACKS,), known_through=(7, 2)):
    return catalogue.Scenario(
        id="S9x", family="S9", title="t", claim="c", claim_holds_when={"taken": False},
        key_observations=[], expectations=[catalogue.Expectation(">=6.3", {"taken": False}, "src")],
        known_through=known_through, lacks=list(lacks))


def test_a_skip_is_expected_only_where_the_catalogue_says_the_kernel_lacks_the_feature():
    reason = "skipped: IP_LOCAL_PORT_RANGE is not supported (setsockopt returned ENOPROTOOPT)"
    old = judge.judge_skip(scenario(), reason, (5, 10, 223))
    assert old["verdict"] == "absent_as_expected" and "lacks IP_LOCAL_PORT_RANGE" in old["note"]
    new = judge.judge_skip(scenario(), reason, (6, 18, 44))
    assert new["verdict"] == "missing"
    assert new["note"].startswith("expected on this kernel (6.18.44), missing")


def test_a_skip_with_another_reason_on_a_kernel_that_lacks_the_feature_is_not_excused():
    result = judge.judge_skip(scenario(), "skipped: IP_LOCAL_PORT_RANGE (setsockopt returned EINVAL)", (5, 10, 0))
    assert result["verdict"] == "missing"
    assert "does not match" in result["note"]


def test_a_story_that_runs_where_the_catalogue_says_the_feature_is_absent_is_a_mismatch():
    result = judge.judge_expectation(scenario(), {"taken": False}, (5, 10, 0))
    assert result["mismatches"][0]["observation"] == "lacks IP_LOCAL_PORT_RANGE"


SOURCE = "91d0b78c5177 inet: Add IP_LOCAL_PORT_RANGE socket option (v6.3)"


@pytest.mark.parametrize("table,message", [
    ({"kernels": "<6.3", "feature": "f", "source": SOURCE}, "'skip_reason' is a required property"),
    ({"kernels": "<6.3", "feature": "f", "skip_reason": "(", "source": SOURCE}, "missing \\)"),
    ({"kernels": "=>6.3", "feature": "f", "skip_reason": "x", "source": SOURCE}, "bad comparison"),
    ({"kernels": "<6.3", "feature": "f", "skip_reason": "x", "source": SOURCE, "why": "w"}, "unknown key 'why'"),
    ({"kernels": "<6.3", "feature": "", "skip_reason": "x", "source": SOURCE}, "feature: '' is too short"),
    ({"kernels": "<6.3", "feature": "f", "skip_reason": "x", "source": "s"}, "is too short"),
])
def test_malformed_lacks_entries_are_catalogue_errors(tmp_path, table, message):
    entries = ", ".join(f'{key} = "{value}"' for key, value in table.items())
    (tmp_path / "f.toml").write_text(f"""family = "S9"\ntitle = "t"\nprogram = "p"\nknown_through = "7.2"
[[scenario]]
id = "S9a"\ntitle = "t"\nclaim = "c"\nclaim_kind = "property"\nclaim_holds_when = {{}}
lacks = [{{ {entries} }}]
  [[scenario.expect]]
  kernels = ">=6.1"\nobservations = {{}}\nsource = "{SOURCE}"
""")
    with pytest.raises(catalogue.CatalogueError, match=message):
        catalogue.load(tmp_path)


def test_every_lacks_entry_of_the_shipped_catalogue_has_a_source():
    for family in catalogue.load(catalogue.SCENARIO_DIR):
        for s in family.scenarios.values():
            for entry in s.lacks:
                assert len(entry.source) > 20, s.id


def entry(outcome="passed", verdict="as_expected", mismatches=(), note=None, reason=None):
    return {"outcome": outcome, "reason": reason,
            "expectation": {"verdict": verdict, "mismatches": list(mismatches), "kernels": ">=3.6", "note": note}}


MISMATCH = {"observation": "state", "expected": "A", "observed": "B"}


@pytest.mark.parametrize("result,status", [
    (entry(), "pass"),
    (entry(verdict="unexpected", mismatches=[MISMATCH]), "changed"),
    (entry(verdict="new_behaviour", mismatches=[MISMATCH], note="newer"), "changed"),
    (entry(verdict="none", note="no expectation covers kernel 3.10.0"), "incomplete"),
    (entry(outcome="error", verdict="none", reason="crashed"), "error"),
    (entry(outcome="skipped", verdict="missing", note="expected on this kernel, missing"), "changed"),
    (entry(outcome="skipped", verdict="absent_as_expected", note="lacks f"), "pass"),
])
def test_result_gate(result, status):
    assert gate.result_gate(result)["status"] == status


def test_accept_new_kernel_relaxes_only_mismatches_beyond_known_through_and_says_so():
    beyond = gate.result_gate(entry(verdict="new_behaviour", mismatches=[MISMATCH], note="newer"),
                              [gate.ACCEPT_NEW_KERNEL])
    assert beyond["status"] == "pass" and beyond["relaxed_by"] == "--accept-new-kernel"
    assert beyond["why"].startswith("accepted by --accept-new-kernel")
    known = gate.result_gate(entry(verdict="unexpected", mismatches=[MISMATCH]), [gate.ACCEPT_NEW_KERNEL])
    assert known["status"] == "changed" and known["relaxed_by"] is None


@pytest.mark.parametrize("statuses,code", [
    (["pass"], 0), (["pass", "incomplete"], 4), (["incomplete", "error"], 3), (["error", "changed"], 1),
    (["pass", "changed", "incomplete"], 1), ([], 0),
])
def test_exit_status_precedence(statuses, code):
    assert gate.exit_status(statuses) == code


def test_a_target_without_results_is_incomplete():
    assert gate.exit_status(gate.target_statuses(None)) == 4
    assert gate.exit_status(gate.target_statuses({"results": []})) == 4


def test_shards_split_deterministically_and_cover_everything_once():
    items = [f"t{i}" for i in range(113)]
    parts = [shard.pick(f"{k}/4", items) for k in range(1, 5)]
    assert sorted(sum(parts, [])) == sorted(items)
    assert {len(p) for p in parts} == {28, 29}
    assert parts[0] == shard.pick("1/4", items)


@pytest.mark.parametrize("text", ["0/2", "3/2", "1", "a/b", "1/0"])
def test_bad_shards(text):
    with pytest.raises(shard.ShardError):
        shard.parse(text)


@pytest.mark.parametrize("wait_ms,verdict", [(174, "refuted"), (399, "refuted"), (993.7, "holds")])
def test_the_tw_reuse_claim_is_judged_on_every_condition_its_text_states(wait_ms, verdict):
    # "reuses a TIME_WAIT 4-tuple once the TIME_WAIT is more than a second old": 6.12 reused
    # after 174 and 399 ms and was still judged "holds" before the wait was part of the claim.
    s = catalogue.scenario_index(catalogue.load(catalogue.SCENARIO_DIR))["S3b-reuse1-veth"]
    observations = {"reused": True, "timestamps_negotiated": True, "reuse_wait_ms": wait_ms}
    assert judge.judge_claim(s, observations)["verdict"] == verdict


def test_a_later_draw_that_changed_is_the_results_gate():
    passed = {"status": gate.PASS, "why": None, "relaxed_by": None}
    changed = {"status": gate.CHANGED, "why": "unexpected: reused", "relaxed_by": None}
    assert gate.over_draws([passed, passed]) is not None and gate.over_draws([passed, passed])["status"] == gate.PASS
    worst = gate.over_draws([passed, changed, passed])
    assert worst["status"] == gate.CHANGED and worst["why"] == "draw 2: unexpected: reused"
    assert gate.exit_status([worst["status"]]) == 1
    # Draws that never ran (a guest that stopped): incomplete, not a pass.
    assert gate.over_draws([passed], missing=2)["status"] == gate.INCOMPLETE


def test_an_unknown_gate_status_is_an_error_not_a_pass():
    import pytest
    with pytest.raises(ValueError):
        gate.exit_status(["pass", "chnaged"])
