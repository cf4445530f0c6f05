"""`./tcprepro bisect`: where one result's behaviour changed (harness/bisect/)."""
from __future__ import annotations

import argparse
import os
import pathlib

from cli.common import DEFAULT_BUILD, REPO, UsageError, _selected_tests


def add_parser(sub, accelerators, command) -> None:
    bis = sub.add_parser("bisect", help="where one result's behaviour changed: over Debian kernels, "
                                        "a patch series or a git tree (exit 0 found, 4 inconclusive)")
    bis.add_argument("ends", nargs="*", metavar="GOOD BAD",
                     help="Debian kernel specs (debian:<suite>[=<version>]), or with --tree two commits")
    bis.add_argument("-k", metavar="RESULT", help="the result id, as `list --variants` prints it")
    bis.add_argument("--observation", metavar="NAME", help="compare this observation's value (default: the "
                                                           "judged observations, as GOOD has them)")
    bis.add_argument("--when", metavar="EXPR", help="compare this boolean over the observations, "
                                                    "e.g. 'reuse_wait_ms >= 900'")
    bis.add_argument("--repeat", type=int, default=3, metavar="N", help="draws a step (default 3); draws that "
                                                                        "disagree are drawn again once")
    bis.add_argument("--from", dest="source", metavar="SOURCE",
                     help="with --series: debian:<suite>[=<version>] or a clean kernel source folder")
    bis.add_argument("--series", nargs="+", type=pathlib.Path, metavar="PATCH",
                     help="the patches in order (or one folder of them): the steps are their prefixes")
    bis.add_argument("--tree", type=pathlib.Path, metavar="DIR",
                     help="a git kernel tree: GOOD and BAD are commits (the tree is never changed)")
    bis.add_argument("--config", type=pathlib.Path, default=REPO / "kernels" / "tcprepro.config",
                     metavar="FRAGMENT", help="config fragment of built kernels (as kernel build)")
    bis.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="make -j of built kernels")
    bis.add_argument("--out", type=pathlib.Path, help="the bisect's folder (default results/bisect-<time>)")
    bis.add_argument("--resume", type=pathlib.Path, metavar="DIR", help="continue the bisect in DIR")
    bis.add_argument("--log", type=pathlib.Path, metavar="DIR", help="print the steps of the bisect in DIR")
    bis.add_argument("--accel", choices=accelerators, default="auto")
    bis.add_argument("--guest-timeout", type=float, default=900, metavar="SECONDS")
    bis.add_argument("--build-dir", type=pathlib.Path, default=DEFAULT_BUILD, help=argparse.SUPPRESS)
    bis.set_defaults(func=command("bisect", "cmd_bisect"))


def _side_by_side(run_folders: list[pathlib.Path], out: pathlib.Path) -> pathlib.Path | None:
    """The report of the last good and the first bad run, by the report's own renderer."""
    from reports import ReportInputError, render_report
    try:
        return render_report(run_folders, out).html
    except ReportInputError:
        return None


def cmd_bisect(args) -> int:
    from harness.bisect import command
    from harness.judge import catalogue
    from cli.run_options import _ensure_built
    try:
        if args.log:
            return command.print_log(args.log)
        if args.resume:
            return command.resume(args.resume, _side_by_side)
        if os.geteuid() != 0:
            raise UsageError("bisect needs root: it runs the lab and writes the shared kernel cache")
        families = catalogue.load()
        _ensure_built(args.build_dir, [family.program for family in families])
        ids = [test.id for test in _selected_tests(None, args.build_dir, families)]
        return command.start(args, ids, REPO, _side_by_side)
    except command.BadInput as error:
        raise UsageError(str(error).replace("--patch ", "--series ")) from None
