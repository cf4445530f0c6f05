"""The `./tcprepro` command: run, list, doctor, report, compare, show, history, exec, kernel build.

This module only parses and dispatches: each subcommand is one module of cli/
(`cmd_<name>`). Input is checked before anything runs; a bad option is a
one-line error with what to do and exit status 2, and nothing is created
(cli/common.py). A machine that cannot run the lab (no privilege, a missing
tool) is one line and exit status 5. The exit status of run and compare comes
from the judged results (harness/judge/gate.py).
"""
from __future__ import annotations

import argparse
import importlib
import os
import pathlib
import sys

from cli.common import DEFAULT_BUILD, MACHINERY_ERROR, REPO, USAGE_ERROR, UsageError
from cli.run_options import ACCELERATORS, IMPAIRMENT_BACKENDS
from harness.judge import gate


def _command(module: str, function: str):
    """The subcommand's function, imported when it is called: `list` does not pay for the report's imports."""
    def call(args) -> int:
        return getattr(importlib.import_module(f"cli.{module}"), function)(args)
    return call


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="tcprepro", description=(
        "Reproduce Linux kernel TCP behaviours in throwaway network namespaces and report per kernel."))
    sub = top.add_subparsers(dest="command", required=True)

    run_parser = sub.add_parser("run", help="run the scenarios and write a report")
    run_parser.add_argument("--kernel", action="append", metavar="SPEC",
                     help="target kernel (repeatable): host (the default), debian:<suite>[/cloud|/rt], "
                          "debian:<suite>-backports, debian:<suite>=<package version>, "
                          "local:<vmlinuz>[:<modules folder>]; NAME=<spec> names its column")
    run_parser.add_argument("--kernels", type=pathlib.Path, metavar="FILE",
                     help="a file of kernel specs, one a line ('#' starts a comment); adds to --kernel")
    run_parser.add_argument("--shard", metavar="K/N",
                     help="run job K of N: a deterministic share of each target's selected tests "
                          "(merge the jobs' folders with report or compare)")
    run_parser.add_argument("--accept-new-kernel", action="store_true",
                     help="relax the gate: mismatches on a kernel newer than the catalogue's known_through "
                          "do not fail the run (the report and results.json say so)")
    run_parser.add_argument("--kcidb-origin", default="tcprepro", metavar="NAME",
                     help="the CI system's KCIDB origin, in kcidb.json's ids (default tcprepro)")
    run_parser.add_argument("--baseline", type=pathlib.Path, metavar="DIR",
                     help="compare the results with an earlier run's folder at the end (compare.json, compare.md); "
                          "a changed result makes the run exit 1")
    run_parser.add_argument("--history", metavar="PATH|URL",
                            help="add the results to this history store at the end (./tcprepro history) and print "
                                 "the results flaky on this kernel; they do not change the exit status unless --gate-flaky")
    run_parser.add_argument("--gate-flaky", action="store_true",
                            help="with --history: a result flaky on this kernel build and configuration makes the run exit 1")
    run_parser.add_argument("-k", metavar="EXPR", help="result ids to run, as `list --variants` prints them, joined by and/or/not "
                                                "and parentheses; a word takes the ids it starts, e.g. 'S1a and ipv6'")
    run_parser.add_argument("--out", type=pathlib.Path, help="result directory (default results/<run-id>)")
    run_parser.add_argument("--sysctl", action="append", metavar="NAME=VALUE",
                     help="a sysctl value to compare with the kernel's defaults (repeatable): the run covers both, "
                          "applied in every lab namespace, e.g. --sysctl net.ipv4.tcp_tw_reuse=1")
    run_parser.add_argument("--sysctl-file", type=pathlib.Path, metavar="FILE",
                     help="sysctl.conf-style file (as in /etc/sysctl.d/) added to the --sysctl configuration")
    run_parser.add_argument("--config", action="append", metavar="NAME:FILE",
                     help="a further named configuration from a sysctl.conf-style file (repeatable)")
    run_parser.add_argument("--jobs", type=int, default=None,
                     help="at most this many case programs at once (default: as many as the stories' "
                          "measured costs allow: waiting stories together, CPU-bound ones up to the cores)")
    run_parser.add_argument("--repeat", type=int, default=1, metavar="N",
                     help="run every test N times and report, per observation, whether it was stable")
    run_parser.add_argument("--build-dir", type=pathlib.Path, default=DEFAULT_BUILD, help=argparse.SUPPRESS)
    run_parser.add_argument("--impairment-backend", choices=IMPAIRMENT_BACKENDS, default="auto",
                     help="force an impairment backend (default: netem where it can express the rule)")
    run_parser.add_argument("--accel", choices=ACCELERATORS, default="auto",
                     help="QEMU accelerator (default: KVM where a boot probe shows it works, else TCG)")
    run_parser.add_argument("--guest-timeout", type=float, default=900, metavar="SECONDS",
                     help="longest a QEMU guest may run before it is killed")
    run_parser.set_defaults(func=_command("run", "cmd_run"))

    exe = sub.add_parser("exec", help="boot one kernel in QEMU and run a command in it")
    exe.add_argument("--kernel", required=True, metavar="SPEC", help="any --kernel spec of run except host")
    exe.add_argument("--accel", choices=ACCELERATORS, default="auto")
    exe.add_argument("--impairment-backend", choices=IMPAIRMENT_BACKENDS, default="auto")
    exe.add_argument("--out", help="folder for the console log and the command's files (default: a new temp folder)")
    exe.add_argument("--guest-timeout", type=float, default=900, metavar="SECONDS")
    exe.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command")
    exe.set_defaults(func=_command("exec_command", "cmd_exec"))

    kernel = sub.add_parser("kernel", help="kernels for --kernel: build one here").add_subparsers(
        dest="kernel_command", required=True)
    kbuild = kernel.add_parser("build", help="build a kernel from a source tree or Debian's linux-source "
                                             "(tinyconfig + kernels/tcprepro.config, patches applied); "
                                             "prints the --kernel spec that boots it")
    kbuild.add_argument("--from", dest="source", required=True, metavar="SOURCE",
                        help="debian:<suite>[=<version>] (its linux-source package) or a clean kernel source folder")
    kbuild.add_argument("--patch", action="append", type=pathlib.Path, default=[], metavar="FILE",
                        help="a patch (-p1) to apply, repeatable, in order")
    kbuild.add_argument("--config", type=pathlib.Path, default=REPO / "kernels" / "tcprepro.config",
                        metavar="FRAGMENT", help="config fragment on top of tinyconfig (default kernels/tcprepro.config)")
    kbuild.add_argument("--name", default="built", help="the label in the printed spec (NAME=local:...)")
    kbuild.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="make -j")
    kbuild.add_argument("--check-config", action="store_true",
                        help="only configure: check that every option of the fragment survives on this source")
    kbuild.set_defaults(func=_command("kernel_command", "cmd_kernel_build"))

    from cli import bisect
    bisect.add_parser(sub, ACCELERATORS, _command)

    lst = sub.add_parser("list", help="list scenarios and the claims they test")
    lst.add_argument("--variants", action="store_true",
                     help="print every result id (scenario/variant) of the built case programs, one a line")
    lst.add_argument("-k", metavar="EXPR", help="only the result ids this selects (as run -k); implies --variants")
    lst.add_argument("--build-dir", type=pathlib.Path, default=DEFAULT_BUILD, help=argparse.SUPPRESS)
    lst.set_defaults(func=_command("listing", "cmd_list"))

    doc = sub.add_parser("doctor", help="what this machine can do, and what is missing")
    doc.add_argument("--build-dir", type=pathlib.Path, default=DEFAULT_BUILD, help=argparse.SUPPRESS)
    doc.set_defaults(func=_command("doctor", "cmd_doctor"))

    rep = sub.add_parser("report", help="rebuild the report from saved result directories")
    rep.add_argument("dirs", nargs="+", type=pathlib.Path, metavar="DIR")
    rep.add_argument("--out", type=pathlib.Path, required=True, help="where to write report.html and report.md")
    rep.set_defaults(func=_command("report", "cmd_report"))

    cmp = sub.add_parser("compare", help="compare two sets of result folders: same / changed / new / gone")
    cmp.add_argument("base", type=pathlib.Path, metavar="BASE", help="the known-good results (run, target or jobs folder)")
    cmp.add_argument("new", type=pathlib.Path, metavar="NEW", help="the results to check against it")
    cmp.add_argument("--base", dest="base_more", action="append", type=pathlib.Path, default=[], metavar="DIR",
                     help="a further folder merged into BASE (another job's shard)")
    cmp.add_argument("--new", dest="new_more", action="append", type=pathlib.Path, default=[], metavar="DIR",
                     help="a further folder merged into NEW (another job's shard)")
    cmp.add_argument("--out", type=pathlib.Path, help="also write compare.json and compare.md here")
    cmp.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    cmp.set_defaults(func=_command("compare", "cmd_compare"))

    sho = sub.add_parser("show", help="one result of a saved run as text: verdicts, key observations, ladder")
    sho.add_argument("result", metavar="RESULT", help="result id or a unique prefix, e.g. S3c-crafted-rst/ipv4_veth")
    sho.add_argument("dir", nargs="?", type=pathlib.Path, metavar="DIR",
                     help="the run's directory (default: the newest under results/)")
    sho.add_argument("--kernel", metavar="K", help="only this target (e.g. host, debian:bookworm), release or version")
    sho.set_defaults(func=_command("show", "cmd_show"))

    from cli.history import command as history  # argparse only: the store's modules load when a command runs
    history.add_parser(sub)
    return top



def _parse(argv: list[str] | None) -> argparse.Namespace:
    top = parser()
    args, extra = top.parse_known_args(argv)
    # `show RESULT --kernel K DIR`: argparse leaves a positional after an option unparsed.
    if args.command == "show" and args.dir is None and len(extra) == 1 and not extra[0].startswith("-"):
        args.dir = pathlib.Path(extra[0])
    elif extra:
        top.parse_args(argv)  # the usual error, exit 2
    return args



def main(argv: list[str] | None = None) -> int:
    from harness.run import cases
    from harness.judge import catalogue
    from harness.machine import preflight
    args = _parse(argv)
    if args.command == "compare":
        args.base, args.new = [args.base, *args.base_more], [args.new, *args.new_more]
    try:
        code = args.func(args)
        sys.stdout.flush()  # here, where a closed pipe is caught, not at exit
        return code
    except UsageError as error:
        print(f"tcprepro: error: {error}", file=sys.stderr)
        return USAGE_ERROR
    except KeyboardInterrupt:  # a second Ctrl-C: children die with this process (harness/run/processes.py)
        return gate.INTERRUPTED
    except preflight.CannotRun as error:
        print(f"tcprepro: cannot run here: {error}", file=sys.stderr)
        return gate.CANNOT_RUN
    except (catalogue.CatalogueError, cases.CaseError) as error:
        print(f"tcprepro: error: {error}", file=sys.stderr)
        return MACHINERY_ERROR
    except BrokenPipeError:  # the reader went away (`./tcprepro list | head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0

