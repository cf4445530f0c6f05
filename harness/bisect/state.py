"""A bisect's state, bisect.json in its folder: written whole after every step, so that
`bisect --resume DIR` continues where a kill or Ctrl-C stopped it.

    {"schema": "tcprepro-bisect/1", "command": [...], "result": id, "repeat": N,
     "axis": {"kind": "debian"|"series"|"git", ...}, "run_options": {...},
     "steps": [step, ...] (harness/bisect/axes.py), "predicate": {...} | null until GOOD
     and BAD ran, "reference": GOOD's value, "judged": {"<index>": record}, "order": [index, ...],
     "status": "running"|"found"|"inconclusive"|"interrupted"|"bad input"|"machinery", "seconds": wall}

A record: {"verdict": good|bad|skip|weak|null, "values": [per draw that ran], "not_run": n,
"runs": [{"folder", "status", "seconds"}], "kernel": spec, "reason": text|null, "seconds": s}.
"""
from __future__ import annotations

import pathlib

from harness.kernels import kernel_store

SCHEMA = "tcprepro-bisect/1"
FILE = "bisect.json"


class StateError(ValueError):
    """--resume/--log of a folder that holds no bisect."""


def load(folder: pathlib.Path) -> dict:
    path = folder / FILE
    try:
        state = kernel_store.read_json(path)
    except kernel_store.CacheError as error:
        raise StateError(str(error).replace("cache file", "bisect state")) from None
    if state is None or state.get("schema") != SCHEMA:
        raise StateError(f"{folder}: no bisect here (no {FILE}); give the folder a bisect wrote")
    return state


def save(folder: pathlib.Path, state: dict) -> None:
    kernel_store.write_json(folder / FILE, state)


def verdicts(state: dict) -> dict[int, str]:
    return {int(i): r["verdict"] for i, r in state["judged"].items() if r.get("verdict")}
