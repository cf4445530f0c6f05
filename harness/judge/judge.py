"""Judging observations: the scenario's claim, and the expectation for a kernel.

Both are data-driven. A condition on an observation is either a literal (equal
to it) or a table of bounds: {min = 1}, {max = 1000}, {one_of = [...]}.
"""
from __future__ import annotations

import re

from harness.judge import catalogue
from harness.kernels import kernel

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
    return {"text": scenario.claim, "kind": scenario.claim_kind, "verdict": verdict}


def _newer_than_known(version: kernel.Version, known_through: kernel.Version) -> bool:
    # known_through "7.2" covers every 7.2.y.
    return tuple(version[: len(known_through)]) > tuple(known_through)


def _lacking(scenario: catalogue.Scenario, version: kernel.Version) -> list[catalogue.Lacks]:
    return [entry for entry in scenario.lacks if kernel.in_range(entry.kernels, version)]


def _conditions_hold(when: dict, sysctls: dict) -> bool:
    # sysctls: name -> the values it had in the story's namespaces (harness/run/configs.py).
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


def _base(applicable: list[catalogue.Expectation]) -> dict:
    return {
        "kernels": " ; ".join(e.kernels for e in applicable) or None,
        "source": " | ".join(e.source for e in applicable) or None,
        # One entry per expectation that applies: what the report cites when kernels differ.
        "applied": [{"kernels": e.kernels, "source": e.source, "observations": sorted(e.observations),
                     **({"when": dict(e.when)} if e.when else {})}
                    for e in applicable],
        "mismatches": [],
        "note": None,
    }


def judge_skip(scenario: catalogue.Scenario, reason: str | None, version: kernel.Version) -> dict:
    """A skip is judged too: as expected only where the catalogue says this kernel lacks the
    feature and the probe's reason says so; anywhere else the feature is missing."""
    reason = reason or ""
    lacking = _lacking(scenario, version)
    matched = [entry for entry in lacking if re.search(entry.skip_reason, reason)]
    if matched:
        return {**_base([]), "verdict": "absent_as_expected",
                "kernels": " ; ".join(e.kernels for e in matched),
                "source": " | ".join(e.source for e in matched),
                "applied": [{"kernels": e.kernels, "source": e.source, "observations": []} for e in matched],
                "note": "; ".join(f"kernel {kernel.format_version(version)} lacks {e.feature}" for e in matched)}
    applicable = applicable_expectations(scenario, version)
    if lacking:
        why = (f"the catalogue says kernel {kernel.format_version(version)} lacks "
               + ", ".join(e.feature for e in lacking) + ", but the skip's reason does not match "
               + " or ".join(repr(e.skip_reason) for e in lacking))
    else:
        why = f"expected on this kernel ({kernel.format_version(version)}), missing"
    return {**_base(applicable), "verdict": "missing", "note": f"{why}: {reason}"}


def judge_expectation(scenario: catalogue.Scenario, observations: dict, version: kernel.Version,
                      sysctls: dict | None = None) -> dict:
    applicable = applicable_expectations(scenario, version, sysctls)
    result = _base(applicable)
    if not observations:
        return {**result, "verdict": "none", "note": "no observations to judge"}
    found = [m for e in applicable for m in mismatches(e.observations, observations)]
    # The story ran although the catalogue says this kernel lacks what it needs: a change too.
    found += [{"observation": f"lacks {e.feature}", "expected": "absent (the probe skips the story)",
               "observed": "present (the story ran)"} for e in _lacking(scenario, version)]
    result["mismatches"] = found
    if _newer_than_known(version, scenario.known_through):
        note = (f"kernel {kernel.format_version(version)} is newer than every range the catalogue knows "
                f"(through {kernel.format_version(scenario.known_through)}); judged by the newest expectations")
        if found:
            return {**result, "verdict": "new_behaviour",
                    "note": f"{note}: {len(found)} observation(s) differ from them"}
        if applicable:
            return {**result, "verdict": "as_expected", "note": note}
    if not applicable:
        return {**result, "verdict": "none",
                "note": f"no expectation covers kernel {kernel.format_version(version)}"}
    return {**result, "verdict": "unexpected" if found else "as_expected"}
