"""`run`'s input checked before anything is fetched or created, and the build brought up to date."""
from __future__ import annotations

import os
import pathlib
import subprocess
import sys

from cli.common import UsageError, _check_result_dirs, _holds_results, _parse_kernel_specs

def _ensure_built(build_dir: pathlib.Path, programs: list[str]) -> None:
    """Brings an existing build up to date (a no-op when it is); a missing one is an error."""
    from harness.run import build_check
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
    from harness.run import configs, shard
    from harness.machine import preflight
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
    if args.gate_flaky and not args.history:
        raise UsageError("--gate-flaky needs --history STORE: flaky is judged over the store's earlier runs")
    from harness.outputs import kcidb
    if not kcidb.ORIGIN_PATTERN.match(args.kcidb_origin):
        raise UsageError(f"--kcidb-origin {args.kcidb_origin!r}: KCIDB origins are lower-case letters, digits and '_'")
    texts = list(args.kernel or []) + (_read_kernels_file(args.kernels) if args.kernels else [])
    specs = _parse_kernel_specs(texts or ["host"])
    if args.out is not None:
        _check_out(args.out.resolve(), guests=any(s.kind != "host" for s in specs))
    preflight.check(guests=any(s.kind != "host" for s in specs))
    if args.history:
        from cli.history import command as history
        history.check_run_store(args.history)
    try:
        checked, notes = configs.check(proposed, host_target=any(s.kind == "host" for s in specs))
    except configs.ConfigError as error:
        raise UsageError(str(error)) from None
    for note in notes:
        print(note)
    return specs, [configs.DEFAULT_CONFIGURATION, *checked]



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
