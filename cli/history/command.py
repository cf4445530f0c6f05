"""`./tcprepro history add|show|flakes|changes|report` and the hook behind `run --history STORE`.

Every subcommand names its store with --store PATH|URL (default results/history.sqlite).
Bad input (a folder without results, a store that is not one, a server that cannot be
reached or refuses the login) is one line and exit 2, and nothing is written: folders are
read before the store is opened, and a store is created only by `add` or `run --history`.
"""
from __future__ import annotations

import argparse
import pathlib
import sys
import time
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # the modules behind the commands load when a command runs (SQLAlchemy is slow to import)
    from . import store

REPO = pathlib.Path(__file__).resolve().parents[2]
DEFAULT_STORE = REPO / "results" / "history.sqlite"


def _usage(message: str) -> Exception:
    from cli.common import UsageError
    return UsageError(message)


def _store_text(args) -> str:
    return str(args.store) if args.store else str(DEFAULT_STORE)


def _open(text_: str, create: bool) -> store.Store:
    from . import store
    if create and text_ == str(DEFAULT_STORE):
        DEFAULT_STORE.parent.mkdir(exist_ok=True)
    try:
        return store.open_store(text_, create=create)
    except store.StoreError as error:
        raise _usage(str(error)) from None


def _classified(opened: store.Store, result_id: str | None = None, scenario: str | None = None):
    """The classes of every result, or of one (its scenario's results are read: compare's
    measured keys are per scenario)."""
    from . import classes, load
    with opened.read() as connection:
        runs = load.runs(connection)
        samples = load.samples(connection, scenario)
    behaviour = classes.Behaviour(samples)
    if result_id is not None:
        samples = [s for s in samples if s.result_id == result_id]
    return classes.classify(samples, runs, behaviour), behaviour, runs


def cmd_add(args) -> int:
    from reports.load import ReportInputError, load_result_sets
    from . import ingest, store
    try:
        result_sets = load_result_sets(args.dirs)
    except ReportInputError as error:
        raise _usage(str(error)) from None
    opened = _open(_store_text(args), create=True)
    try:
        started = time.monotonic()
        added = ingest.add(opened, result_sets)
    except store.StoreError as error:
        raise _usage(str(error)) from None
    finally:
        opened.close()
    for item in added:
        print(item.text())
    print(f"history {opened}: {sum(a.results for a in added)} results added from {len(added)} targets "
          f"in {time.monotonic() - started:.2f} s", file=sys.stderr)
    return 0


def cmd_show(args) -> int:
    from . import load, text
    from cli import show
    opened = _open(_store_text(args), create=False)
    try:
        with opened.read() as connection:
            ids = load.result_ids(connection)
        try:
            result_id = show.pick_id(list(ids), args.result, f"store {opened}")
        except show.ShowError as error:
            raise _usage(str(error)) from None
        classified, behaviour, runs = _classified(opened, result_id, ids[result_id])
    finally:
        opened.close()
    item = classified[result_id]
    if args.kernel and not any(text._matches(s.run, args.kernel, None) for s in item.series):
        raise _usage(f"--kernel {args.kernel}: {result_id} has no run on it in store {opened}; "
                     f"it ran on {', '.join(sorted({s.run.target for s in item.series}))}")
    if args.config and not any(s.run.configuration == args.config for s in item.series):
        raise _usage(f"--config {args.config}: {result_id} has no run under it in store {opened}; "
                     f"it ran under {', '.join(sorted({s.run.configuration for s in item.series}))}")
    sys.stdout.write(text.show(item, behaviour, args.kernel, args.config))
    return 0


def cmd_flakes(args) -> int:
    from . import text
    opened = _open(_store_text(args), create=False)
    try:
        classified, behaviour, _ = _classified(opened)
    finally:
        opened.close()
    sys.stdout.write(text.flakes(classified, behaviour))
    return 0


def cmd_changes(args) -> int:
    from . import text
    opened = _open(_store_text(args), create=False)
    try:
        classified, _, _ = _classified(opened)
    finally:
        opened.close()
    sys.stdout.write(text.changes(classified))
    return 0


def cmd_report(args) -> int:
    from . import page
    out = args.out.resolve()
    if out.exists() and not out.is_dir():
        raise _usage(f"--out {out} is a file, not a folder; choose a folder")
    opened = _open(_store_text(args), create=False)
    try:
        classified, _, runs = _classified(opened)
    finally:
        opened.close()
    written = page.write(classified, runs, out, str(opened))
    print(f"history page: {written}")
    return 0


def check_run_store(text_: str) -> None:
    """`run --history STORE`, before the run: a store that will take the results, or bad input."""
    from . import store
    path = pathlib.Path(text_)
    if not store.is_url(text_) and not path.exists():
        if not path.parent.is_dir():
            raise _usage(f"--history {text_}: folder {path.parent} does not exist; make it or choose another path")
        return
    _open(text_, create=True).close()


def after_run(text_: str, out: pathlib.Path, gate_on_flaky: bool) -> int:
    """Adds the run to the store and prints its flaky results beside the gate's verdict.
    Returns the exit status this adds: 1 for a flaky result when gate_on_flaky, else 0."""
    from reports.load import load_result_sets
    from . import classes, ingest, store
    from harness.judge import gate
    result_sets = load_result_sets([out])
    opened = _open(text_, create=True)
    try:
        added = ingest.add(opened, result_sets)
        classified, behaviour, _ = _classified(opened)
    except store.StoreError as error:
        print(f"tcprepro: {error}", file=sys.stderr)
        return gate.EXIT[gate.ERROR]
    finally:
        opened.close()
    # The series this run's targets belong to: its kernel builds under its configurations.
    targets = {(a.run_id, a.target, a.configuration) for a in added}
    flaky = [(item, series) for item in classified.values() if item.kind == classes.FLAKY
             for series in item.series if series.flaky
             and any((s.run.run_id, s.run.target, s.run.configuration) in targets for s in series.samples)]
    new = sum(1 for item in classified.values() if item.kind == classes.NEW)
    print(f"history {opened}: {sum(a.results for a in added)} results added; {len(flaky)} flaky here, "
          f"{new} new (fewer than {classes.NEW_UNTIL_CLEAN} clean runs)"
          + ("" if gate_on_flaky else "; flaky results do not change the exit status (--gate-flaky does)"))
    for item, series in flaky:
        print(f"  flaky: {item.result_id} on {series.run.kernel_text}: {series.flips} flips in "
              f"{len(series.samples)} samples, current streak {series.streak}")
    return 1 if gate_on_flaky and flaky else 0


def add_parser(sub) -> None:
    history = sub.add_parser("history", help="results over time: a store of every run added to it, "
                                             "with flaky and changed results")
    commands = history.add_subparsers(dest="history_command", required=True)

    def with_store(parser: argparse.ArgumentParser) -> argparse.ArgumentParser:
        parser.add_argument("--store", metavar="PATH|URL",
                            help=f"a SQLite file or a postgresql:// URL (default {DEFAULT_STORE.relative_to(REPO)})")
        return parser

    add = with_store(commands.add_parser("add", help="add run, target, shard or CI-job folders (the same run twice "
                                                     "is one run)"))
    add.add_argument("dirs", nargs="+", type=pathlib.Path, metavar="DIR")
    add.set_defaults(func=cmd_add)
    show = with_store(commands.add_parser("show", help="one result across the runs: kernels, verdicts, key "
                                                       "observations, flips"))
    show.add_argument("result", metavar="RESULT", help="result id or a unique prefix")
    show.add_argument("--kernel", metavar="K", help="only this target, release or version")
    show.add_argument("--config", metavar="C", help="only this configuration (defaults, proposed, NAME)")
    show.set_defaults(func=cmd_show)
    with_store(commands.add_parser("flakes", help="results whose behaviour varied on one kernel build and "
                                                  "configuration")).set_defaults(func=cmd_flakes)
    with_store(commands.add_parser("changes", help="where each result's behaviour changed with the kernel "
                                                   "(same / changed / new / gone)")).set_defaults(func=cmd_changes)
    report = with_store(commands.add_parser("report", help="an HTML grid of results × runs, grouped by kernel"))
    report.add_argument("--out", type=pathlib.Path, required=True, help="where to write history.html")
    report.set_defaults(func=cmd_report)
