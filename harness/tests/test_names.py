"""One name per scenario: the catalogue id, its GoogleTest story (the id with '-' -> '_'),
and the result ids built from them must agree, checked against the built case programs."""
import pathlib

import pytest

from contract import names
from harness.run import cases
from harness.judge import catalogue

REPO = pathlib.Path(__file__).resolve().parents[2]
BUILD = REPO / "build"


@pytest.mark.parametrize("family", catalogue.load(), ids=lambda family: family.id)
def test_the_catalogue_and_the_built_case_program_agree_on_names(family):
    program = BUILD / "cases" / family.program
    if not program.is_file():
        pytest.fail(f"{program} is missing: the name check needs the built case programs; "
                    "run ci/setup.sh (or cmake --build build)", pytrace=False)
    _, problems = cases.match_names(family, cases.list_gtest_names(program))
    assert not problems, "\n".join(problems)


def _family(*ids: str) -> catalogue.Family:
    scenarios = {sid: catalogue.Scenario(sid, "S9", "t", "c", {}, [], [], (7, 2)) for sid in ids}
    return catalogue.Family("S9", "Fake", "fake_test", scenarios)


LISTING = """Running main() from gtest_main.cc
S9/Fake.
  S9a/ipv4  # GetParam() = ipv4
  S9a/ipv6  # GetParam() = ipv6
  S9b_two_words/ipv4  # GetParam() = ipv4
Plain.
  S9c
"""


def _check(family, listing=LISTING):
    return cases.match_names(family, cases.gtest_output.parse_listing(listing))


def test_matching_names_give_one_result_id_per_test():
    matched, problems = _check(_family("S9a", "S9b-two-words", "S9c"))
    assert problems == []
    assert [names.result_id(s.id, v) for _, s, v in matched] == ["S9a/ipv4", "S9a/ipv6", "S9b-two-words/ipv4", "S9c"]


def test_a_test_without_a_catalogue_entry_fails_the_check():
    _, problems = _check(_family("S9a", "S9c"))
    assert problems == ["fake_test: test S9/Fake.S9b_two_words/ipv4 has no scenario in the catalogue: add a scenario "
                        "with id \"S9b-two-words\" (or the id whose '-' -> '_' gives S9b_two_words) to the S9 file in "
                        "harness/scenarios/, or rename the test"]


def test_a_catalogue_entry_without_a_test_fails_the_check():
    # The old habit: a test named differently from its scenario (S9d_Story for S9d-story).
    _, problems = _check(_family("S9a", "S9b-two-words", "S9c", "S9d-story"),
                         LISTING + "S9/Fake.\n  S9d_Story/ipv4\n")
    assert "fake_test: scenario S9d-story has no test: its story must be the GoogleTest test S9d_story " \
           "(the id with '-' -> '_')" in problems
    assert any("test S9/Fake.S9d_Story/ipv4 has no scenario" in p for p in problems)


def test_two_tests_that_give_one_result_id_fail_the_check():
    _, problems = _check(_family("S9a", "S9b-two-words", "S9c"), LISTING + "Other/Fake.\n  S9a/ipv4\n")
    assert problems == ["fake_test: tests S9/Fake.S9a/ipv4 and Other/Fake.S9a/ipv4 both give result S9a/ipv4"]


def test_discover_refuses_to_run_when_names_disagree(tmp_path, monkeypatch):
    (tmp_path / "cases").mkdir()
    (tmp_path / "cases" / "fake_test").symlink_to(pathlib.Path(__file__).parent / "fake_case.py")
    monkeypatch.setenv("FAKE_LISTING", LISTING)
    with pytest.raises(cases.CaseError, match="the catalogue and the case programs disagree on names"):
        cases.discover([_family("S9a", "S9c")], tmp_path)
