"""The scenario catalogue: claims and per-kernel expectations, as data.

One TOML file per scenario family in harness/scenarios/, validated against
harness/scenarios/catalogue.schema.json when it is loaded (docs/catalogue.md
explains the format). The catalogue is the one source of scenario ids: the
story that runs a scenario is the GoogleTest test named by `gtest_name(id)`.

TCPREPRO_CATALOGUE names another directory of such files. It is for testing the
gate: a test catalogue with deliberately wrong expectations, run against the
real case programs, must turn the run red.
"""
from __future__ import annotations

import dataclasses
import functools
import json
import os
import pathlib
import re
import tomllib

from harness.kernels import kernel

SCENARIO_DIR = pathlib.Path(__file__).resolve().parents[1] / "scenarios"
SCHEMA_FILE = SCENARIO_DIR / "catalogue.schema.json"
CATALOGUE_ENV = "TCPREPRO_CATALOGUE"
HAZARD, PROPERTY = "hazard", "property"  # a scenario's claim_kind


class CatalogueError(ValueError):
    """A catalogue file that does not follow the format."""


def gtest_name(scenario_id: str) -> str:
    """The GoogleTest test (before any /variant) whose story runs the scenario: "S3e-valid-syn" -> "S3e_valid_syn"."""
    return scenario_id.replace("-", "_")


@dataclasses.dataclass(frozen=True)
class Expectation:
    kernels: str
    observations: dict
    source: str
    # Sysctl values the expectation depends on: it applies only when the story ran with
    # each of them (configured by the run, or set by the story); when one such expectation
    # applies, those without `when` do not (harness/judge/judge.py).
    when: dict = dataclasses.field(default_factory=dict)


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
class Shares:
    """Kernel-global state a story observes, which another story could move (catalogue key `shares`).

    `among`: "variant" (every story of the family with the same variant shares one
    instance) or "result" (each result shares its instance only with itself: its
    other draws, other runs). Stories holding the same `lock` never run at once."""
    state: str
    among: str

    def lock(self, family: str, result_id: str, variant: str) -> str:
        if self.among == "variant":
            return f"{self.state}-{family}-{variant}"
        return f"{self.state}-" + "".join(c if c.isalnum() else "_" for c in result_id)


@dataclasses.dataclass(frozen=True)
class Scenario:
    id: str
    family: str
    title: str
    claim: str
    claim_holds_when: dict
    key_observations: list[str]
    expectations: list[Expectation]
    known_through: kernel.Version
    lacks: list[Lacks] = dataclasses.field(default_factory=list)
    shares: Shares | None = None
    # HAZARD (something goes wrong: its verdict reads "hazard reachable / not reachable")
    # or PROPERTY (how the kernel behaves: "holds / refuted"). Every catalogue file says which.
    claim_kind: str = PROPERTY

    @property
    def gtest_name(self) -> str:
        return gtest_name(self.id)


@dataclasses.dataclass(frozen=True)
class Family:
    id: str
    title: str
    program: str
    scenarios: dict[str, Scenario]


@functools.cache
def _validator():
    import jsonschema  # python3-jsonschema; imported here so `./tcprepro doctor` can say it is missing
    return jsonschema.Draft202012Validator(json.loads(SCHEMA_FILE.read_text()))


def _table_of_line(lines: list[str]) -> list[tuple]:
    """For each line, the path of the TOML table it belongs to: (), ("scenario", 0), ("scenario", 0, "expect", 1)."""
    scenario, expect, table, out = -1, -1, (), []
    for line in lines:
        header = line.strip()
        if header == "[[scenario]]":
            scenario, expect = scenario + 1, -1
            table = ("scenario", scenario)
        elif header == "[[scenario.expect]]":
            expect += 1
            table = ("scenario", scenario, "expect", expect)
        out.append(table)
    return out


def _line_of(text: str, path: list, key: str | None) -> int:
    """1-based line of `key` (or of the table) at `path` in a catalogue file; 0 when not found."""
    lines = text.splitlines()
    tables = _table_of_line(lines)
    table = tuple(path[:4]) if len(path) >= 4 and path[2] == "expect" else tuple(path[:2])
    if not (table and table[0] == "scenario"):
        table = ()
    names = [key] if key else [str(p) for p in reversed(path) if isinstance(p, str) and p not in ("scenario", "expect")]
    for name in names[:1]:
        pattern = re.compile(r"(^|[{,\s])" + re.escape(name) + r"\s*=")
        for number, line in enumerate(lines, 1):
            if tables[number - 1] == table and pattern.search(line.split("#", 1)[0]):
                return number
    for number, line_table in enumerate(tables, 1):
        if line_table == table:
            return number
    return 0


def _schema_errors(text: str, data: dict, where: str) -> list[str]:
    messages = []
    for error in sorted(_validator().iter_errors(data), key=lambda e: list(map(str, e.absolute_path))):
        path = list(error.absolute_path)
        if error.validator == "additionalProperties":
            allowed = set(error.schema.get("properties", {}))
            for key in sorted(set(error.instance) - allowed):
                hint = f"; allowed: {', '.join(sorted(allowed))}" if allowed else ""
                messages.append(f"{where}:{_line_of(text, path, key)}: unknown key '{key}'{hint}")
            continue
        if error.validator == "required":
            messages.append(f"{where}:{_line_of(text, path, None)}: {error.message}")
            continue
        at = ".".join(str(p) for p in path) or "(top level)"
        messages.append(f"{where}:{_line_of(text, path, None)}: {at}: {error.message}")
    return messages


def _load_family(path: pathlib.Path) -> Family:
    where = str(path)
    text = path.read_text()
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as error:
        raise CatalogueError(f"{where}: {error}") from error
    problems = _schema_errors(text, data, where)
    if problems:
        raise CatalogueError("\n".join(problems))
    family_id = data["family"]
    # Kept at the precision written: "7.2" covers every 7.2.y (parse_version would make it 7.2.0).
    known_through = kernel.parse_version(data["known_through"])[: data["known_through"].count(".") + 1]
    scenarios = {}
    for index, entry in enumerate(data["scenario"]):
        sid = entry["id"]
        here = f"{where}:{_line_of(text, ['scenario', index], 'id')}: scenario {sid}"
        if not sid.startswith(family_id) or sid[len(family_id):len(family_id) + 1].isdigit():
            raise CatalogueError(f"{here}: the id must start with the family id {family_id}")
        if sid in scenarios:
            raise CatalogueError(f"{here}: duplicate scenario id")
        expectations = []
        for exp in entry["expect"]:
            try:
                kernel.validate_range(exp["kernels"])
            except (kernel.RangeError, ValueError) as error:
                raise CatalogueError(f"{here}: {error}") from error
            expectations.append(Expectation(exp["kernels"], exp["observations"], exp["source"], exp.get("when", {})))
        scenarios[sid] = Scenario(
            id=sid, family=family_id, title=entry["title"], claim=entry["claim"], claim_kind=entry["claim_kind"],
            claim_holds_when=entry["claim_holds_when"], key_observations=entry.get("key_observations", []),
            expectations=expectations, known_through=known_through,
            lacks=[_lacks(table, here) for table in entry.get("lacks", [])],
            shares=_shares(entry.get("shares", data.get("shares"))))
    return Family(family_id, data["title"], data["program"], scenarios)


def _shares(table: dict | None) -> Shares | None:
    return Shares(table["state"], table["among"]) if table else None


def _lacks(table: dict, where: str) -> Lacks:
    """The schema checks the keys; here what it cannot: the range and the regular expression."""
    try:
        kernel.validate_range(table["kernels"])
        re.compile(table["skip_reason"])
    except (kernel.RangeError, ValueError, re.error) as error:
        raise CatalogueError(f"{where}: [[scenario.lacks]]: {error}") from error
    return Lacks(**table)


def _check_one_name_per_story(families: list[Family]) -> None:
    """Two ids that name one story (S3e-a_b and S3e_a-b are both test S3e_a_b) or one id in two files."""
    seen: dict[tuple[str, str], str] = {}
    ids: dict[str, str] = {}
    for family in families:
        for sid in family.scenarios:
            if sid in ids:
                raise CatalogueError(f"scenario id {sid} is in family {ids[sid]} and family {family.id}")
            ids[sid] = family.id
            key = (family.program, gtest_name(sid))
            if key in seen:
                raise CatalogueError(f"scenario ids {seen[key]} and {sid} both name the test {key[1]} "
                                     f"of {family.program}: rename one")
            seen[key] = sid


def default_directory() -> pathlib.Path:
    """The shipped catalogue, or the one $TCPREPRO_CATALOGUE names (for testing)."""
    return pathlib.Path(os.environ.get(CATALOGUE_ENV) or SCENARIO_DIR)


def load(directory: pathlib.Path | None = None) -> list[Family]:
    directory = directory or default_directory()
    families = [_load_family(path) for path in sorted(directory.glob("*.toml"))]
    # S1, S2, ..., S10 by number: the order of runs, listings and reports.
    families.sort(key=lambda family: (len(family.id), family.id))
    if not families:
        raise CatalogueError(f"no scenario files (*.toml) in {directory}")
    _check_one_name_per_story(families)
    return families


def scenario_index(families: list[Family]) -> dict[str, Scenario]:
    return {sid: s for family in families for sid, s in family.scenarios.items()}
