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
import shlex
import subprocess
import sys
import time

REPO = pathlib.Path(__file__).resolve().parent.parent
DEFAULT_BUILD = REPO / "build"
USAGE_ERROR = 2
MACHINERY_ERROR = 3


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


IMPAIRMENT_BACKENDS = ("auto", "netem", "nfqueue")
ACCELERATORS = ("auto", "kvm", "tcg")


def _parse_kernel_specs(texts: list[str]) -> list:
    """Every --kernel spec parsed (no network), and QEMU present if a guest is asked for."""
    from harness import targets
    specs = []
    for text in texts:
        try:
            spec = targets.validate(text)
        except targets.TargetError as error:
            raise UsageError(str(error)) from None
        if any(s.slug == spec.slug for s in specs):
            raise UsageError(f"--kernel {text} is given twice")
        specs.append(spec)
    if any(s.kind != "host" for s in specs):
        from harness import qemu
        try:
            qemu.require_qemu()
        except qemu.GuestError as error:
            raise UsageError(str(error)) from None
    return specs


def _check_run_options(args) -> tuple[list, list]:
    """Every option checked, before anything is fetched or created; returns the kernel specs
    and the configurations (the kernel's defaults first)."""
    from harness import configs
    try:
        proposed = configs.from_arguments(args.sysctl, args.sysctl_file, args.config)
    except configs.ConfigError as error:
        raise UsageError(str(error)) from None
    if os.geteuid() != 0:
        raise UsageError("run needs root: the lab creates network namespaces (CAP_SYS_ADMIN); use sudo")
    if args.jobs < 1:
        raise UsageError(f"--jobs {args.jobs}: must be at least 1")
    specs = _parse_kernel_specs(args.kernel or ["host"])
    try:
        checked, notes = configs.check(proposed, host_target=any(s.kind == "host" for s in specs))
    except configs.ConfigError as error:
        raise UsageError(str(error)) from None
    for note in notes:
        print(note)
    return specs, [configs.DEFAULT_CONFIGURATION, *checked]


def _prepare_guests(specs: list, accel: str, build_dir: pathlib.Path, guest_timeout: float) -> dict[str, str]:
    """--tcprepro-target values per spec: fetches kernels (cached) and picks the accelerator."""
    from harness import guest_image, kernel_store, qemu
    guests = [s for s in specs if s.kind != "host"]
    parallel = max(1, min(len(guests), os.cpu_count() or 1))
    cpus = max(1, (os.cpu_count() or 1) // parallel)
    configs = {}
    for spec in specs:
        if spec.kind == "host":
            configs[spec.slug] = "host"
            continue
        try:
            image = kernel_store.prepare(spec)
            accelerator = qemu.choose_accelerator(accel, image)
            guest_image.initramfs(image)
        except (kernel_store.KernelSpecError, guest_image.ImageError, qemu.GuestError) as error:
            raise UsageError(str(error)) from None
        print(f"{spec.text}: {image.release} ({', '.join(image.packages) or image.vmlinuz}), {accelerator}")
        configs[spec.slug] = json.dumps({"spec": spec.text, "image": image.to_json(), "accelerator": accelerator,
                                         "cpus": cpus, "timeout": guest_timeout, "build": str(build_dir)})
    return configs


def _run_target(config: str, target_dir: pathlib.Path, args, run_block: dict, configuration) -> int:
    """One target's pytest session, in its own process; its output goes to pytest.log."""
    command = [
        sys.executable, "-m", "pytest", str(REPO / "harness" / "runner"),
        "-c", str(REPO / "harness" / "runner" / "pytest.ini"),
        "--rootdir", str(REPO), "-p", "no:cacheprovider", "-q", "-rfEsx",
        "--tcprepro-out", str(target_dir), "--tcprepro-build", str(args.build_dir),
        "--tcprepro-jobs", str(args.jobs), "--tcprepro-target", config,
        "--tcprepro-run", json.dumps(run_block), "--junitxml", str(target_dir / "junit.xml"),
        "--tcprepro-configuration", json.dumps(configuration.to_json()),
    ]
    if args.k is not None:
        command += ["--tcprepro-select", args.k]
    from harness import configs
    env = {**os.environ, "PYTHONPATH": str(REPO), "TCPREPRO_IMPAIRMENT_BACKEND": args.impairment_backend,
           configs.ENV: json.dumps(configuration.sysctls)}
    with (target_dir / "pytest.log").open("w") as log:
        return subprocess.run(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO).returncode


def _parse_selection(expression: str | None):
    from harness import selection
    try:
        return selection.parse(expression)
    except selection.SelectionError as error:
        raise UsageError(str(error)) from None


def _selected_tests(expression: str | None, build_dir: pathlib.Path) -> list:
    """The built case tests -k selects (all without -k); selecting nothing is bad input."""
    from harness import cases, catalogue
    selected = _parse_selection(expression)
    tests = [t for t in cases.discover(catalogue.load(), build_dir) if selected(t.id)]
    if not tests:
        raise UsageError(f"-k {expression!r} selects no result; `./tcprepro list --variants` prints the result ids")
    return tests


def cmd_run(args) -> int:
    import concurrent.futures
    import pytest
    specs, configurations = _check_run_options(args)
    _parse_selection(args.k)
    run_id = datetime.datetime.now().strftime("%Y%m%d-%H%M%S")
    out = (args.out or REPO / "results" / run_id).resolve()
    if (out / "report.html").exists() or any(out.glob("*/results.json")):
        raise UsageError(f"--out {out} already holds results; choose another directory")
    _ensure_built(args.build_dir)
    _selected_tests(args.k, args.build_dir)
    configs = _prepare_guests(specs, args.accel, args.build_dir.resolve(), args.guest_timeout)
    run_block = {"id": run_id, "command": ["./tcprepro", *sys.argv[1:]], "selection": args.k,
                 "impairment_backend": args.impairment_backend, "tcprepro_revision": _revision()}

    def run_one(unit):
        spec, configuration = unit
        target_dir = out / configuration.folder(spec.slug)
        name = spec.text if configuration.is_defaults else f"{spec.text} @ {configuration.name}"
        target_dir.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        print(f"{name}: running", flush=True)
        code = _run_target(configs[spec.slug], target_dir, args, run_block, configuration)
        print(f"{name}: done in {time.monotonic() - started:.0f} s", flush=True)
        return name, target_dir, code

    # Targets (each kernel under each configuration) run side by side: guests are
    # single-threaded under TCG, and the host target is short. Each target's output is
    # printed when it ends.
    units = [(spec, configuration) for spec in specs for configuration in configurations]
    codes = []
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, min(len(units), (os.cpu_count() or 1) + 1))) as pool:
        for name, target_dir, code in pool.map(run_one, units):
            print(f"\n== {name}")
            print((target_dir / "pytest.log").read_text().rstrip())
            codes.append(code)
    unusual = [c for c in codes if c not in (pytest.ExitCode.OK, pytest.ExitCode.TESTS_FAILED,
                                             pytest.ExitCode.NO_TESTS_COLLECTED)]
    if unusual:
        return unusual[0]

    from reports import render_report
    paths = render_report([out], out)
    print(f"\nreport: {paths['html']}\n        {paths['md']}")
    return max(int(c) for c in codes if c != pytest.ExitCode.NO_TESTS_COLLECTED)


def cmd_exec(args) -> int:
    """Boots one kernel and runs a command in it, in the host's root (read-only) and this folder."""
    import tempfile
    from harness import kernel_store, qemu
    if os.geteuid() != 0:
        raise UsageError("exec needs root (QEMU's 9p export of / and the lab's namespaces)")
    command = args.command[1:] if args.command[:1] == ["--"] else args.command
    if not command:
        raise UsageError("exec: give the command after --, e.g. ./tcprepro exec --kernel debian:bookworm -- uname -a")
    (spec,) = _parse_kernel_specs([args.kernel])
    if spec.kind == "host":
        raise UsageError("exec --kernel host: run the command directly")
    out = pathlib.Path(args.out).resolve() if args.out else pathlib.Path(tempfile.mkdtemp(prefix="tcprepro-exec-"))
    out.mkdir(parents=True, exist_ok=True)
    try:
        image = kernel_store.prepare(spec)
        accelerator = qemu.choose_accelerator(args.accel, image)
    except (kernel_store.KernelSpecError, qemu.GuestError) as error:
        raise UsageError(str(error)) from None
    script = out / "guest-job.sh"
    script.write_text("export PATH=/run/tcprepro/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8\n"
                      f"export TCPREPRO_IMPAIRMENT_BACKEND={args.impairment_backend}\n"
                      "exec " + " ".join(shlex.quote(word) for word in command) + "\n")
    try:
        run = qemu.boot(image, accelerator, cpus=os.cpu_count() or 1, out=out, job=script, cwd=pathlib.Path.cwd(),
                        boot_timeout=qemu.TCG_BOOT_TIMEOUT, timeout=args.guest_timeout, console=out / "console.log")
    except qemu.GuestError as error:
        print(f"tcprepro: error: {error}", file=sys.stderr)
        return 1
    sys.stdout.write((out / "guest-job.log").read_text())
    print(f"tcprepro exec: {image.release} under {run.accelerator}: booted in {run.boot_seconds} s, "
          f"ended after {run.total_seconds} s with status {run.status}; files in {out}", file=sys.stderr)
    return run.status


def cmd_list(args) -> int:
    from harness import catalogue
    if args.variants or args.k is not None:
        _parse_selection(args.k)
        if not (args.build_dir / "CMakeCache.txt").is_file():
            raise UsageError(f"no build in {args.build_dir}: result ids come from the built case programs; "
                             "run ci/setup.sh first")
        for test in _selected_tests(args.k, args.build_dir):
            print(test.id)
        return 0
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
                     help="target kernel (repeatable): host (the default), debian:<suite>, "
                          "debian:<suite>=<package version>, local:<vmlinuz>:<modules folder>")
    run.add_argument("-k", metavar="EXPR", help="result ids to run, as `list --variants` prints them, joined by and/or/not "
                                                "and parentheses; a word takes the ids it starts, e.g. 'S1a and ipv6'")
    run.add_argument("--out", type=pathlib.Path, help="result directory (default results/<run-id>)")
    run.add_argument("--sysctl", action="append", metavar="NAME=VALUE",
                     help="a sysctl value to compare with the kernel's defaults (repeatable): the run covers both, "
                          "applied in every lab namespace, e.g. --sysctl net.ipv4.tcp_tw_reuse=1")
    run.add_argument("--sysctl-file", type=pathlib.Path, metavar="FILE",
                     help="sysctl.conf-style file (as in /etc/sysctl.d/) added to the --sysctl configuration")
    run.add_argument("--config", action="append", metavar="NAME:FILE",
                     help="a further named configuration from a sysctl.conf-style file (repeatable)")
    run.add_argument("--jobs", type=int, default=os.cpu_count() or 1, help="case programs run in parallel")
    run.add_argument("--build-dir", type=pathlib.Path, default=DEFAULT_BUILD, help=argparse.SUPPRESS)
    run.add_argument("--impairment-backend", choices=IMPAIRMENT_BACKENDS, default="auto",
                     help="force an impairment backend (default: netem where it can express the rule)")
    run.add_argument("--accel", choices=ACCELERATORS, default="auto",
                     help="QEMU accelerator (default: KVM where a boot probe shows it works, else TCG)")
    run.add_argument("--guest-timeout", type=float, default=900, metavar="SECONDS",
                     help="longest a QEMU guest may run before it is killed")
    run.set_defaults(func=cmd_run)

    exe = sub.add_parser("exec", help="boot one kernel in QEMU and run a command in it")
    exe.add_argument("--kernel", required=True, metavar="SPEC", help="debian:<suite>[=<version>] or local:<vmlinuz>:<modules>")
    exe.add_argument("--accel", choices=ACCELERATORS, default="auto")
    exe.add_argument("--impairment-backend", choices=IMPAIRMENT_BACKENDS, default="auto")
    exe.add_argument("--out", help="folder for the console log and the command's files (default: a new temp folder)")
    exe.add_argument("--guest-timeout", type=float, default=900, metavar="SECONDS")
    exe.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command")
    exe.set_defaults(func=cmd_exec)

    lst = sub.add_parser("list", help="list scenarios and the claims they test")
    lst.add_argument("--variants", action="store_true",
                     help="print every result id (scenario/variant) of the built case programs, one a line")
    lst.add_argument("-k", metavar="EXPR", help="only the result ids this selects (as run -k); implies --variants")
    lst.add_argument("--build-dir", type=pathlib.Path, default=DEFAULT_BUILD, help=argparse.SUPPRESS)
    lst.set_defaults(func=cmd_list)

    doc = sub.add_parser("doctor", help="what this machine can do, and what is missing")
    doc.add_argument("--build-dir", type=pathlib.Path, default=DEFAULT_BUILD, help=argparse.SUPPRESS)
    doc.set_defaults(func=cmd_doctor)

    rep = sub.add_parser("report", help="rebuild the report from saved result directories")
    rep.add_argument("dirs", nargs="+", type=pathlib.Path, metavar="DIR")
    rep.add_argument("--out", type=pathlib.Path, required=True, help="where to write report.html and report.md")
    rep.set_defaults(func=cmd_report)
    return top


def main(argv: list[str] | None = None) -> int:
    from harness import cases, catalogue
    args = parser().parse_args(argv)
    try:
        code = args.func(args)
        sys.stdout.flush()  # here, where a closed pipe is caught, not at exit
        return code
    except UsageError as error:
        print(f"tcprepro: error: {error}", file=sys.stderr)
        return USAGE_ERROR
    except (catalogue.CatalogueError, cases.CaseError) as error:
        print(f"tcprepro: error: {error}", file=sys.stderr)
        return MACHINERY_ERROR
    except BrokenPipeError:  # the reader went away (`./tcprepro list | head`): stop quietly
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 0
