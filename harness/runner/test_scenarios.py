"""One pytest item per case test; the work happens in the `executed` fixture.

The item's outcome follows the result's gate status (harness/judge/gate.py): pass ->
passed (a skip the catalogue expects -> skipped, with its reason); changed,
error and incomplete -> failed, with why. The run's exit status is computed from
results.json, not from pytest's.
"""
import pytest

from harness.judge import gate, repeats


def test_scenario(case, executed):
    entry = executed[case.id]
    if "repeats" in entry and not entry["repeats"]["stable"]:
        pytest.fail(repeats.unstable_text(entry["repeats"]), pytrace=False)
    verdict = entry["gate"]
    if verdict["status"] == gate.PASS:
        if entry["outcome"] == "skipped":
            pytest.skip(verdict["why"])
        return
    pytest.fail(f"{verdict['status']}: {verdict['why']}", pytrace=False)
