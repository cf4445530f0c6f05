#!/usr/bin/python3
"""SIGKILL a run's process group at random moments; nothing of it may survive.

  ci/kill_runs.py [--kills 50] [-- extra ./tcprepro run options]

Each round starts `./tcprepro run` as its own process group, lets it run for a
random time (0 to 1.2 x a full run), SIGKILLs the whole group, waits 1 s, and
checks: no process of the run is alive (its case programs and pytest session
lead sessions of their own, so only their parent-death signals can end them);
none of the network namespaces the run's processes were in just before the
kill is still referenced by any process or open file (so their links, qdiscs
and netfilter rules are gone with them); and the host's network namespace
(ci/host_state.sh) is what it was before the first round. Exits 1 on the
first round that leaves anything, printing what.
"""
from __future__ import annotations

import argparse
import os
import pathlib
import random
import signal
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parent.parent


def processes_mentioning(marker: str) -> dict[int, str]:
    """pid -> command line of every process whose command line or environment
    contains `marker` (case programs get their evidence folder in the environment)."""
    found = {}
    for proc in pathlib.Path("/proc").iterdir():
        if proc.name.isdigit() and int(proc.name) != os.getpid():
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
                environ = (proc / "environ").read_bytes().decode(errors="replace")
            except OSError:
                continue
            if marker in cmdline or marker in environ:
                found[int(proc.name)] = cmdline
    return found


def namespace_of(pid: int) -> str | None:
    try:
        return os.readlink(f"/proc/{pid}/ns/net")
    except OSError:
        return None


def namespaces_of(pid: int) -> set[str]:
    """The net namespaces a process's threads are in or its open files refer to (the lab
    holds each namespace as an fd and enters it per thread)."""
    found = set()
    proc = pathlib.Path(f"/proc/{pid}")
    for link in [*(proc / "task").glob("*/ns/net"), *(proc / "fd").glob("*")]:
        try:
            target = os.readlink(link)
        except OSError:
            continue
        if target.startswith("net:["):
            found.add(target)
    return found


def started_ticks(pid: int) -> int:
    """When a process started, in clock ticks since boot (/proc/PID/stat field 22)."""
    try:
        return int(pathlib.Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[19])
    except (OSError, IndexError, ValueError):
        return 0


def now_ticks() -> int:
    return int(float(pathlib.Path("/proc/uptime").read_text().split()[0]) * os.sysconf("SC_CLK_TCK"))


def referenced_namespaces(started_before: int) -> dict[str, list[str]]:
    """Net namespaces that a task or open file of a process started before
    `started_before` (ticks) refers to, with those processes. Later processes
    are not the run's: the kernel reuses a freed namespace's inode number."""
    refs: dict[str, list[str]] = {}
    for proc in pathlib.Path("/proc").iterdir():
        if not proc.name.isdigit() or started_ticks(int(proc.name)) >= started_before:
            continue
        for target in namespaces_of(int(proc.name)):
            try:
                cmdline = (proc / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
            except OSError:
                cmdline = "?"
            refs.setdefault(target, []).append(f"{proc.name} {cmdline[:160]}")
    return refs


def host_state() -> str:
    return subprocess.run([str(REPO / "ci" / "host_state.sh")], capture_output=True, text=True, check=True).stdout


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=50)
    parser.add_argument("--longest", type=float, default=6.0, help="kill no later than this many seconds in")
    args, extra = parser.parse_known_args()
    extra = [a for a in extra if a != "--"]
    host = namespace_of(os.getpid())
    before = host_state()
    rng = random.Random(int(os.environ.get("SEED", "0")) or None)
    with tempfile.TemporaryDirectory(prefix="tcprepro-kill-") as folder:
        for round_number in range(1, args.kills + 1):
            out = pathlib.Path(folder) / f"run{round_number}"
            run = subprocess.Popen([str(REPO / "tcprepro"), "run", "--out", str(out), *extra],
                                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
            delay = rng.uniform(0, args.longest)
            seen: dict[int, str] = {}
            namespaces: set[str] = set()
            until = time.monotonic() + delay
            while time.monotonic() < until and run.poll() is None:  # what the run is made of, just before the kill
                for pid, cmdline in processes_mentioning(str(out)).items():
                    seen[pid] = cmdline
                    namespaces |= namespaces_of(pid) - {host}
                time.sleep(0.05)
            killed_at = now_ticks()
            try:
                os.killpg(run.pid, signal.SIGKILL)
            except ProcessLookupError:  # the run had ended
                pass
            run.wait()
            time.sleep(1)
            alive = processes_mentioning(str(out))
            still = referenced_namespaces(started_before=killed_at)
            left = {ns: still[ns] for ns in namespaces if ns in still}
            after = host_state()
            verdict = "ok" if not alive and not left and after == before else "LEFT BEHIND"
            print(f"round {round_number:2}: killed after {delay:4.2f} s; saw {len(seen)} processes, "
                  f"{len(namespaces)} lab namespaces; alive 1 s later: {len(alive)}, namespaces left: {len(left)}, "
                  f"host state {'identical' if after == before else 'CHANGED'}: {verdict}", flush=True)
            if verdict != "ok":
                for pid, cmdline in alive.items():
                    print(f"  alive: {pid} {cmdline}")
                for ns, holders in left.items():
                    print(f"  namespace still referenced: {ns} by {holders}")
                if after != before:
                    with tempfile.NamedTemporaryFile("w") as a, tempfile.NamedTemporaryFile("w") as b:
                        a.write(before), b.write(after), a.flush(), b.flush()
                        subprocess.run(["diff", "-u", a.name, b.name])
                return 1
    print(f"{args.kills} kills: nothing of any run left after 1 s; host state identical")
    return 0


if __name__ == "__main__":
    sys.exit(main())
