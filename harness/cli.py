"""The `./tcprepro` command: run, list, doctor, report.

Input is checked before anything runs; a bad option is a one-line error with
what to do and exit status 2, and nothing is created.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import shutil
import subprocess
import sys

REPO = pathlib.Path(__file__).resolve().parent.parent
DEFAULT_BUILD = REPO / "build"
USAGE_ERROR = 2


class UsageError(Exception):
    """Bad input: printed as `tcprepro: error: ...`, exit 2."""


def _revision() -> str:
    try:
        return subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty"],
                              capture_output=True, text=True, timeout=10).stdout.strip() or "unknown"
    except OSError:
        return "unknown"


def _ensure_built(build_dir: pathlib.Path) -> None:
    """Brings an existing build up to date (a no-op when it is); a missing one is an error."""
    if not (build_dir / "CMakeCache.txt").is_file():
        raise UsageError(f"no build in {build_dir}: run ci/setup.sh first (installs dependencies and builds)")
    build = subprocess.run(["cmake", "--build", str(build_dir), "-j", str(os.cpu_count() or 1)],
                           capture_output=True, text=True)
    if build.returncode != 0:
        sys.stderr.write(build.stdout[-4000:] + build.stderr[-4000:])
        raise UsageError(f"building the case programs in {build_dir} failed (output above)")


def cmd_run(args) -> int:
    from harness import targets
    if os.geteuid() != 0:
        raise UsageError("run needs root: the lab creates network namespaces (CAP_SYS_ADMIN); use sudo")
    if args.jobs < 1:
        raise UsageError(f"--jobs {args.jobs}: must be at least 1")
    kernels = args.kernel or ["host"]
    for spec in kernels:
        try:
            targets.validate(spec)
        except targets.TargetError as error:
            raise UsageError(str(error)) from None
    run_id = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = (args.out or REPO / "results" / run_id).resolve()
    if (out / "report.html").exists() or any(out.glob("*/results.json")):
        raise UsageError(f"--out {out} already holds results; choose another directory")
    _ensure_built(args.build_dir)
    created = not out.exists()

    import pytest
    worst = 0
    for spec in kernels:
        target_dir = out / spec.replace(":", "-")
        target_dir.mkdir(parents=True, exist_ok=True)
        run_block = {"id": run_id, "command": ["./tcprepro", *sys.argv[1:]], "selection": args.k,
                     "tcprepro_revision": _revision()}
        pytest_args = [
            str(REPO / "harness" / "suite"), "-c", str(REPO / "harness" / "suite" / "pytest.ini"),
            "--rootdir", str(REPO), "-p", "no:cacheprovider", "-q", "-rfEsx",
            "--tcprepro-out", str(target_dir), "--tcprepro-build", str(args.build_dir),
            "--tcprepro-jobs", str(args.jobs), "--tcprepro-target", spec,
            "--tcprepro-run", json.dumps(run_block),
            "--junitxml", str(target_dir / "junit.xml"),
        ]
        if args.k:
            pytest_args += ["-k", args.k]
        code = pytest.main(pytest_args)
        if code == pytest.ExitCode.NO_TESTS_COLLECTED:
            if created:
                shutil.rmtree(out)
            raise UsageError(f"-k {args.k!r} selects no scenario; `./tcprepro list` shows them")
        if code not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED):
            return int(code)
        worst = max(worst, int(code))

    from reports import render_report
    paths = render_report([out], out)
    print(f"\nreport: {paths['html']}\n        {paths['md']}")
    return worst


def cmd_list(args) -> int:
    from harness import catalogue
    for family in catalogue.load():
        print(f"{family.id}  {family.title}  (program cases/{family.program})")
        for scenario in family.scenarios.values():
            print(f"  {scenario.id:<22} {scenario.title}")
            print(f"  {'':<22} claim: {scenario.claim}")
    return 0


def cmd_doctor(args) -> int:
    from harness import doctor
    return doctor.report(args.build_dir)


def cmd_report(args) -> int:
    from reports import ReportInputError, render_report
    try:
        paths = render_report(args.dirs, args.out)
    except ReportInputError as error:
        raise UsageError(str(error)) from None
    print(f"report: {paths['html']}\n        {paths['md']}")
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="tcprepro", description=(
        "Reproduce Linux kernel TCP behaviours in throwaway network namespaces and report per kernel."))
    sub = top.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the scenarios and write a report")
    run.add_argument("--kernel", action="append", metavar="SPEC",
                     help="target kernel (repeatable); 'host' (the running kernel) is the default")
    run.add_argument("-k", metavar="EXPR", help="pytest -k expression over test ids, e.g. 'S1a and ipv6'")
    run.add_argument("--out", type=pathlib.Path, help="result directory (default results/<run-id>)")
    run.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="case programs run in parallel")
    run.add_argument("--build-dir", type=pathlib.Path, default=DEFAULT_BUILD, help=argparse.SUPPRESS)
    run.set_defaults(func=cmd_run)

    sub.add_parser("list", help="list scenarios and the claims they test").set_defaults(func=cmd_list)

    doc = sub.add_parser("doctor", help="what this machine can do, and what is missing")
    doc.add_argument("--build-dir", type=pathlib.Path, default=DEFAULT_BUILD, help=argparse.SUPPRESS)
    doc.set_defaults(func=cmd_doctor)

    rep = sub.add_parser("report", help="rebuild the report from saved result directories")
    rep.add_argument("dirs", nargs="+", type=pathlib.Path, metavar="DIR")
    rep.add_argument("--out", type=pathlib.Path, required=True, help="where to write report.html and report.md")
    rep.set_defaults(func=cmd_report)
    return top


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.func(args)
    except UsageError as error:
        print(f"tcprepro: error: {error}", file=sys.stderr)
        return USAGE_ERROR
