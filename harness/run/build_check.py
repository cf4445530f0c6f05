"""Whether the case programs in a build folder are up to date, without asking make.

A stat of each source and program (milliseconds) instead of make walking its
tree (a second or more on a busy machine), so a run with a current build never
calls `cmake --build`.
"""
from __future__ import annotations

import pathlib

REPO = pathlib.Path(__file__).resolve().parents[2]
# What the case programs are built from: their own sources, the lab, and the CMake files.
SOURCE_FOLDERS = ("cases", "netns")
SOURCE_SUFFIXES = (".cc", ".h", ".txt", ".cmake")


def is_current(build_dir: pathlib.Path, programs: list[str], repo: pathlib.Path = REPO) -> bool:
    """True when every named case program (build/cases/<program>, the catalogue's
    `program` keys) exists and is newer than every C++ source and CMake file.
    A missing program, or any newer source, means build."""
    binaries = [build_dir / "cases" / program for program in programs]
    if not binaries or not all(p.is_file() for p in binaries):
        return False
    sources = [p for folder in SOURCE_FOLDERS for p in (repo / folder).rglob("*")
               if p.suffix in SOURCE_SUFFIXES and p.is_file()] + [repo / "CMakeLists.txt"]
    newest_source = max(p.stat().st_mtime for p in sources)
    return newest_source < min(p.stat().st_mtime for p in binaries)
