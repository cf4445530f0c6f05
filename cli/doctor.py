"""`./tcprepro doctor`: what this machine can do, and what is missing."""
from __future__ import annotations


def cmd_doctor(args) -> int:
    from harness.machine import doctor
    return doctor.report(args.build_dir)
