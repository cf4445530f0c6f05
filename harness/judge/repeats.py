"""`run --repeat N`: every test runs N times; what varied between the draws.

One draw can pass or fail by luck (a timing near a bound, a port the kernel
happened to pick); N draws show whether the verdict is steady. The first
draw's entry stays the result (its evidence is the one linked); the others
add the `repeats` block (harness/RESULTS.md):

    "repeats": {"runs": N, "stable": bool, "outcomes": [per draw], "verdicts": [per draw],
                "observations": {name: {"stable": true, "value": v} |
                                       {"stable": false, "values": [per draw]},
                                 plus, for an observation an expectation judges:
                                       "judged": true, "judgement_stable": bool}}

Per observation, `stable` says whether every draw saw the same value (a
randomised port or an elapsed time varies, and its values are listed). The
verdict is what must not vary: the top-level `stable` is true when every draw
had the same outcome and verdict and judged every observation the same way
(all matched or all mismatched); a measurement may vary inside its tolerance.
"""
from __future__ import annotations

import json


def _judged(entry: dict) -> set[str]:
    """Observations some expectation that applied names."""
    return {name for applied in entry["expectation"].get("applied", []) for name in applied.get("observations", [])}


def _mismatched(entry: dict) -> set[str]:
    return {m["observation"] for m in entry["expectation"].get("mismatches", [])}


def block(draws: list[dict]) -> dict:
    """The repeats block for one test's entries, one per draw, in draw order."""
    names = list(dict.fromkeys(name for entry in draws for name in entry["observations"]))
    judged = set().union(*(_judged(entry) for entry in draws))
    observations = {}
    for name in names:
        values = [entry["observations"].get(name) for entry in draws]
        same_value = all(json.dumps(v, sort_keys=True) == json.dumps(values[0], sort_keys=True) for v in values)
        observation = {"stable": True, "value": values[0]} if same_value else {"stable": False, "values": values}
        if name in judged:
            observation.update(judged=True,
                               judgement_stable=len({name in _mismatched(entry) for entry in draws}) == 1)
        observations[name] = observation
    outcomes = [entry["outcome"] for entry in draws]
    verdicts = [entry["expectation"]["verdict"] for entry in draws]
    stable = (len(set(outcomes)) == 1 and len(set(verdicts)) == 1
              and all(o.get("judgement_stable", True) for o in observations.values()))
    return {"runs": len(draws), "stable": stable, "outcomes": outcomes, "verdicts": verdicts,
            "observations": observations}


def unstable_text(repeats: dict) -> str:
    """One line saying what varied, for the pytest item and the console."""
    parts = []
    if len(set(repeats["outcomes"])) > 1:
        parts.append(f"outcome {repeats['outcomes']}")
    if len(set(repeats["verdicts"])) > 1:
        parts.append(f"verdict {repeats['verdicts']}")
    parts += [f"{name} {json.dumps(o['values'])}" for name, o in repeats["observations"].items()
              if not o.get("judgement_stable", True)]
    return f"unstable over {repeats['runs']} runs: " + "; ".join(parts)
