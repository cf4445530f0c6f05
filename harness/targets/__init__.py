"""Targets: where case programs run (the host, a kernel booted in QEMU)."""
