"""Booting a kernel in QEMU and running one job script in it.

The guest sees the host's root read-only and `out` writable at its host path
(harness/targets/guest_image.py), so the job writes its results straight into the
run's folder. The console goes to out/console.log; its markers tell boot,
finish and failure apart:

    no "up" within the boot timeout       -> BootTimeout (with the console log)
    "up" but no "done" within the timeout -> GuestError "guest did not finish"
    "done"                                -> the guest is ended if it has not powered
                                             off within POWEROFF_GRACE (a kernel without
                                             ACPI halts instead)

Accelerator: KVM where a boot probe shows it works, TCG otherwise. The probe
result is kept per host kernel and QEMU version, because on some hosts KVM is
present but hangs stock kernels (this project's machines: PVM-based KVM stops
after "Booting from ROM").
"""
from __future__ import annotations

import dataclasses
import os
import pathlib
import platform
import re
import select
import shutil
import subprocess
import threading
import time

from harness.targets import guest_image
from harness.kernels import kernel_store
from harness.run import processes

QEMU = "qemu-system-x86_64"
TCG_BOOT_TIMEOUT = 90.0
KVM_PROBE_TIMEOUT = 20.0
MEMORY_MB = 1024
# After "done" the job's files are written (init syncs before saying it) and
# only the power-off is left; ACPI power-off takes well under a second.
POWEROFF_GRACE = 2.0


class GuestError(RuntimeError):
    """The guest could not be booted, or did not finish its job."""

    def __init__(self, message: str, console: pathlib.Path | None = None):
        super().__init__(message)
        self.console = console


class BootFailed(GuestError):
    """The guest never came up (no "up" marker): the kernel died or hung while booting.
    No story ran, so booting again is safe (harness/targets/targets.py retries)."""


class BootTimeout(BootFailed):
    pass


@dataclasses.dataclass
class GuestRun:
    accelerator: str
    status: int  # the job's exit status
    boot_seconds: float  # QEMU start to the "up" marker
    total_seconds: float
    console: pathlib.Path
    cpu_seconds: float | None = None  # QEMU's user + system CPU, all its threads


def _reap(process: subprocess.Popen, timeout: float | None) -> float | None:
    """Waits up to `timeout` seconds (None: for ever) for `process` to end and reaps it;
    its CPU seconds (user + system), or None if it still runs. wait4() rather than
    Popen.wait: it returns the moment QEMU ends and says what it cost."""
    if process.returncode is not None:
        return None
    pidfd = os.pidfd_open(process.pid)
    try:
        if not select.select([pidfd], [], [], timeout)[0]:
            return None
    finally:
        os.close(pidfd)
    try:
        _, status, usage = os.wait4(process.pid, 0)
    except ChildProcessError:  # reaped by an interrupt's kill_running meanwhile
        process.poll()
        return None
    process.returncode = os.waitstatus_to_exitcode(status)
    return usage.ru_utime + usage.ru_stime


def require_qemu() -> str:
    path = shutil.which(QEMU)
    if path is None:
        raise GuestError(f"{QEMU} not found: install the Debian package qemu-system-x86 (ci/setup.sh does)")
    return path


# The guest mounts its own tmpfs on these; host folders below them must be kept explicitly.
_GUEST_TMPFS = (pathlib.Path("/tmp"), pathlib.Path("/run"), pathlib.Path("/var/tmp"))


def _hidden_by_guest_tmpfs(paths: list[pathlib.Path]) -> list[pathlib.Path]:
    return [p for p in dict.fromkeys(paths) if any(p.is_relative_to(t) for t in _GUEST_TMPFS)]


def _command(image: kernel_store.KernelImage, initrd: pathlib.Path, accelerator: str, cpus: int,
             out: pathlib.Path | None, job: pathlib.Path | None, cwd: pathlib.Path,
             keep: list[pathlib.Path], tcg_thread: str | None = None) -> list[str]:
    append = ["console=ttyS0", "panic=-1", "loglevel=4", "tsc=reliable"]
    command = [require_qemu(), "-nodefaults", "-no-user-config", "-display", "none", "-no-reboot",
               "-serial", "stdio", "-m", str(MEMORY_MB), "-smp", str(cpus),
               "-kernel", str(image.vmlinuz), "-initrd", str(initrd)]
    tcg = "tcg" + (f",thread={tcg_thread}" if tcg_thread else "")  # "single": one host thread for every vCPU
    command += ["-accel", "kvm", "-cpu", "host"] if accelerator == "kvm" else ["-accel", tcg, "-cpu", "max"]
    if job is not None:
        command += ["-virtfs", "local,path=/,mount_tag=hostroot,security_model=none,readonly=on,multidevs=remap",
                    "-virtfs", f"local,path={out},mount_tag=out,security_model=none,multidevs=remap"]
        append += [f"tcprepro_out={out}", f"tcprepro_job={job}", f"tcprepro_cwd={cwd}"]
        hidden = _hidden_by_guest_tmpfs([cwd, image.module_root, *keep])
        if hidden:
            append.append("tcprepro_keep=" + ":".join(map(str, hidden)))
    return command + ["-append", " ".join(append)]


def boot(image: kernel_store.KernelImage, accelerator: str, *, cpus: int = 1, out: pathlib.Path | None = None,
         job: pathlib.Path | None = None, cwd: pathlib.Path = pathlib.Path("/"), keep: list[pathlib.Path] = (),
         boot_timeout: float, timeout: float, console: pathlib.Path, tcg_thread: str | None = None) -> GuestRun:
    """Boots `image`; runs `job` (a shell script under `out`) in the host-root chroot; powers off.

    `keep`: host folders the job reads besides `cwd` (a build folder, say).
    """
    for path in (out, cwd, job, *keep):
        if path is not None and re.search(r"\s", str(path)):
            raise GuestError(f"{path}: paths given to the guest may not contain whitespace")
    initrd = guest_image.initramfs(image)
    command = _command(image, initrd, accelerator, cpus, out, job, cwd, list(keep), tcg_thread)
    started = time.monotonic()
    up_at: list[float] = []
    done: list[int] = []
    failed: list[str] = []
    up_event = threading.Event()
    finished = threading.Event()  # "done" (or "failed") seen, or QEMU ended
    with console.open("w") as log:
        log.write("# " + " ".join(command) + "\n")
        log.flush()
        # A killed harness must not leave a guest running (processes.popen: parent-death signal).
        qemu = processes.popen(command, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, new_session=True)

        def read_console():
            for raw in qemu.stdout:
                line = raw.decode(errors="replace").replace("\r", "")
                log.write(line)
                log.flush()
                if guest_image.MARK in line:
                    word, _, rest = line.split(guest_image.MARK, 1)[1].strip().partition(" ")
                    if word == "up":
                        up_at.append(time.monotonic() - started)
                        up_event.set()
                    elif word == "done":
                        done.append(int(rest or 0))
                        finished.set()
                    elif word == "failed":
                        failed.append(rest)
                        finished.set()
            up_event.set()  # QEMU ended: wake the boot wait
            finished.set()

        reader = threading.Thread(target=read_console, daemon=True)
        reader.start()
        cpu: list[float | None] = []
        try:
            if not up_event.wait(boot_timeout) or not up_at:
                if qemu.poll() is None:
                    raise BootTimeout(f"{image.spec}: guest did not boot within {boot_timeout:.0f} s under "
                                      f"{accelerator}; console log: {console}", console)
                raise BootFailed(f"{image.spec}: QEMU ended (status {qemu.returncode}) before the guest "
                                 f"came up; console log: {console}", console)
            if not finished.wait(max(1.0, timeout - (time.monotonic() - started))):
                raise GuestError(f"{image.spec}: guest did not finish within {timeout:.0f} s; "
                                 f"console log: {console}", console)
            cpu.append(_reap(qemu, POWEROFF_GRACE))
            if qemu.returncode is None:
                log.write(f"# tcprepro: the guest did not power off within {POWEROFF_GRACE:.0f} s of its last "
                          "marker; ended by the harness\n")
                qemu.kill()
                cpu[-1] = _reap(qemu, None)
            reader.join(timeout=5)
        finally:
            if qemu.returncode is None:
                qemu.kill()
                _reap(qemu, None)
            processes.forget(qemu)
    if failed:
        raise GuestError(f"{image.spec}: guest init failed: {failed[0]}; console log: {console}", console)
    if not done:
        raise GuestError(f"{image.spec}: guest did not finish (it stopped without the done marker; "
                         f"a panic?); console log: {console}", console)
    return GuestRun(accelerator, done[0], round(up_at[0], 2), round(time.monotonic() - started, 2), console,
                    round(cpu[0], 2) if cpu and cpu[0] is not None else None)


def _probe_key() -> str:
    version = subprocess.run([require_qemu(), "--version"], capture_output=True, text=True).stdout.split("\n")[0]
    return f"{platform.release()} | {version}"


def choose_accelerator(requested: str, image: kernel_store.KernelImage, log=print) -> str:
    """"kvm" or "tcg": the requested one, or for "auto" what a (cached) boot probe shows works."""
    if requested in ("kvm", "tcg"):
        if requested == "kvm" and not os.access("/dev/kvm", os.R_OK | os.W_OK):
            raise GuestError("--accel kvm: /dev/kvm is missing or not accessible")
        return requested
    if not os.access("/dev/kvm", os.R_OK | os.W_OK):
        return "tcg"
    probes = kernel_store.CACHE / "accel-probe.json"
    key = _probe_key()
    with kernel_store.locked("accel-probe"):  # a second run waits for the first one's verdict
        known = kernel_store.read_json(probes, {})
        if key not in known:
            log(f"probing KVM with {image.spec} (up to {KVM_PROBE_TIMEOUT:.0f} s)")
            console = kernel_store.CACHE / "accel-probe-console.log"
            try:
                run = boot(image, "kvm", boot_timeout=KVM_PROBE_TIMEOUT, timeout=KVM_PROBE_TIMEOUT + 10,
                           console=console)
                known[key] = {"accelerator": "kvm", "why": f"booted {image.release} in {run.boot_seconds} s"}
            except GuestError as error:
                known[key] = {"accelerator": "tcg", "why": f"KVM probe failed: {error}"}
            kernel_store.write_json(probes, known)
            log(f"accelerator: {known[key]['accelerator']} ({known[key]['why']})")
    return known[key]["accelerator"]
