#!/usr/bin/python3
"""Speed benchmark: prints ratios, never fails on a slow machine.

  ci/bench.py [--kernel SPEC ...] [--runs N]
      runs `./tcprepro run` N times (default 1) with the given kernels (default:
      the host) and prints the machine (CPU model, cores, load average at
      start, date) first, then per run and target the ratios: wall / longest
      story, wall / CPU floor (CPU seconds / the cores the target may use: the
      machine's for the host, its vCPUs for a guest), then wall, CPU seconds
      (the host's case programs, a guest's QEMU process) and the longest story;
      and the same for the whole command (its CPU: every process it started).
      Paste the output whole, header included, where a figure is quoted.

  ci/bench.py --costs [--kernel SPEC]
      measures what each story costs, each test alone: wall and CPU seconds,
      into harness/run/story_costs.json (the one cost table, harness/run/story_costs.py).
      Without --kernel on this machine (the host's table, the scheduler's); with
      --kernel inside a guest of that kernel booted by `./tcprepro exec` (the
      table of its kernel series, which that guest's lanes use). Rerun it when
      stories are added or changed.

Run as root from the repository, on an otherwise idle machine for --costs.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import pathlib
import resource
import subprocess
import sys
import tempfile
import time

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from harness.judge import catalogue  # noqa: E402
from harness.kernels import kernel  # noqa: E402
from harness.run import cases, story_costs  # noqa: E402
import machine  # noqa: E402  (ci/machine.py)


def _measure_here(build: pathlib.Path) -> dict[str, dict]:
    tests = cases.discover(catalogue.load(), build)
    table = {}
    with tempfile.TemporaryDirectory(prefix="tcprepro-costs-") as evidence:
        for test in tests:
            raw = cases.run_test(test, pathlib.Path(evidence))
            if raw.outcome == "error":
                sys.exit(f"ci/bench.py: {test.id} failed while measuring ({raw.reason}); fix it first")
            table[test.id] = {"seconds": raw.duration_seconds, "cpu_seconds": raw.cpu_seconds}
            print(f"{raw.duration_seconds:7.3f} s wall {raw.cpu_seconds:7.3f} s CPU  {test.id}", flush=True)
    return table


def measure_costs(build: pathlib.Path, spec: str | None, table_out: pathlib.Path | None) -> None:
    how = "ci/bench.py --costs: each test alone, wall and CPU (user + system) seconds"
    today = datetime.date.today().isoformat()
    if table_out is not None:  # inside the guest: hand the table to the host
        table_out.write_text(json.dumps({"kernel": kernel.format_version(kernel.running_kernel().upstream),
                                         "tests": _measure_here(build)}))
        return
    if spec is None:
        story_costs.write(_measure_here(build), how, today, machine=machine.describe())
        where = "host"
    else:
        with tempfile.TemporaryDirectory(prefix="tcprepro-costs-") as folder:
            # Every story alone, one after another, under TCG: far longer than a run.
            argv = [str(REPO / "tcprepro"), "exec", "--kernel", spec, "--out", folder, "--guest-timeout", "7200", "--",
                    "/usr/bin/python3", str(REPO / "ci" / "bench.py"), "--costs",
                    "--build-dir", str(build.resolve()), "--table-out", f"{folder}/costs.json"]
            status = subprocess.run(argv, cwd=REPO).returncode
            if status != 0 or not (pathlib.Path(folder) / "costs.json").is_file():
                sys.exit(f"ci/bench.py: measuring in {spec} failed (exit {status}); see the output above")
            measured = json.loads((pathlib.Path(folder) / "costs.json").read_text())
        where = story_costs.series(kernel.parse_version(measured["kernel"]))
        story_costs.write(measured["tests"], f"{how}, inside a TCG guest of {spec} ({measured['kernel']})", today,
                          where, machine.describe())
    costs = story_costs.load(None if where == "host" else where)
    print(f"{len(costs.measured)} tests, {sum(c.cpu_bound for c in costs.measured.values())} CPU-bound; "
          f"written to {story_costs.TABLE.relative_to(REPO)} ({costs.where})")


def _target_line(number: int, document: dict, cores: int) -> str:
    target = document["target"]
    longest = max((r["duration_seconds"] for r in document["results"]), default=0.0)
    wall = document["run"]["wall_seconds"]
    cpu = target.get("cpu_seconds")
    used = target.get("cpus") or cores  # a guest runs on its vCPUs
    floor = cpu / used if cpu is not None else None
    ratios = (f"wall/longest {wall / longest:5.2f}" if longest else "wall/longest    - ") + \
        (f"  wall/floor {wall / floor:5.2f}" if floor else "  wall/floor    - ")
    boot = f"  boot {target['boot_seconds']:.1f} s" if target.get("boot_seconds") is not None else ""
    failed = f"  failed boots {len(target['failed_boots'])}" if target.get("failed_boots") else ""
    return (f"run {number} {target['name']:<16} {ratios}  wall {wall:7.2f} s  CPU "
            + (f"{cpu:7.2f} s (floor {floor:6.2f} s on {used})" if cpu is not None else "      - ")
            + f"  longest story {longest:6.2f} s{boot}{failed}  errors {document['summary']['error']}"
            + f"  unexpected {document['summary']['unexpected']}")


def bench_runs(kernels: list[str], runs: int, extra: list[str]) -> None:
    cores = len(os.sched_getaffinity(0))
    print(f"# {machine.describe()}")
    print(f"# ci/bench.py {' '.join(sys.argv[1:])} (tcprepro {_revision()})", flush=True)
    command_walls = []
    for number in range(1, runs + 1):
        with tempfile.TemporaryDirectory(prefix="tcprepro-bench-") as folder:
            out = pathlib.Path(folder) / "run"
            argv = [str(REPO / "tcprepro"), "run", "--out", str(out), *extra]
            for spec in kernels:
                argv += ["--kernel", spec]
            before = resource.getrusage(resource.RUSAGE_CHILDREN)
            load = os.getloadavg()[0]
            started = time.monotonic()
            status = subprocess.run(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode
            wall = time.monotonic() - started
            after = resource.getrusage(resource.RUSAGE_CHILDREN)
            cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
            command_walls.append(wall)
            longest = 0.0
            for results_file in sorted(out.glob("*/results.json")):
                document = json.loads(results_file.read_text())
                longest = max([longest] + [r["duration_seconds"] for r in document["results"]])
                print(_target_line(number, document, cores))
                for result in document["results"]:
                    if result["outcome"] == "error" or result["expectation"]["verdict"] == "unexpected":
                        print(f"    {result['id']}: {result['reason'] or result['expectation']['mismatches']}")
            print(f"run {number} whole command ({' '.join(kernels) or 'host'}): wall/longest "
                  f"{wall / longest if longest else float('inf'):.2f}  wall/floor {wall / (cpu / cores):.2f}  "
                  f"wall {wall:.1f} s  CPU {cpu:.1f} s (user {after.ru_utime - before.ru_utime:.1f} + system "
                  f"{after.ru_stime - before.ru_stime:.1f}; floor {cpu / cores:.1f} s on {cores})  "
                  f"load at start {load:.2f}  exit {status}", flush=True)
    if runs > 1:
        print(f"whole command: min {min(command_walls):.1f} s, max {max(command_walls):.1f} s over {runs} runs")


def _revision() -> str:
    return subprocess.run(["git", "-C", str(REPO), "describe", "--always", "--dirty"], capture_output=True,
                          text=True).stdout.strip() or "unknown"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--costs", action="store_true", help="measure harness/run/story_costs.json (with --kernel: in a guest)")
    parser.add_argument("--table-out", type=pathlib.Path, help=argparse.SUPPRESS)  # --costs inside the guest
    parser.add_argument("--kernel", action="append", default=[], metavar="SPEC")
    parser.add_argument("--runs", type=int, default=1)
    parser.add_argument("--build-dir", type=pathlib.Path, default=REPO / "build")
    args, extra = parser.parse_known_args()
    if args.costs:
        if len(args.kernel) > 1:
            parser.error("--costs measures one kernel at a time: give at most one --kernel")
        measure_costs(args.build_dir, args.kernel[0] if args.kernel else None, args.table_out)
    else:
        bench_runs(args.kernel, args.runs, extra)
    return 0


if __name__ == "__main__":
    sys.exit(main())
