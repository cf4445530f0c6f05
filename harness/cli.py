"""The `./tcprepro` command: run, list, doctor, report, compare, exec.

Input is checked before anything runs; a bad option is a one-line error with
what to do and exit status 2, and nothing is created. A machine that cannot
run the lab (no privilege, a missing tool) is one line and exit status 5.
The exit status of run and compare comes from the judged results (harness/gate.py).
"""
from __future__ import annotations

import argparse
import dataclasses
import datetime
import importlib
import json
import os
import pathlib
import shlex
import subprocess
import sys
import time

from harness import gate, progress

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


def _ensure_built(build_dir: pathlib.Path, programs: list[str]) -> None:
    """Brings an existing build up to date (a no-op when it is); a missing one is an error."""
    from harness import build_check
    if not (build_dir / "CMakeCache.txt").is_file():
        raise UsageError(f"no build in {build_dir}: run ci/setup.sh first (installs dependencies and builds)")
    if build_check.is_current(build_dir, programs):
        return
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
    return specs


def _read_kernels_file(path: pathlib.Path) -> list[str]:
    """--kernels FILE: one spec a line; blank lines and '#' comments are ignored."""
    try:
        text = path.read_text()
    except OSError as error:
        raise UsageError(f"--kernels {path}: cannot read it ({error.strerror}); give a file with one kernel spec a line")
    specs = [line.split("#", 1)[0].strip() for line in text.splitlines()]
    specs = [spec for spec in specs if spec]
    if not specs:
        raise UsageError(f"--kernels {path}: no kernel spec in it; write one a line, e.g. debian:bookworm")
    return specs


def _check_run_options(args) -> tuple[list, list]:
    """Every option checked, before anything is fetched or created; returns the kernel specs
    and the configurations (the kernel's defaults first). Then what the machine must offer
    (exit 5), and the proposed sysctls against the running kernel (exit 2)."""
    from harness import configs, preflight, shard
    try:
        proposed = configs.from_arguments(args.sysctl, args.sysctl_file, args.config)
    except configs.ConfigError as error:
        raise UsageError(str(error)) from None
    if args.jobs is not None and args.jobs < 1:
        raise UsageError(f"--jobs {args.jobs}: must be at least 1")
    if args.repeat < 1:
        raise UsageError(f"--repeat {args.repeat}: must be at least 1")
    if not args.guest_timeout > 0:
        raise UsageError(f"--guest-timeout {args.guest_timeout:g}: must be more than 0 seconds")
    if args.shard:
        try:
            shard.parse(args.shard)
        except shard.ShardError as error:
            raise UsageError(str(error)) from None
    if args.baseline:
        _check_result_dirs("--baseline", [args.baseline])
    from harness.outputs import kcidb
    if not kcidb.ORIGIN_PATTERN.match(args.kcidb_origin):
        raise UsageError(f"--kcidb-origin {args.kcidb_origin!r}: KCIDB origins are lower-case letters, digits and '_'")
    texts = list(args.kernel or []) + (_read_kernels_file(args.kernels) if args.kernels else [])
    specs = _parse_kernel_specs(texts or ["host"])
    if args.out is not None:
        _check_out(args.out.resolve(), guests=any(s.kind != "host" for s in specs))
    preflight.check(guests=any(s.kind != "host" for s in specs))
    try:
        checked, notes = configs.check(proposed, host_target=any(s.kind == "host" for s in specs))
    except configs.ConfigError as error:
        raise UsageError(str(error)) from None
    for note in notes:
        print(note)
    return specs, [configs.DEFAULT_CONFIGURATION, *checked]


def _check_result_dirs(option: str, dirs: list[pathlib.Path]) -> None:
    from reports.load import ReportInputError, find_results_files
    for directory in dirs:
        try:
            find_results_files(directory)
        except ReportInputError as error:
            raise UsageError(f"{option}: {error}") from None


def _check_out(out: pathlib.Path, guests: bool) -> None:
    """--out must be a folder that can be made, or one that is writable and holds no results."""
    if guests and any(c.isspace() for c in str(out)):
        raise UsageError(f"--out {out}: a QEMU guest cannot be given a path with whitespace; choose another")
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file, not a folder; choose a folder")
    existing = next((p for p in [out, *out.parents] if p.exists()), None)
    if existing is None or not existing.is_dir() or not os.access(existing, os.W_OK | os.X_OK):
        raise UsageError(f"--out {out}: {existing} is not a writable folder; choose another --out")
    if _holds_results(out):
        raise UsageError(f"--out {out} already holds results; choose another directory")


def _holds_results(folder: pathlib.Path) -> bool:
    return (folder / "report.html").exists() or any(folder.glob("*/results.json"))


def _new_run_folder(out: pathlib.Path | None) -> tuple[str, pathlib.Path]:
    """(run id, result folder). Ids carry the time and the process id, and the
    default folder is made with an exclusive mkdir: two runs never share one."""
    run_id = f"{datetime.datetime.now():%Y%m%d-%H%M%S}-{os.getpid()}"
    if out is None:
        out = REPO / "results" / run_id
        out.parent.mkdir(exist_ok=True)
        out.mkdir()  # FileExistsError only if this very process made it: never
    return run_id, out.resolve()


def _prepare_guests(specs: list, accel: str, build_dir: pathlib.Path, guest_timeout: float) -> dict[str, str]:
    """--tcprepro-target values per spec: fetches kernels (cached) and picks the accelerator."""
    from harness import guest_image, kernel_store, qemu
    guests = [s for s in specs if s.kind != "host"]
    parallel = max(1, min(len(guests), os.cpu_count() or 1))
    cpus = max(1, (os.cpu_count() or 1) // parallel)

    def prepare(spec):
        try:
            image = kernel_store.prepare(spec)
            accelerator = qemu.choose_accelerator(accel, image)
            guest_image.initramfs(image)
        except (kernel_store.KernelSpecError, kernel_store.CacheError, guest_image.ImageError,
                qemu.GuestError) as error:
            raise UsageError(str(error)) from None
        return image, accelerator

    # Side by side: each suite has its own cache lock, and asking apt about one
    # suite's index takes seconds that the other suites need not wait for.
    import concurrent.futures
    with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, len(guests))) as pool:
        prepared = dict(zip([s.slug for s in guests], pool.map(prepare, guests)))
    configs = {}
    for spec in specs:
        if spec.kind == "host":
            configs[spec.slug] = "host"
            continue
        image, accelerator = prepared[spec.slug]
        print(f"{spec.name}: {image.release} ({', '.join(image.packages) or image.vmlinuz}), {accelerator}")
        configs[spec.slug] = json.dumps({"spec": spec.name, "kernel_spec": spec.text, "image": image.to_json(),
                                         "accelerator": accelerator,
                                         "cpus": cpus, "timeout": guest_timeout, "build": str(build_dir)})
    return configs


@dataclasses.dataclass(frozen=True)
class Unit:
    """One target of a run: a kernel under a configuration."""
    spec: object  # kernel_store.KernelSpec
    configuration: object  # configs.Configuration

    @property
    def folder(self) -> str:
        return self.configuration.folder(self.spec.slug)

    @property
    def name(self) -> str:
        return self.spec.name if self.configuration.is_defaults else f"{self.spec.name} @ {self.configuration.name}"


def _run_target(config: str, target_dir: pathlib.Path, args, run_block: dict, progress_fd: int, configuration) -> int:
    """One target's pytest session, in its own process; its output goes to pytest.log,
    its live progress (harness/progress.py) to progress_fd."""
    command = [
        sys.executable, "-m", "pytest", str(REPO / "harness" / "runner"),
        "-c", str(REPO / "harness" / "runner" / "pytest.ini"),
        "--rootdir", str(REPO), "-p", "no:cacheprovider", "-q", "-rfEsx",
        "--tcprepro-out", str(target_dir), "--tcprepro-build", str(args.build_dir),
        "--tcprepro-target", config,
        "--tcprepro-run", json.dumps(run_block),
        "--tcprepro-configuration", json.dumps(configuration.to_json()),
    ]
    if args.k is not None:
        command += ["--tcprepro-select", args.k]
    if args.jobs is not None:
        command += ["--tcprepro-jobs", str(args.jobs)]
    if args.repeat > 1:
        command += ["--tcprepro-repeat", str(args.repeat)]
    from harness import configs, processes
    env = {**os.environ, "PYTHONPATH": str(REPO), "TCPREPRO_IMPAIRMENT_BACKEND": args.impairment_backend,
           progress.FD_VARIABLE: str(progress_fd), configs.ENV: json.dumps(configuration.sysctls)}
    with (target_dir / "pytest.log").open("w") as log:
        # This process group: a terminal's Ctrl-C reaches the session too, which
        # stops its case programs or guest and writes what finished.
        session = processes.popen(command, stdout=log, stderr=subprocess.STDOUT, env=env, cwd=REPO,
                                  pass_fds=(progress_fd,))
        try:
            while True:
                try:
                    return session.wait()
                except KeyboardInterrupt:  # only the main thread gets it; a worker waits on
                    continue
        finally:
            os.close(progress_fd)  # the reader sees the end when the target's process has gone too


def _parse_selection(expression: str | None):
    from harness import selection
    try:
        return selection.parse(expression)
    except selection.SelectionError as error:
        raise UsageError(str(error)) from None


def _selected_tests(expression: str | None, build_dir: pathlib.Path, families: list | None = None) -> list:
    """The built case tests -k selects (all without -k); selecting nothing is bad input."""
    from harness import cases, catalogue
    selected = _parse_selection(expression)
    tests = [t for t in cases.discover(families or catalogue.load(), build_dir) if selected(t.id)]
    if not tests:
        raise UsageError(f"-k {expression!r} selects no result; `./tcprepro list --variants` prints the result ids")
    return tests


def cmd_run(args) -> int:
    import concurrent.futures
    from harness import shard
    importlib.import_module("reports")  # now, not after a Ctrl-C: the interrupted path has 2 s
    specs, configurations = _check_run_options(args)
    _parse_selection(args.k)
    from harness import catalogue
    families = catalogue.load()
    _ensure_built(args.build_dir, [family.program for family in families])
    tests = _selected_tests(args.k, args.build_dir, families)
    if args.shard and not shard.pick(args.shard, tests):
        raise UsageError(f"--shard {args.shard} selects no test: N is more than the {len(tests)} selected; "
                         "choose a smaller N")
    target_configs = _prepare_guests(specs, args.accel, args.build_dir.resolve(), args.guest_timeout)
    run_id, out = _new_run_folder(args.out)
    relaxed_by = [gate.ACCEPT_NEW_KERNEL] if args.accept_new_kernel else []
    run_block = {"id": run_id, "command": ["./tcprepro", *sys.argv[1:]], "selection": args.k,
                 "impairment_backend": args.impairment_backend, "tcprepro_revision": _revision(),
                 "shard": args.shard, "gate_relaxed_by": relaxed_by, "kcidb_origin": args.kcidb_origin}

    # A target is a kernel under a configuration (harness/configs.py): "host", "host @ proposed".
    units = [Unit(spec, configuration) for spec in specs for configuration in configurations]
    board = progress.Board([unit.name for unit in units])

    def run_one(unit):
        target_dir = out / unit.folder
        target_dir.mkdir(parents=True, exist_ok=True)
        started = time.monotonic()
        board.note(f"{unit.name}: running")
        progress_fd, reader = progress.watch(unit.name, board)
        code = _run_target(target_configs[unit.spec.slug], target_dir, args, run_block, progress_fd, unit.configuration)
        reader.join()
        board.note(f"{unit.name}: done in {time.monotonic() - started:.0f} s")
        return unit, target_dir, code

    # Every target starts at once: the guests boot while the host target runs,
    # and the machine's cores stay busy until the last guest ends (a target held
    # back for a free worker used to start after the host's and end the run
    # alone). Each target's output is printed when it ends.
    codes = {}
    interrupted = False
    try:
        with concurrent.futures.ThreadPoolExecutor(max_workers=max(1, len(units))) as pool:
            finished = list(pool.map(run_one, units))
        board.close()
        for unit, target_dir, code in finished:
            print(f"\n== {unit.name}")
            print((target_dir / "pytest.log").read_text().rstrip())
            codes[unit.folder] = code
    except KeyboardInterrupt:
        board.close()
        interrupted = True
        print("\ntcprepro: interrupted; reporting what finished", file=sys.stderr)
    return _finish_run(out, units, codes, args, interrupted)


def _finish_run(out: pathlib.Path, units: list, codes: dict, args, interrupted: bool) -> int:
    """CI outputs, the report, the optional baseline comparison; the exit status from the results."""
    import pytest
    from harness import compare
    from harness.outputs import junit, kcidb, ktap
    statuses, documents = [], []
    for unit in units:
        target_dir = out / unit.folder
        path = target_dir / "results.json"
        document = json.loads(path.read_text()) if path.is_file() else None
        if document is None:
            if codes.get(unit.folder) == pytest.ExitCode.NO_TESTS_COLLECTED:
                continue  # -k selected nothing of this target's program set
            print(f"tcprepro: {unit.name}: no results.json (pytest ended with {codes.get(unit.folder)}; "
                  f"see {target_dir / 'pytest.log'})", file=sys.stderr)
            if codes.get(unit.folder) in (pytest.ExitCode.INTERNAL_ERROR, pytest.ExitCode.USAGE_ERROR):
                statuses.append(gate.ERROR)
        else:
            documents.append(document)
            junit.write(target_dir, document)
            ktap.write(target_dir, document)
        statuses += gate.target_statuses(document)
    if documents:
        kcidb.write(out, documents)
        from reports import render_report
        written = render_report([out], out)
        print(f"\n{written.summary}\nreport: {written.html}\n        {written.md}")
    if args.accept_new_kernel:
        print(f"gate relaxed by {gate.ACCEPT_NEW_KERNEL}: mismatches on kernels newer than the catalogue "
              "do not fail this run")
    if args.baseline and documents:
        comparison = compare.compare([args.baseline], [out])
        written = compare.write(comparison, out)
        counts = comparison["counts"]
        print(f"baseline {args.baseline}: {counts['same']} same, {counts['changed']} changed, {counts['new']} new, "
              f"{counts['gone']} gone: {written['md']}")
        statuses.append(comparison["exit_status"])
    code = gate.exit_status(statuses)
    print(f"exit status {code}: {_EXIT_MEANING[code]}" if not interrupted else "exit status 130: interrupted")
    return gate.INTERRUPTED if interrupted else code


_EXIT_MEANING = {0: "every result was judged and matched",
                 1: "behaviour differs from the expectations",
                 3: "machinery error",
                 4: "incomplete: not everything could be judged"}


def cmd_compare(args) -> int:
    from harness import compare
    _check_result_dirs("compare", args.base + args.new)
    try:
        comparison = compare.compare(args.base, args.new)
    except compare.CompareInputError as error:
        raise UsageError(str(error)) from None
    if args.out:
        written = compare.write(comparison, args.out)
        print(f"compare: {written['json']}\n         {written['md']}", file=sys.stderr)
    sys.stdout.write(json.dumps(comparison, indent=1) + "\n" if args.json else compare.markdown(comparison))
    return comparison["exit_status"]


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
    except (kernel_store.KernelSpecError, kernel_store.CacheError, qemu.GuestError) as error:
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


def cmd_kernel_build(args) -> int:
    """Builds (or finds cached) a kernel and prints the --kernel spec that boots it, last."""
    from harness import kernel_build, kernel_store
    if os.geteuid() != 0:
        raise UsageError("kernel build needs root: it writes the shared kernel cache in " + str(kernel_store.CACHE))
    if args.jobs < 1:
        raise UsageError(f"--jobs {args.jobs}: must be at least 1")
    if not kernel_store.LABEL.fullmatch(args.name):
        raise UsageError(f"--name {args.name}: a letter then up to 39 letters, digits or ._+-")
    try:
        kernel_build.check_fragment(args.config)
        for patch in args.patch:
            if not patch.is_file():
                raise kernel_build.BuildInputError(f"--patch {patch}: no such file")
        source = (kernel_build.debian_source(args.source) if args.source.startswith("debian:")
                  else kernel_build.tree_source(pathlib.Path(args.source)))
        if args.check_config:
            config = kernel_build.check_config(source, args.config)
            print(f"{args.config}: every option kept by olddefconfig on {source.identity} ({config})")
            return 0
        built = kernel_build.build(source, args.patch, args.config, args.jobs)
    except (kernel_build.BuildInputError, kernel_store.KernelSpecError, kernel_store.CacheError) as error:
        raise UsageError(str(error)) from None
    except kernel_build.BuildError as error:
        print(f"tcprepro: error: {error}", file=sys.stderr)
        return 3
    how = "cached" if built.seconds is None else f"built in {built.seconds:.0f} s"
    print(f"{built.release} from {built.source}" + (f" + {', '.join(built.patches)}" if built.patches else "")
          + f": {how} ({built.folder})")
    print(f"{args.name}=local:{built.bzimage}")
    return 0


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
            print(f"  {'':<22} {scenario.claim_kind}: {scenario.claim}")
    return 0


def cmd_doctor(args) -> int:
    from harness import doctor
    return doctor.report(args.build_dir)


def cmd_report(args) -> int:
    from reports import ReportInputError, render_report
    out = args.out.resolve()
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file, not a folder; choose a folder")
    if _holds_results(out) or (out / "results.json").exists():
        raise UsageError(f"--out {out} is a run's own folder (it holds results); "
                         "write the report to another folder")
    try:
        written = render_report(args.dirs, args.out)
    except ReportInputError as error:
        raise UsageError(str(error)) from None
    print(f"{written.summary}\nreport: {written.html}\n        {written.md}")
    # The jobs' results as one KCIDB submission (shards merged), when the gate judged them all.
    from harness.outputs import kcidb
    from reports.load import load_result_sets
    documents = [result_set.doc for result_set in load_result_sets(args.dirs)]
    if all("gate" in entry for document in documents for entry in document["results"]):
        print(f"        {kcidb.write(args.out, documents)}")
    return 0


def cmd_show(args) -> int:
    from harness import show
    try:
        print(show.show(args.result, args.kernel, args.dir, REPO / "results"))
    except show.ShowError as error:
        raise UsageError(str(error)) from None
    return 0


def parser() -> argparse.ArgumentParser:
    top = argparse.ArgumentParser(prog="tcprepro", description=(
        "Reproduce Linux kernel TCP behaviours in throwaway network namespaces and report per kernel."))
    sub = top.add_subparsers(dest="command", required=True)

    run = sub.add_parser("run", help="run the scenarios and write a report")
    run.add_argument("--kernel", action="append", metavar="SPEC",
                     help="target kernel (repeatable): host (the default), debian:<suite>[/cloud|/rt], "
                          "debian:<suite>-backports, debian:<suite>=<package version>, "
                          "local:<vmlinuz>[:<modules folder>]; NAME=<spec> names its column")
    run.add_argument("--kernels", type=pathlib.Path, metavar="FILE",
                     help="a file of kernel specs, one a line ('#' starts a comment); adds to --kernel")
    run.add_argument("--shard", metavar="K/N",
                     help="run job K of N: a deterministic share of each target's selected tests "
                          "(merge the jobs' folders with report or compare)")
    run.add_argument("--accept-new-kernel", action="store_true",
                     help="relax the gate: mismatches on a kernel newer than the catalogue's known_through "
                          "do not fail the run (the report and results.json say so)")
    run.add_argument("--kcidb-origin", default="tcprepro", metavar="NAME",
                     help="the CI system's KCIDB origin, in kcidb.json's ids (default tcprepro)")
    run.add_argument("--baseline", type=pathlib.Path, metavar="DIR",
                     help="compare the results with an earlier run's folder at the end (compare.json, compare.md); "
                          "a changed result makes the run exit 1")
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
    run.add_argument("--jobs", type=int, default=None,
                     help="at most this many case programs at once (default: as many as the stories' "
                          "measured costs allow: waiting stories together, CPU-bound ones up to the cores)")
    run.add_argument("--repeat", type=int, default=1, metavar="N",
                     help="run every test N times and report, per observation, whether it was stable")
    run.add_argument("--build-dir", type=pathlib.Path, default=DEFAULT_BUILD, help=argparse.SUPPRESS)
    run.add_argument("--impairment-backend", choices=IMPAIRMENT_BACKENDS, default="auto",
                     help="force an impairment backend (default: netem where it can express the rule)")
    run.add_argument("--accel", choices=ACCELERATORS, default="auto",
                     help="QEMU accelerator (default: KVM where a boot probe shows it works, else TCG)")
    run.add_argument("--guest-timeout", type=float, default=900, metavar="SECONDS",
                     help="longest a QEMU guest may run before it is killed")
    run.set_defaults(func=cmd_run)

    exe = sub.add_parser("exec", help="boot one kernel in QEMU and run a command in it")
    exe.add_argument("--kernel", required=True, metavar="SPEC", help="any --kernel spec of run except host")
    exe.add_argument("--accel", choices=ACCELERATORS, default="auto")
    exe.add_argument("--impairment-backend", choices=IMPAIRMENT_BACKENDS, default="auto")
    exe.add_argument("--out", help="folder for the console log and the command's files (default: a new temp folder)")
    exe.add_argument("--guest-timeout", type=float, default=900, metavar="SECONDS")
    exe.add_argument("command", nargs=argparse.REMAINDER, help="-- then the command")
    exe.set_defaults(func=cmd_exec)

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
    kbuild.set_defaults(func=cmd_kernel_build)

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

    cmp = sub.add_parser("compare", help="compare two sets of result folders: same / changed / new / gone")
    cmp.add_argument("base", type=pathlib.Path, metavar="BASE", help="the known-good results (run, target or jobs folder)")
    cmp.add_argument("new", type=pathlib.Path, metavar="NEW", help="the results to check against it")
    cmp.add_argument("--base", dest="base_more", action="append", type=pathlib.Path, default=[], metavar="DIR",
                     help="a further folder merged into BASE (another job's shard)")
    cmp.add_argument("--new", dest="new_more", action="append", type=pathlib.Path, default=[], metavar="DIR",
                     help="a further folder merged into NEW (another job's shard)")
    cmp.add_argument("--out", type=pathlib.Path, help="also write compare.json and compare.md here")
    cmp.add_argument("--json", action="store_true", help="print JSON instead of Markdown")
    cmp.set_defaults(func=cmd_compare)

    sho = sub.add_parser("show", help="one result of a saved run as text: verdicts, key observations, ladder")
    sho.add_argument("result", metavar="RESULT", help="result id or a unique prefix, e.g. S3c-crafted-rst/ipv4_veth")
    sho.add_argument("dir", nargs="?", type=pathlib.Path, metavar="DIR",
                     help="the run's directory (default: the newest under results/)")
    sho.add_argument("--kernel", metavar="K", help="only this target (e.g. host, debian:bookworm), release or version")
    sho.set_defaults(func=cmd_show)
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
    from harness import cases, catalogue, preflight
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
    except KeyboardInterrupt:  # a second Ctrl-C: children die with this process (harness/processes.py)
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
