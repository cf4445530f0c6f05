"""The headline ("Differences between kernels") is the same for every draw of a repeated run."""
import json

from reports import headline
from reports.load import load_result_sets
from reports.model import build_report

from .builders import result, write_target

OLD = {"kernels": ">=4.18,<6.14", "source": "before 6.14: reuse at the seconds tick",
       "observations": ["attempts", "reuse_wait_ms"], "bounded": ["attempts", "reuse_wait_ms"]}
NEW = {"kernels": ">=6.14", "source": "6.14: reuse after tcp_tw_reuse_delay", "observations": ["attempts", "reuse_wait_ms"],
       "bounded": ["attempts", "reuse_wait_ms"]}
VARIANTS = ({"family": "ipv4", "address": "veth"}, {"family": "ipv6", "address": "veth"})


def _repeated(rid, variant, applied, claims, waits, attempts):
    """A result of `run --repeat N` whose draws saw `waits` and `attempts` and judged the claim `claims`."""
    entry = result(rid, "S3b-reuse1-veth", variant=variant, applied=[applied],
                   claim=claims[0], observations={"reused": True, "reuse_wait_ms": waits[0], "attempts": attempts[0]},
                   key_observations=["reused", "reuse_wait_ms", "attempts"])
    n = len(waits)
    entry["repeats"] = {
        "runs": n, "stable": len(set(claims)) == 1, "outcomes": ["passed"] * n, "verdicts": ["as_expected"] * n,
        "claim_verdicts": list(claims),
        "observations": {"reused": {"stable": True, "value": True},
                         "reuse_wait_ms": {"stable": False, "values": list(waits), "judged": True,
                                           "judgement_stable": True},
                         "attempts": {"stable": len(set(attempts)) == 1, "values": list(attempts)}}}
    return entry


def _run(tmp_path, old_claims, new_claims):
    old = [_repeated(f"S3b-reuse1-veth/{v['family']}_veth", v, OLD, old_claims, (120.5 + i, 290.0 + i, 201.0), (30, 58, 41))
           for i, v in enumerate(VARIANTS)]
    new = [_repeated(f"S3b-reuse1-veth/{v['family']}_veth", v, NEW, new_claims, (1004.2, 1001.0 + i, 1010.5), (201, 199, 200))
           for i, v in enumerate(VARIANTS)]
    for name, upstream, results in (("debian:bookworm", "6.1.192", old), ("host", "6.18.44", new)):
        target = write_target(tmp_path / "run", name, upstream, results)
        doc = json.loads((target / "results.json").read_text())
        doc["run"]["repeat"] = 3
        (target / "results.json").write_text(json.dumps(doc))
    sets = load_result_sets([tmp_path / "run"])
    per_draw = [headline.draws(rs) for rs in sets]
    return [headline.signature(build_report([draws[k] for draws in per_draw], tmp_path / "out")) for k in range(3)]


def test_every_draw_gives_the_same_headline_when_the_verdicts_are_stable(tmp_path):
    signatures = _run(tmp_path, ["refuted"] * 3, ["holds"] * 3)
    assert signatures[0] == signatures[1] == signatures[2]
    assert signatures[0][0] == "1 of 1 rows differ"
    assert "claim verdict=refuted" in signatures[0][1] and "claim verdict=holds" in signatures[0][1]


def test_a_claim_that_is_a_draw_changes_the_headline(tmp_path):
    """The check can fail: the S3b claim as it was, refuted or holding by where the clock stood."""
    signatures = _run(tmp_path, ["refuted", "holds", "refuted"], ["holds"] * 3)
    assert signatures[0] != signatures[1]
    assert "claim verdict" in signatures[0][1] and "claim verdict" not in signatures[1][1]
