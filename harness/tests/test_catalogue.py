import pathlib
import re

import pytest

from harness.judge import catalogue
from harness.kernels import kernel


def test_the_shipped_catalogue_loads_and_every_expectation_has_a_source():
    families = catalogue.load()
    assert families
    for family in families:
        for scenario in family.scenarios.values():
            assert scenario.expectations, scenario.id
            for expectation in scenario.expectations:
                assert len(expectation.source) > 20, (scenario.id, expectation.kernels)
                kernel.validate_range(expectation.kernels)


def test_every_claim_says_whether_it_is_a_hazard_or_a_property():
    # The schema requires claim_kind; this reads the files themselves, so a scenario that
    # slipped through (a schema that stopped requiring it) is named.
    import tomllib
    for path in sorted(catalogue.SCENARIO_DIR.glob("*.toml")):
        for entry in tomllib.loads(path.read_text())["scenario"]:
            assert entry.get("claim_kind") in (catalogue.HAZARD, catalogue.PROPERTY), (path.name, entry["id"])
    kinds = {s.id: s.claim_kind for f in catalogue.load() for s in f.scenarios.values()}
    # The hazards the seed write-ups warn about are hazards; their mitigations are properties.
    assert {kinds[s] for s in ("S3c-held-rst", "S3d-reuse", "S2e", "S1b")} == {catalogue.HAZARD}
    assert {kinds[s] for s in ("S2e-range-split", "S1c-outside-range", "S3f-rfc1337-1")} == {catalogue.PROPERTY}


@pytest.mark.parametrize("line,message", [
    ("", "'claim_kind' is a required property"),
    ('claim_kind = "risk"\n', "'risk' is not one of \\['hazard', 'property'\\]"),
])
def test_a_claim_without_its_kind_is_an_error(tmp_path, line, message):
    (tmp_path / "s9.toml").write_text(_MINIMAL.format(family="S9", known="7.2").replace(
        'claim_kind = "property"\n', line))
    with pytest.raises(catalogue.CatalogueError, match=message):
        catalogue.load(tmp_path)


def test_scenario_ids_are_unique_across_families():
    families = catalogue.load()
    ids = [sid for f in families for sid in f.scenarios]
    assert len(ids) == len(set(ids)) == len(catalogue.scenario_index(families))


@pytest.mark.parametrize("text,message", [
    ("family = 'S9'\n", "bad.toml:1: 'title' is a required property"),
    ("this is = not toml", "Expected"),
    ("""family = "S9"\ntitle = "t"\nprogram = "p"\nknown_through = "7.2"
[[scenario]]
id = "S9a"\ntitle = "t"\nclaim = "c"\nclaim_kind = "property"\nclaim_holds_when = {}
  [[scenario.expect]]
  kernels = "=>6.1"\nobservations = {}\nsource = "a source long enough"
""", "bad comparison"),
])
def test_malformed_catalogue_files_say_which_file_and_what(tmp_path, text, message):
    (tmp_path / "bad.toml").write_text(text)
    with pytest.raises(catalogue.CatalogueError, match=message) as error:
        catalogue.load(tmp_path)
    assert "bad.toml" in str(error.value)


def test_empty_catalogue_directory_is_an_error(tmp_path):
    with pytest.raises(catalogue.CatalogueError, match="no scenario files"):
        catalogue.load(tmp_path)


_MINIMAL = """family = "{family}"\ntitle = "t"\nprogram = "p"\nknown_through = "{known}"
[[scenario]]
id = "{family}a"\ntitle = "t"\nclaim = "c"\nclaim_kind = "property"\nclaim_holds_when = {{}}
  [[scenario.expect]]
  kernels = ">=3.6"\nobservations = {{}}\nsource = "a source long enough"
"""


@pytest.mark.parametrize("known,expected", [("7.2", (7, 2)), ("6.1.110", (6, 1, 110))])
def test_known_through_keeps_its_precision(tmp_path, known, expected):
    # "7.2" covers every 7.2.y: Debian sid's 7.2.13 is known, 7.3 is new.
    (tmp_path / "s9.toml").write_text(_MINIMAL.format(family="S9", known=known))
    (scenario,) = catalogue.load(tmp_path)[0].scenarios.values()
    assert scenario.known_through == expected


def test_families_load_in_their_numbered_order(tmp_path):
    for family in ("S10", "S2", "S1"):
        (tmp_path / f"{family.lower()}.toml").write_text(_MINIMAL.format(family=family, known="7.2"))
    assert [f.id for f in catalogue.load(tmp_path)] == ["S1", "S2", "S10"]


def _file_with(tmp_path, top="", scenario="", expect="", observations="", family="S9", sid="S9a"):
    """A valid catalogue file with extra lines at the top, in the scenario table, in its expectation,
    or inside its observations."""
    path = tmp_path / "s9.toml"
    path.write_text(f"""family = "{family}"
title = "t"
program = "p"
known_through = "7.2"
{top}
[[scenario]]
id = "{sid}"
title = "t"
claim = "c"
claim_kind = "property"
claim_holds_when = {{ x = 1 }}
{scenario}
  [[scenario.expect]]
  kernels = ">=3.6"
  observations = {{ x = 1{observations} }}
  source = "a source long enough"
{expect}
""")
    return path


@pytest.mark.parametrize("where,line,key", [
    ({"top": "seed = '000'"}, 5, "seed"),
    ({"scenario": "test = 'S9a_Story'"}, 12, "test"),
    ({"expect": "  sources = 'x'"}, 17, "sources"),
])
def test_an_unknown_key_is_an_error_naming_file_line_and_key(tmp_path, where, line, key):
    path = _file_with(tmp_path, **where)
    with pytest.raises(catalogue.CatalogueError) as error:
        catalogue.load(tmp_path)
    assert str(error.value).startswith(f"{path}:{line}: unknown key '{key}'")


def test_an_unknown_condition_is_an_error_at_its_line(tmp_path):
    path = _file_with(tmp_path, observations=", y = { mn = 2 }")
    with pytest.raises(catalogue.CatalogueError, match=f"^{path}:15: unknown key 'mn'; allowed: max, min, one_of"):
        catalogue.load(tmp_path)


@pytest.mark.parametrize("fields,message", [
    ({"sid": "S8a"}, "the id must start with the family id S9"),
    ({"sid": "S91a"}, "the id must start with the family id S9"),
    ({"sid": "S9a/ipv4"}, "does not match"),
    ({"sid": "S9 a"}, "does not match"),
])
def test_a_scenario_id_must_be_usable_as_a_name(tmp_path, fields, message):
    _file_with(tmp_path, **fields)
    with pytest.raises(catalogue.CatalogueError, match=message):
        catalogue.load(tmp_path)


def test_two_ids_that_name_one_test_are_an_error(tmp_path):
    _file_with(tmp_path, sid="S9a-b_c", expect="""[[scenario]]
id = "S9a-b-c"
title = "t"
claim = "c"
claim_kind = "property"
claim_holds_when = {}
  [[scenario.expect]]
  kernels = ">=3.6"
  observations = {}
  source = "a source long enough"
""")
    with pytest.raises(catalogue.CatalogueError, match="S9a-b_c and S9a-b-c both name the test S9a_b_c"):
        catalogue.load(tmp_path)


def test_the_story_of_a_scenario_is_its_id_with_underscores():
    assert catalogue.gtest_name("S3e-valid-syn") == "S3e_valid_syn"
    assert catalogue.gtest_name("S5-tcp_tw_reuse") == "S5_tcp_tw_reuse"


REPO = pathlib.Path(__file__).resolve().parents[2]
# A commit: its 12-digit id followed by its subject ("1580ab63fc9a tcp/dccp: better use of ...").
_COMMIT = re.compile(r"\b[0-9a-f]{12}\b (\w[\w/.-]*: )+\S")
# A document anyone can open: the kernel's documentation or source, an RFC, a man page.
_DOCUMENT = re.compile(r"Documentation/\S+|\bRFC ?\d{3,4}\b|\b[a-z_0-9]+\([2-8]\)|\b(net|include)/[\w/]+\.[ch]\b")


def _sources():
    return [(s.id, e) for f in catalogue.load() for s in f.scenarios.values() for e in s.expectations]


def test_every_expectation_cites_a_commit_with_its_subject_or_a_public_document():
    unsourced = [(sid, e.kernels, e.source) for sid, e in _sources()
                 if not (_COMMIT.search(e.source) or _DOCUMENT.search(e.source))]
    assert unsourced == []


def test_every_cited_commit_is_in_the_projects_kernel_history():
    history = (REPO / "docs" / "kernel-history.md").read_text()
    cited = {commit for _, e in _sources() for commit in re.findall(r"\b[0-9a-f]{12}\b", e.source)}
    assert cited and sorted(c for c in cited if c not in history) == []


def test_nothing_in_the_catalogue_points_outside_the_repository():
    # Notes that were never part of the repository (spelt in pieces so that a grep
    # for them over the repository finds nothing, this test included).
    outside = ("KERNEL" "-HISTORY", "SCENARIOS" ".md", "../" "shared", "seed")
    for path in catalogue.SCENARIO_DIR.iterdir():
        text = path.read_text()
        assert [name for name in outside if name in text] == [], path.name


def test_every_share_the_catalogue_judges_is_derived_by_the_harness():
    # Shares are computed once, in harness/judge/port_models/steps.py, from the ports a story records.
    from harness.judge.port_models import derive_observations, steps
    recorded = {source[0]: [40000, 40001, 40002, 40004] for source in getattr(steps, "PARITY_SHARES", {}).values()}
    derived = derive_observations({"sequence": [40000, 40002, 40004, 40006], "port_range": [40000, 40255], **recorded})
    judged = {name for f in catalogue.load() for s in f.scenarios.values()
              for conditions in [s.claim_holds_when, *(e.observations for e in s.expectations)]
              for name in conditions if "share" in name}
    assert judged and sorted(judged - set(derived)) == []


def test_every_range_example_in_the_format_page_parses():
    """docs/catalogue.md once showed `=5.10`, which the range parser rejects."""
    page = (pathlib.Path(__file__).resolve().parents[2] / "docs" / "catalogue.md").read_text()
    examples = re.findall(r"`([<>=!][^`]*\d)`", page)
    assert len(examples) >= 3
    for example in examples:
        kernel.validate_range(example)
