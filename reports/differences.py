"""What differs between kernels in one report row, and which kernel change explains it.

A row is compared over the kernels whose result came back: a result of a guest
that did not finish says nothing about the kernel (its column says why). Compared:
the outcome; among the kernels that ran the story, the expectation verdict, the
claim verdict and each behaviour key observation (observations.py). "new behaviour"
(a kernel newer than the catalogue) without a mismatch counts as "as expected".

The explanation: an expectation that applied on some of the compared kernels but
not on others, and that constrains a differing observation (or one that missed
its expectation), is the kernel change behind the difference. Kernels are grouped
by what they showed, and each group cites the expectations that applied to it.
When observations differ and no such expectation exists, the row says so: the
catalogue does not know this change, which is a finding for a maintainer.

A measurement (a timing, a share) is not compared by value, but it differs when
different expectations judge it on different kernels: 0.0 odd ports before a
change and a share above 0.1 after it is a change the catalogue knows.
"""

from dataclasses import dataclass

from .expectations import Applied
from .values import canonical, short_text

OUTCOME, VERDICT, CLAIM = "outcome", "expectation verdict", "claim verdict"
_MISSING = "(absent)"


@dataclass(frozen=True)
class Sample:
    """One kernel's side of a row (the row's variants agree on all of it)."""
    kernel: str  # how the annotation names the kernel
    outcome: str
    expectation_verdict: str
    claim_verdict: str
    values: dict  # behaviour key observation -> value (passed results only)
    applied: list[Applied]
    mismatched: frozenset[str]  # observations that missed their expectation
    reason: str | None

    @property
    def ran(self) -> bool:
        return self.outcome == "passed"


@dataclass(frozen=True)
class Cited:
    expectation: Applied
    only_on: list[str]  # the group's kernels it applies to, when not all of them


@dataclass(frozen=True)
class KernelGroup:
    kernels: list[str]
    shown: list[tuple[str, str]]  # (what, value) for each differing item
    cited: list[Cited]


@dataclass(frozen=True)
class Annotation:
    groups: list[KernelGroup]
    unexplained: bool  # observations differ and no expectation that differs between kernels constrains them


def differing(samples: list[Sample], keys: list[str], measured: list[str] = ()) -> list[str]:
    """What differs between the samples: OUTCOME, VERDICT, CLAIM, behaviour keys (by value)
    and measured keys (by the expectations that judge them), in that order."""
    ran = [s for s in samples if s.ran]
    out = [OUTCOME] if len({s.outcome for s in samples}) > 1 else []
    if len({_verdict_class(s) for s in ran}) > 1:
        out.append(VERDICT)
    if len({s.claim_verdict for s in ran}) > 1:
        out.append(CLAIM)
    return (out + [key for key in keys if len({_key(s.values, key) for s in ran}) > 1]
            + [key for key in measured if len({_judged_by(s, key) for s in ran}) > 1])


def _judged_by(sample: Sample, key: str) -> frozenset:
    """The expectations that constrain a measurement on this sample's kernel."""
    return frozenset(e.identity for e in sample.applied if e.observations is not None and key in e.observations)


def annotate(samples: list[Sample], differences: list[str], measured: list[str] = ()) -> Annotation | None:
    if not differences:
        return None
    observed = [d for d in differences if d not in (OUTCOME, VERDICT, CLAIM)]
    ran = [s for s in samples if s.ran]
    relevant = _explaining(ran, set(observed) | {m for s in ran for m in s.mismatched})
    # Kernels group by what they showed; for a measurement, by what judged it (its values vary).
    groups: dict[tuple, list[Sample]] = {}
    for sample in samples:
        key = tuple(_judged_by(sample, what) if what in measured and sample.ran else shown
                    for what, shown in _shown(sample, differences))
        groups.setdefault(key, []).append(sample)
    return Annotation(
        groups=[
            KernelGroup([s.kernel for s in members], _shown_by_group(members, differences), _cited(members, relevant))
            for members in groups.values()
        ],
        unexplained=bool(observed) and not relevant,
    )


def verdict_class(verdict: str, mismatched: bool) -> str:
    """The expectation verdict two results are compared by (the report's rows, `compare`).
    A kernel newer than the catalogue is judged against the newest expectation: without a
    mismatch it agrees with the kernels that are as expected (its badge still says new)."""
    if verdict == "new_behaviour":
        return "unexpected" if mismatched else "as_expected"
    return verdict


def _verdict_class(sample: Sample) -> str:
    return verdict_class(sample.expectation_verdict, bool(sample.mismatched))


def _key(values: dict, key: str) -> str:
    return canonical(values[key]) if key in values else _MISSING


def _shown(sample: Sample, differences: list[str]) -> list[tuple[str, str]]:
    if not sample.ran:
        # Nothing was observed: the outcome (and why) is all there is to show.
        return [(OUTCOME, _outcome_text(sample))]
    shown = []
    for what in differences:
        if what == OUTCOME:
            shown.append((what, sample.outcome))
        elif what == VERDICT:
            shown.append((what, sample.expectation_verdict.replace("_", " ")))
        elif what == CLAIM:
            shown.append((what, sample.claim_verdict))
        else:
            shown.append((what, short_text(sample.values[what]) if what in sample.values else _MISSING))
    return shown


def _shown_by_group(members: list[Sample], differences: list[str]) -> list[tuple[str, str]]:
    """Each differing item with its value; a measurement lists its members' values."""
    per_member = [_shown(sample, differences) for sample in members]
    return [(what, ", ".join(dict.fromkeys(shown[i][1] for shown in per_member)))
            for i, (what, _) in enumerate(per_member[0])]


def _outcome_text(sample: Sample) -> str:
    reason = sample.reason or ""
    if not reason or reason.startswith(sample.outcome):  # the harness often starts it with "skipped:"
        return reason or sample.outcome
    return f"{sample.outcome}: {reason}"


def _explaining(ran: list[Sample], keys: set[str]) -> list[Applied]:
    """Expectations that applied on some kernels that ran but not all, and constrain one of keys."""
    seen: dict[tuple, Applied] = {}
    on: dict[tuple, int] = {}
    for sample in ran:
        for expectation in {e.identity: e for e in sample.applied}.values():
            seen.setdefault(expectation.identity, expectation)
            on[expectation.identity] = on.get(expectation.identity, 0) + 1
    return [e for identity, e in seen.items() if on[identity] < len(ran) and e.constrains_any(keys)]


def _cited(members: list[Sample], relevant: list[Applied]) -> list[Cited]:
    cited = []
    for expectation in relevant:
        on = [s.kernel for s in members if s.ran and expectation.identity in {e.identity for e in s.applied}]
        if on:
            cited.append(Cited(expectation, [] if len(on) == len(members) else on))
    return cited
