"""The gate: what each judged result means for a CI, and the run's exit status.

One status per result, from its outcome and expectation verdict:

    pass        judged, and every judged observation matched (or the feature is
                absent where the catalogue says this kernel lacks it)
    changed     behaviour differs from the expectations: a mismatch, a skip where the
                catalogue expects the feature, or a mismatch on a kernel newer than
                the catalogue knows (unless --accept-new-kernel relaxes that)
    error       the machinery failed (the lab, a case program or a guest)
    incomplete  nothing to judge it by: no expectation covers this kernel

Exit statuses (README, "Exit status"): 0 pass, 1 changed, 3 error, 4 incomplete;
when several apply, 1 > 3 > 4 > 0. 2 (bad input) and 5 (cannot run here) are
decided before anything runs; 130 when interrupted.
"""
from __future__ import annotations

import json

PASS, CHANGED, ERROR, INCOMPLETE = "pass", "changed", "error", "incomplete"
OK, BAD_INPUT, CANNOT_RUN, INTERRUPTED = 0, 2, 5, 130
EXIT = {PASS: 0, CHANGED: 1, ERROR: 3, INCOMPLETE: 4}
_PRECEDENCE = (1, 3, 4, 0)  # the first that applies wins
ACCEPT_NEW_KERNEL = "--accept-new-kernel"


def _mismatch_text(mismatches: list[dict]) -> str:
    return "; ".join(f"{m['observation']}: expected {json.dumps(m['expected'])}, observed {json.dumps(m['observed'])}"
                     for m in mismatches)


def result_gate(entry: dict, relaxed_by: list[str] = ()) -> dict:
    """{"status", "why", "relaxed_by"} of one result (an entry of results.json)."""
    expectation = entry["expectation"]
    verdict = expectation["verdict"]
    relaxed = None
    if entry["outcome"] == "error":
        status, why = ERROR, f"machinery error: {entry['reason']}"
    elif entry["outcome"] == "skipped":
        if verdict == "absent_as_expected":
            status, why = PASS, f"skipped as the catalogue expects: {expectation['note']}"
        else:
            status, why = CHANGED, expectation.get("note") or f"expected on this kernel, missing: {entry['reason']}"
    elif verdict == "as_expected":
        status, why = PASS, None
    elif verdict == "unexpected":
        status, why = CHANGED, (f"unexpected on this kernel ({expectation['kernels']}): "
                                f"{_mismatch_text(expectation['mismatches'])}")
    elif verdict == "new_behaviour":
        why = f"{expectation['note']}: {_mismatch_text(expectation['mismatches'])}"
        if ACCEPT_NEW_KERNEL in relaxed_by:
            status, relaxed = PASS, ACCEPT_NEW_KERNEL
            why = f"accepted by {ACCEPT_NEW_KERNEL}: {why}"
        else:
            status = CHANGED
    else:  # "none": observations, but no expectation covers this kernel
        status, why = INCOMPLETE, f"not judged: {expectation.get('note') or 'no expectation'}"
    return {"status": status, "why": why, "relaxed_by": relaxed}


def over_draws(gates: list[dict], missing: int = 0) -> dict:
    """The gate of a result run several times (run --repeat): the first draw's
    when every draw agrees, else the draw whose status ranks first; draws that
    never ran make it incomplete at best. A later draw can never be hidden
    behind the first one's pass."""
    ranked = [*gates, *([{"status": INCOMPLETE, "why": f"{missing} of the draws did not run", "relaxed_by": None}]
                        if missing else [])]
    worst = min(ranked, key=lambda g: _PRECEDENCE.index(EXIT[g["status"]]))
    if worst["status"] == gates[0]["status"]:
        return gates[0]
    draw = ranked.index(worst)
    return {**worst, "why": f"draw {draw + 1}: {worst['why']}" if draw < len(gates) else worst["why"]}


def exit_status(statuses) -> int:
    """The run's exit status from the gate statuses (and exit codes) that apply."""
    codes = set()
    for status in statuses:
        if isinstance(status, str) and status not in EXIT:
            raise ValueError(f"unknown gate status {status!r}")  # never read as a pass
        codes.add(EXIT.get(status, status))
    return next((code for code in _PRECEDENCE if code in codes), OK)


def target_statuses(document: dict | None) -> list[str]:
    """Gate statuses of one target's results.json; a missing document is incomplete."""
    if document is None:
        return [INCOMPLETE]
    statuses = [r["gate"]["status"] for r in document["results"]]
    return statuses or [INCOMPLETE]
