"""The build check: a current build is recognised without make, a stale or partial one is not."""
import os
import pathlib

from harness.run import build_check
from harness.judge import catalogue
from cli import run_options

REPO = pathlib.Path(__file__).resolve().parents[2]


def _tree(tmp_path: pathlib.Path) -> tuple[pathlib.Path, pathlib.Path]:
    repo, build = tmp_path / "repo", tmp_path / "build"
    for path in ("cases/a_stories.cc", "netns/lab.h", "CMakeLists.txt"):
        (repo / path).parent.mkdir(parents=True, exist_ok=True)
        (repo / path).write_text("")
        os.utime(repo / path, (1000, 1000))
    (build / "cases").mkdir(parents=True)
    for program in ("a_stories", "b_stories"):
        (build / "cases" / program).write_text("")
        os.utime(build / "cases" / program, (2000, 2000))
    return repo, build


def test_current_build_is_recognised(tmp_path):
    repo, build = _tree(tmp_path)
    assert build_check.is_current(build, ["a_stories", "b_stories"], repo)


def test_a_newer_source_or_a_missing_program_means_build(tmp_path):
    repo, build = _tree(tmp_path)
    assert not build_check.is_current(build, ["a_stories", "c_stories"], repo)
    assert not build_check.is_current(build, [], repo)
    os.utime(repo / "netns" / "lab.h", (3000, 3000))
    assert not build_check.is_current(build, ["a_stories", "b_stories"], repo)


def test_the_shipped_programs_are_the_ones_checked(tmp_path, monkeypatch):
    """The check names the catalogue's programs (build/cases/*_stories), so a fresh build
    is current: `./tcprepro run` does not call cmake --build on it."""
    programs = [family.program for family in catalogue.load()]
    repo, build = _tree(tmp_path)
    for program in programs:
        (build / "cases" / program).write_text("")
        os.utime(build / "cases" / program, (2000, 2000))
    (build / "CMakeCache.txt").write_text("")
    called = []
    monkeypatch.setattr(build_check, "REPO", repo)
    monkeypatch.setattr(build_check.is_current, "__defaults__", (repo,))
    monkeypatch.setattr(run_options.subprocess, "run", lambda *a, **k: called.append(a))
    run_options._ensure_built(build, programs)
    assert called == []
