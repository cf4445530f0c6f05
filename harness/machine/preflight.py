"""What `run` needs of this machine, checked once before anything is created.

A missing privilege is one line and exit status 5, not a skip per scenario: the
lab cannot build a single namespace without CAP_SYS_ADMIN, so every story would
skip with the same reason and the run would look green.
"""
from __future__ import annotations

import os
import shutil
import subprocess


class CannotRun(Exception):
    """This machine cannot run what was asked: printed as one line, exit 5."""


def check(guests: bool) -> None:
    """Raises CannotRun with what is missing and what to do."""
    if os.geteuid() != 0:
        raise CannotRun("run needs root: the lab creates network namespaces and veth pairs "
                        "(CAP_SYS_ADMIN, CAP_NET_ADMIN); run it as root or with sudo")
    if shutil.which("unshare") is None:
        raise CannotRun("unshare (package util-linux) is missing: run ci/setup.sh")
    # A throwaway namespace in a child process: the host's own is never touched.
    probe = subprocess.run(["unshare", "--net", "--", "true"], capture_output=True, text=True)
    if probe.returncode != 0:
        raise CannotRun("cannot create a network namespace here (" + (probe.stderr.strip() or "unshare failed")
                        + "): the lab needs CAP_SYS_ADMIN; run as root outside a restricted container, "
                        "or give the container CAP_SYS_ADMIN")
    if guests:
        from harness.targets import qemu
        try:
            qemu.require_qemu()
        except qemu.GuestError as error:
            raise CannotRun(str(error)) from None
