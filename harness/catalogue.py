"""The scenario catalogue: claims and per-kernel expectations, as data.

One TOML file per scenario family in harness/scenarios/. Each file names the
case program that produces its observations; each scenario has the seed's
claim, the observations that make the claim hold, and expectations per kernel
range with their source. The file format is documented in self_connect.toml.
"""
from __future__ import annotations

import dataclasses
import pathlib
import tomllib

from harness import kernel

SCENARIO_DIR = pathlib.Path(__file__).parent / "scenarios"


class CatalogueError(ValueError):
    """A catalogue file that does not follow the format."""


@dataclasses.dataclass(frozen=True)
class Expectation:
    kernels: str
    observations: dict
    source: str
    # Sysctl values the expectation depends on: it applies only when the story ran with
    # each of them (configured by the run, or set by the story). On an observation it
    # names, it overrides the expectations without `when` (harness/judge.py).
    when: dict = dataclasses.field(default_factory=dict)


@dataclasses.dataclass(frozen=True)
class Scenario:
    id: str
    test: str  # GoogleTest test name in the family's program, without suite and parameter
    family: str
    title: str
    claim: str
    claim_holds_when: dict
    key_observations: list[str]
    expectations: list[Expectation]
    known_through: kernel.Version


@dataclasses.dataclass(frozen=True)
class Family:
    id: str
    title: str
    program: str
    scenarios: dict[str, Scenario]


def _require(table: dict, key: str, where: str):
    if key not in table:
        raise CatalogueError(f"{where}: missing key '{key}'")
    return table[key]


def _load_family(path: pathlib.Path) -> Family:
    where = str(path)
    try:
        data = tomllib.loads(path.read_text())
    except tomllib.TOMLDecodeError as error:
        raise CatalogueError(f"{where}: {error}") from error
    family_id = _require(data, "family", where)
    # Kept at the precision written: "7.2" covers every 7.2.y (parse_version would make it 7.2.0).
    known_through = kernel.parse_version(_require(data, "known_through", where))[: str(data["known_through"]).count(".") + 1]
    scenarios = {}
    for entry in _require(data, "scenario", where):
        sid = _require(entry, "id", where)
        here = f"{where}: scenario {sid}"
        expectations = []
        for exp in _require(entry, "expect", here):
            try:
                kernel.validate_range(_require(exp, "kernels", here))
            except (kernel.RangeError, ValueError) as error:
                raise CatalogueError(f"{here}: {error}") from error
            when = exp.get("when", {})
            if not isinstance(when, dict) or not all(isinstance(k, str) and isinstance(v, str) and "." in k
                                                      for k, v in when.items()):
                raise CatalogueError(f"{here}: 'when' must map sysctl names to string values, "
                                     'e.g. when = { "net.ipv4.tcp_timestamps" = "0" }')
            expectations.append(Expectation(exp["kernels"], _require(exp, "observations", here),
                                            _require(exp, "source", here), when))
        if sid in scenarios:
            raise CatalogueError(f"{here}: duplicate scenario id")
        scenarios[sid] = Scenario(
            id=sid, test=_require(entry, "test", here), family=family_id, title=_require(entry, "title", here),
            claim=_require(entry, "claim", here), claim_holds_when=_require(entry, "claim_holds_when", here),
            key_observations=entry.get("key_observations", []), expectations=expectations,
            known_through=known_through)
    return Family(family_id, _require(data, "title", where), _require(data, "program", where), scenarios)


def load(directory: pathlib.Path = SCENARIO_DIR) -> list[Family]:
    families = [_load_family(path) for path in directory.glob("*.toml")]
    # S1, S2, ... as SCENARIOS.md numbers them: the order of runs, listings and reports.
    families.sort(key=lambda family: (len(family.id), family.id))
    if not families:
        raise CatalogueError(f"no scenario files (*.toml) in {directory}")
    return families


def scenario_index(families: list[Family]) -> dict[str, Scenario]:
    return {sid: s for family in families for sid, s in family.scenarios.items()}
