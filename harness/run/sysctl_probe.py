"""What a kernel's /proc/sys/net holds in a network namespace, and which values it accepts.

Run by harness/run/configs.py as `unshare --net python3 -m harness.run.sysctl_probe JSON`: the
namespace is thrown away when this process ends, so the probe writes change nothing
that outlives it. JSON is {"write": {name: value}}; the output (stdout) is

    {"names": [every sysctl under net in this namespace],
     "writes": {name: {"errno": null | "EINVAL", "message": str | null, "effective": str | null}}}
"""
from __future__ import annotations

import errno
import json
import os
import sys

PROC_SYS = "/proc/sys"


def path_of(name: str) -> str:
    return os.path.join(PROC_SYS, *name.split("."))


def names_under(top: str = "net") -> list[str]:
    """Every sysctl file under /proc/sys/<top>, as a dotted name."""
    out = []
    for folder, _, files in os.walk(os.path.join(PROC_SYS, top)):
        prefix = os.path.relpath(folder, PROC_SYS).replace("/", ".")
        out.extend(f"{prefix}.{name}" for name in files)
    return sorted(out)


def normalise(raw: str) -> str:
    """"32768\\t60999\\n" -> "32768 60999", as the lab records values."""
    return " ".join(raw.split())


def read(name: str) -> str | None:
    try:
        with open(path_of(name)) as handle:
            return normalise(handle.read())
    except OSError:
        return None


def write(name: str, value: str) -> dict:
    try:
        with open(path_of(name), "w") as handle:
            handle.write(value)
    except OSError as error:
        code = errno.errorcode.get(error.errno, str(error.errno))
        return {"errno": code, "message": os.strerror(error.errno), "effective": read(name)}
    return {"errno": None, "message": None, "effective": read(name)}


def main(argv: list[str]) -> int:
    request = json.loads(argv[1]) if len(argv) > 1 else {}
    names = names_under()
    writes = {name: write(name, value) for name, value in request.get("write", {}).items() if name in names}
    json.dump({"names": names, "writes": writes}, sys.stdout)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
