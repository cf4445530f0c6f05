"""Guests' kernels are prepared side by side, and a bad one is one usage error."""
import pathlib
import threading

import pytest

from cli import run
from cli.common import UsageError
from harness.kernels import kernel_store
from harness.targets import guest_image, qemu


def test_kernels_are_prepared_side_by_side(monkeypatch):
    specs = [kernel_store.parse(text) for text in ("host", "debian:bullseye", "debian:sid")]
    both_inside = threading.Barrier(2, timeout=10)  # passes only if the two preparations overlap

    def prepare(spec):
        both_inside.wait()
        return kernel_store.KernelImage(spec.name, f"{spec.suite}-release", pathlib.Path("/vmlinuz"),
                                        pathlib.Path("/m"), ())
    monkeypatch.setattr(kernel_store, "prepare", prepare)
    monkeypatch.setattr(qemu, "choose_accelerator", lambda accel, image: "tcg")
    monkeypatch.setattr(guest_image, "initramfs", lambda image: None)
    configs = run._prepare_guests(specs, "auto", pathlib.Path("/build"), 900)
    assert configs["host"] == "host" and len(configs) == 3


def test_a_kernel_that_cannot_be_prepared_is_a_usage_error(monkeypatch):
    def prepare(spec):
        raise kernel_store.KernelSpecError(f"--kernel {spec.text}: no such suite")
    monkeypatch.setattr(kernel_store, "prepare", prepare)
    with pytest.raises(UsageError, match="no such suite"):
        run._prepare_guests([kernel_store.parse("debian:sid")], "auto", pathlib.Path("/build"), 900)
