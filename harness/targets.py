"""Targets: where case programs run. `host` is the running kernel.

A target knows its kernel and runs one case test, returning the raw result;
QEMU-booted kernels will be further targets behind the same two members.
"""
from __future__ import annotations

import pathlib

from harness import cases, kernel


class TargetError(ValueError):
    """A --kernel spec that names no usable target."""


class HostTarget:
    name = "host"

    def __init__(self):
        self.kernel = kernel.running_kernel()

    def describe(self) -> dict:
        return {"name": self.name, "accelerator": None, "kernel": self.kernel.to_json()}

    def run_test(self, test: cases.CaseTest, evidence_root: pathlib.Path) -> cases.RawResult:
        return cases.run_test(test, evidence_root)


def validate(spec: str) -> None:
    """Raises TargetError with what to do, before anything runs."""
    if spec == "host":
        return
    if spec.startswith("debian:") or spec.startswith("/") or spec.startswith("."):
        raise TargetError(f"--kernel {spec}: kernels in QEMU are not implemented yet; only 'host' runs today")
    raise TargetError(f"--kernel {spec}: unknown kernel spec; use 'host'")


def make(spec: str) -> HostTarget:
    validate(spec)
    return HostTarget()
