"""One pytest item per case test; the work happens in the `executed` fixture."""
import json

import pytest


def _mismatch_text(expectation: dict) -> str:
    return "; ".join(f"{m['observation']}: expected {json.dumps(m['expected'])}, observed {json.dumps(m['observed'])}"
                     for m in expectation["mismatches"])


def test_scenario(case, executed):
    entry = executed[case.id]
    expectation = entry["expectation"]
    if entry["outcome"] == "skipped":
        pytest.skip(entry["reason"])
    if entry["outcome"] == "error":
        pytest.fail(f"machinery error: {entry['reason']}", pytrace=False)
    if expectation["verdict"] == "new_behaviour":
        pytest.xfail(f"new behaviour: {expectation['note']}")
    if expectation["verdict"] == "unexpected":
        pytest.fail(f"unexpected on this kernel ({expectation['kernels']}): {_mismatch_text(expectation)}",
                    pytrace=False)
    if expectation["verdict"] == "none":
        pytest.xfail(f"no expectation: {expectation['note']}")
    assert expectation["verdict"] == "as_expected", expectation
