import pytest

from harness import catalogue, kernel


def test_the_shipped_catalogue_loads_and_every_expectation_has_a_source():
    families = catalogue.load()
    assert families
    for family in families:
        for scenario in family.scenarios.values():
            assert scenario.expectations, scenario.id
            for expectation in scenario.expectations:
                assert len(expectation.source) > 20, (scenario.id, expectation.kernels)
                kernel.validate_range(expectation.kernels)


def test_scenario_ids_are_unique_across_families():
    families = catalogue.load()
    ids = [sid for f in families for sid in f.scenarios]
    assert len(ids) == len(set(ids)) == len(catalogue.scenario_index(families))


@pytest.mark.parametrize("text,message", [
    ("family = 'S9'\n", "missing key"),
    ("this is = not toml", "Expected"),
    ("""family = "S9"\ntitle = "t"\nprogram = "p"\nknown_through = "7.2"
[[scenario]]
id = "A"\ntest = "T"\ntitle = "t"\nclaim = "c"\nclaim_holds_when = {}
  [[scenario.expect]]
  kernels = "=>6.1"\nobservations = {}\nsource = "s"
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
id = "{family}a"\ntest = "T"\ntitle = "t"\nclaim = "c"\nclaim_holds_when = {{}}
  [[scenario.expect]]
  kernels = ">=3.6"\nobservations = {{}}\nsource = "s"
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
