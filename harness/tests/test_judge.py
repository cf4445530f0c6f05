import pytest

from harness.judge import catalogue, judge


def scenario(expectations, known_through=(7, 2)):
    return catalogue.Scenario(
        id="S9x", family="S9", title="t", claim="the claim",
        claim_holds_when={"connected": True}, key_observations=[],
        expectations=[catalogue.Expectation(k, o, f"source of {k}") for k, o in expectations],
        known_through=known_through)


@pytest.mark.parametrize("condition,observed,ok", [
    ("0", "0", True), ("0", 0, False), (True, True, True), (True, 1, False), (1, True, False),
    ({"min": 1}, 3, True), ({"min": 1}, 0, False), ({"max": 1000}, 1000, True),
    ({"one_of": ["A", "B"]}, "B", True), ({"min": 1}, "x", False),
])
def test_conditions(condition, observed, ok):
    assert judge.satisfies(condition, observed) is ok


def test_unknown_condition_is_a_catalogue_error():
    with pytest.raises(catalogue.CatalogueError):
        judge.satisfies({"atleast": 1}, 3)


def test_claim_verdicts():
    s = scenario([(">=3.6", {})])
    assert judge.judge_claim(s, {"connected": True})["verdict"] == "holds"
    assert judge.judge_claim(s, {"connected": False})["verdict"] == "refuted"
    assert judge.judge_claim(s, {})["verdict"] == "unknown"


def test_all_matching_expectations_apply():
    s = scenario([(">=3.6", {"connected": True}), ("<6.11", {"challenge": 1}), (">=6.11", {"challenge": 0})])
    old = judge.judge_expectation(s, {"connected": True, "challenge": 1}, (6, 1, 0))
    assert old["verdict"] == "as_expected"
    assert old["kernels"] == ">=3.6 ; <6.11"
    new = judge.judge_expectation(s, {"connected": True, "challenge": 1}, (6, 18, 44))
    assert new["verdict"] == "unexpected"
    assert new["mismatches"] == [{"observation": "challenge", "expected": 0, "observed": 1}]


def test_missing_observation_is_a_mismatch():
    s = scenario([(">=3.6", {"connected": True})])
    result = judge.judge_expectation(s, {"other": 1}, (6, 18, 0))
    assert result["mismatches"] == [{"observation": "connected", "expected": True, "observed": None}]


def test_kernel_newer_than_the_catalogue_is_judged_by_the_newest_expectations():
    s = scenario([(">=3.6", {"connected": True})], known_through=(7, 2))
    assert judge.judge_expectation(s, {"connected": True}, (7, 2, 13))["verdict"] == "as_expected"
    matched = judge.judge_expectation(s, {"connected": True}, (7, 3, 0))
    assert matched["verdict"] == "as_expected"
    assert "newer than every range" in matched["note"]
    differs = judge.judge_expectation(s, {"connected": False}, (7, 3, 0))
    assert differs["verdict"] == "new_behaviour"
    assert differs["mismatches"] == [{"observation": "connected", "expected": True, "observed": False}]


def test_kernel_outside_every_range_has_no_expectation():
    s = scenario([(">=4.6", {"connected": True})])
    result = judge.judge_expectation(s, {"connected": True}, (3, 10, 0))
    assert result["verdict"] == "none"
    assert "3.10.0" in result["note"]


def test_no_observations_means_nothing_to_judge():
    s = scenario([(">=3.6", {"connected": True})])
    assert judge.judge_expectation(s, {}, (6, 18, 0))["verdict"] == "none"
