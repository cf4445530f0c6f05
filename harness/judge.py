"""Judging observations: the scenario's claim, and the expectation for a kernel.

Both are data-driven. A condition on an observation is either a literal (equal
to it) or a table of bounds: {min = 1}, {max = 1000}, {one_of = [...]}.
"""
from __future__ import annotations

from harness import catalogue, kernel

_MISSING = object()


def satisfies(condition, observed) -> bool:
    if observed is _MISSING:
        return False
    if isinstance(condition, dict):
        checks = {
            "min": lambda bound: observed >= bound,
            "max": lambda bound: observed <= bound,
            "one_of": lambda options: observed in options,
        }
        unknown = set(condition) - set(checks)
        if unknown:
            raise catalogue.CatalogueError(f"unknown condition {sorted(unknown)}: use min, max or one_of")
        try:
            return all(checks[name](bound) for name, bound in condition.items())
        except TypeError:  # e.g. a string compared with a number
            return False
    # bool is an int in Python: keep true apart from 1.
    if isinstance(condition, bool) or isinstance(observed, bool):
        return condition is observed
    return condition == observed


def mismatches(conditions: dict, observations: dict) -> list[dict]:
    out = []
    for name, condition in conditions.items():
        observed = observations.get(name, _MISSING)
        if not satisfies(condition, observed):
            out.append({"observation": name, "expected": condition,
                        "observed": None if observed is _MISSING else observed})
    return out


def judge_claim(scenario: catalogue.Scenario, observations: dict) -> dict:
    if not observations:
        verdict = "unknown"
    else:
        verdict = "holds" if not mismatches(scenario.claim_holds_when, observations) else "refuted"
    return {"text": scenario.claim, "verdict": verdict}


def _newer_than_known(version: kernel.Version, known_through: kernel.Version) -> bool:
    # known_through "7.2" covers every 7.2.y.
    return tuple(version[: len(known_through)]) > tuple(known_through)


def _conditions_hold(when: dict, sysctls: dict) -> bool:
    # sysctls: name -> the values it had in the story's namespaces (harness/configs.py).
    return all(value in sysctls.get(name, ()) for name, value in when.items())


def applicable_expectations(scenario: catalogue.Scenario, version: kernel.Version,
                            sysctls: dict | None = None) -> list[catalogue.Expectation]:
    """The expectations for this kernel and these sysctl values. Expectations with `when`
    describe the story under those values: when one matches, the matching ones are the
    whole expectation and those without `when` (written for the kernel's defaults) do not
    apply."""
    sysctls = sysctls or {}
    in_range = [e for e in scenario.expectations if kernel.in_range(e.kernels, version)]
    conditional = [e for e in in_range if e.when and _conditions_hold(e.when, sysctls)]
    return conditional or [e for e in in_range if not e.when]


def judge_expectation(scenario: catalogue.Scenario, observations: dict, version: kernel.Version,
                      sysctls: dict | None = None) -> dict:
    applicable = applicable_expectations(scenario, version, sysctls)
    result = {
        "kernels": " ; ".join(e.kernels for e in applicable) or None,
        "source": " | ".join(e.source for e in applicable) or None,
        # One entry per expectation that applies: what the report cites when kernels differ.
        "applied": [{"kernels": e.kernels, "source": e.source, "observations": sorted(e.observations),
                     **({"when": dict(e.when)} if e.when else {})}
                    for e in applicable],
        "mismatches": [],
        "note": None,
    }
    if not observations:
        return {**result, "verdict": "none", "note": "no observations to judge"}
    found = [m for e in applicable for m in mismatches(e.observations, observations)]
    result["mismatches"] = found
    if _newer_than_known(version, scenario.known_through):
        note = (f"kernel {kernel.format_version(version)} is newer than every range the catalogue knows "
                f"(through {kernel.format_version(scenario.known_through)})")
        if found:
            note += f"; {len(found)} observation(s) differ from the newest expectation"
        return {**result, "verdict": "new_behaviour", "note": note}
    if not applicable:
        return {**result, "verdict": "none",
                "note": f"no expectation covers kernel {kernel.format_version(version)}"}
    return {**result, "verdict": "unexpected" if found else "as_expected"}
