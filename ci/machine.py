"""The machine a figure was measured on: the header every ci/bench.py output starts with."""
from __future__ import annotations

import datetime
import os
import platform


def cpu_model() -> str:
    try:
        for line in open("/proc/cpuinfo"):
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def describe() -> str:
    """CPU model, the cores this process may use, the load average now, and the date (UTC)."""
    load = " ".join(f"{value:.2f}" for value in os.getloadavg())
    now = datetime.datetime.now(datetime.timezone.utc)
    return (f"{cpu_model()}, {len(os.sched_getaffinity(0))} cores, load average {load} at start, "
            f"{now:%Y-%m-%d %H:%M} UTC, kernel {platform.release()}")
