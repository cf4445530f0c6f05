"""`./tcprepro run`: the plan built once, run on every target, then the CI files, the report and the exit status."""
from __future__ import annotations

import dataclasses
import datetime
import importlib
import json
import os
import pathlib
import subprocess
import sys
import time

from cli.common import REPO, UsageError, _parse_selection, _selected_tests
from cli.run_options import _check_run_options, _ensure_built
from harness.judge import gate
from harness.run import progress

def _revision() -> str:
    try:
        return subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty"],
                              capture_output=True, text=True, timeout=10).stdout.strip() or "unknown"
    except OSError:
        return "unknown"



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
    from harness.targets import guest_image, qemu
    from harness.kernels import kernel_store
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
    its live progress (harness/run/progress.py) to progress_fd."""
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
    from harness.run import configs, processes
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



def cmd_run(args) -> int:
    import concurrent.futures
    from harness.run import shard
    importlib.import_module("reports")  # now, not after a Ctrl-C: the interrupted path has 2 s
    specs, configurations = _check_run_options(args)
    _parse_selection(args.k)
    from harness.judge import catalogue
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

    # A target is a kernel under a configuration (harness/run/configs.py): "host", "host @ proposed".
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
    from cli import compare
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
    if args.history and documents:
        from cli.history import command as history
        statuses.append(history.after_run(args.history, out, args.gate_flaky))
    code = gate.exit_status(statuses)
    print(f"exit status {code}: {_EXIT_MEANING[code]}" if not interrupted else "exit status 130: interrupted")
    return gate.INTERRUPTED if interrupted else code



_EXIT_MEANING = {0: "every result was judged and matched",
                 1: "behaviour differs from the expectations",
                 3: "machinery error",
                 4: "incomplete: not everything could be judged"}
