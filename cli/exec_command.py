"""`./tcprepro exec`: boots one kernel in QEMU and runs a command in it."""
from __future__ import annotations

import os
import pathlib
import shlex
import sys

from cli.common import UsageError, _parse_kernel_specs

def cmd_exec(args) -> int:
    """Boots one kernel and runs a command in it, in the host's root (read-only) and this folder."""
    import tempfile
    from harness.kernels import kernel_store
    from harness.targets import qemu
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
