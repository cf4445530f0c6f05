"""Child processes of the harness: they die with it, and an interrupt stops them at once.

Every process the harness starts (a case program, a target's pytest session,
QEMU) is started through `popen`, which gives it a parent-death signal
(PR_SET_PDEATHSIG = SIGKILL): when the harness is killed, even with SIGKILL,
its children are killed by the kernel instead of living on with their
namespaces until their story ends. The death signal follows the *thread* that
forked, so a child must be waited for by the thread that started it (every
caller here does: it spawns, then reads or waits in the same call).

Children in their own session (case programs, so a timeout can kill their
whole group) do not see the terminal's Ctrl-C; `kill_running()` kills every
such group still running, which is what an interrupted run does.
"""
from __future__ import annotations

import ctypes
import os
import signal
import subprocess
import threading

_PR_SET_PDEATHSIG = 1
_prctl = ctypes.CDLL(None, use_errno=True).prctl  # looked up here, not in the forked child
_running: dict[int, subprocess.Popen] = {}
_lock = threading.Lock()
_stopping = threading.Event()


class Interrupted(Exception):
    """The run is being interrupted: no new process is started."""


def _bound_to(parent: int):
    def preexec() -> None:  # runs in the child between fork and exec: only async-signal-safe calls
        # Checked after the prctl: a parent that died before it is no longer our
        # parent, and no death signal would come.
        if _prctl(_PR_SET_PDEATHSIG, signal.SIGKILL) != 0 or os.getppid() != parent:
            os._exit(125)
    return preexec


def popen(argv: list[str], *, new_session: bool = False, **kwargs) -> subprocess.Popen:
    """subprocess.Popen whose child is SIGKILLed when this process ends. With
    `new_session` the child leads its own session and process group, which
    `kill_running()` kills on an interrupt until `forget()` is called for it."""
    if _stopping.is_set():
        raise Interrupted()
    process = subprocess.Popen(argv, preexec_fn=_bound_to(os.getpid()), start_new_session=new_session, **kwargs)
    if new_session:
        with _lock:
            _running[process.pid] = process
        if _stopping.is_set():  # the interrupt came while it started
            kill_group(process)
    return process


def forget(process: subprocess.Popen) -> None:
    """Call once a child started with new_session has been waited for."""
    with _lock:
        _running.pop(process.pid, None)


def kill_group(process: subprocess.Popen) -> None:
    """SIGKILL to the child's process group (it leads one: new_session), unless
    it was already reaped (its pid may then be someone else's)."""
    if process.returncode is None:
        try:
            os.killpg(process.pid, signal.SIGKILL)
        except ProcessLookupError:
            pass


def kill_running() -> None:
    """Interrupt: starts no more processes and kills every running process group."""
    _stopping.set()
    with _lock:
        for process in list(_running.values()):
            kill_group(process)


def stopping() -> bool:
    return _stopping.is_set()
