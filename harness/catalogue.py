"""The scenario catalogue: claims and per-kernel expectations, as data.

One TOML file per scenario family in harness/scenarios/. Each file names the
case program that produces its observations; each scenario has the seed's
claim, the observations that make the claim hold, and expectations per kernel
range with their source. The file format is documented in self_connect.toml.

TCPREPRO_CATALOGUE names another directory of such files. It is for testing the
gate: a test catalogue with deliberately wrong expectations, run against the
real case programs, must turn the run red.
"""
from __future__ import annotations

import dataclasses
import os
import pathlib
import re
import tomllib

from harness import kernel

SCENARIO_DIR = pathlib.Path(__file__).parent / "scenarios"
CATALOGUE_ENV = "TCPREPRO_CATALOGUE"


class CatalogueError(ValueError):
    """A catalogue file that does not follow the format."""


@dataclasses.dataclass(frozen=True)
class Expectation:
    kernels: str
    observations: dict
    source: str


@dataclasses.dataclass(frozen=True)
class Lacks:
    """Kernels that lack a feature the story needs: there the case program's probe skips it.

    A skip counts as judged only where such an entry covers the kernel and the skip's
    reason matches `skip_reason` (a regular expression: the probe's own words, e.g. the
    errno that says the option does not exist). Anywhere else a skip is a change."""
    kernels: str
    feature: str
    skip_reason: str
    source: str


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
    lacks: list[Lacks] = dataclasses.field(default_factory=list)


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
            expectations.append(Expectation(exp["kernels"], _require(exp, "observations", here),
                                            _require(exp, "source", here)))
        lacks = [_lacks(entry, here) for entry in entry.get("lacks", [])]
        if sid in scenarios:
            raise CatalogueError(f"{here}: duplicate scenario id")
        scenarios[sid] = Scenario(
            id=sid, test=_require(entry, "test", here), family=family_id, title=_require(entry, "title", here),
            claim=_require(entry, "claim", here), claim_holds_when=_require(entry, "claim_holds_when", here),
            key_observations=entry.get("key_observations", []), expectations=expectations,
            known_through=known_through, lacks=lacks)
    return Family(family_id, _require(data, "title", where), _require(data, "program", where), scenarios)


_LACKS_KEYS = {"kernels", "feature", "skip_reason", "source"}


def _lacks(table: dict, where: str) -> Lacks:
    unknown = set(table) - _LACKS_KEYS
    if unknown:
        raise CatalogueError(f"{where}: unknown key(s) {sorted(unknown)} in [[scenario.lacks]]; "
                             f"use {sorted(_LACKS_KEYS)}")
    values = {key: _require(table, key, f"{where} [[scenario.lacks]]") for key in sorted(_LACKS_KEYS)}
    for key, value in values.items():
        if not isinstance(value, str) or not value.strip():
            raise CatalogueError(f"{where}: [[scenario.lacks]] {key} must be a non-empty string")
    try:
        kernel.validate_range(values["kernels"])
        re.compile(values["skip_reason"])
    except (kernel.RangeError, ValueError, re.error) as error:
        raise CatalogueError(f"{where}: [[scenario.lacks]]: {error}") from error
    return Lacks(**values)


def default_directory() -> pathlib.Path:
    """The shipped catalogue, or the one $TCPREPRO_CATALOGUE names (for testing)."""
    return pathlib.Path(os.environ.get(CATALOGUE_ENV) or SCENARIO_DIR)


def load(directory: pathlib.Path | None = None) -> list[Family]:
    directory = directory or default_directory()
    families = [_load_family(path) for path in directory.glob("*.toml")]
    # S1, S2, ... as SCENARIOS.md numbers them: the order of runs, listings and reports.
    families.sort(key=lambda family: (len(family.id), family.id))
    if not families:
        raise CatalogueError(f"no scenario files (*.toml) in {directory}")
    return families


def scenario_index(families: list[Family]) -> dict[str, Scenario]:
    return {sid: s for family in families for sid, s in family.scenarios.items()}
