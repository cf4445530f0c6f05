"""The claim axis in words: a hazard's verdict says whether it can happen, a property's whether it holds.

A result's `claim` carries the catalogue's `kind` ("hazard" or "property",
harness/scenarios/*.toml `claim_kind`) beside its verdict ("holds", "refuted",
"unknown"). The report, the Markdown and `./tcprepro show` say it the same way.
"""

HAZARD, PROPERTY = "hazard", "property"
WORDS = {
    (HAZARD, "holds"): "hazard reachable", (HAZARD, "refuted"): "hazard not reachable",
    (PROPERTY, "holds"): "claim holds", (PROPERTY, "refuted"): "claim refuted",
}
EMOJI = {"hazard reachable": "⚠️", "hazard not reachable": "🛡", "claim holds": "🟣", "claim refuted": "⭕"}


def claim_words(verdict: str, kind: str = PROPERTY) -> str:
    """"hazard reachable", "claim refuted", "claim unknown"."""
    return WORDS.get((kind, verdict), f"{HAZARD if kind == HAZARD else 'claim'} {verdict.replace('_', ' ')}")


def md_claim(verdict: str, kind: str = PROPERTY) -> str:
    text = claim_words(verdict, kind)
    return f"{EMOJI[text]} {text}" if text in EMOJI else text
