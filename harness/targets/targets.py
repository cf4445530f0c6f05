"""Targets: where case programs run. `host` is the running kernel; a QemuTarget
boots a fetched kernel and runs the same case programs inside it.

Both have `kernel` (known once they ran), `describe()` and
`run_tests(tests, evidence_root, jobs, on_result, repeat)`, which runs each test
`repeat` times and hands each raw result (its `draw` says which run) to
`on_result` as soon as it is known. On an interrupt (KeyboardInterrupt) they
stop what runs, hand on what finished, and re-raise.
"""
from __future__ import annotations

import json
import os
import pathlib
import shlex
import threading

from typing import Callable

from harness.run import cases, progress, scheduler, story_costs
from harness.targets import guest, qemu
from harness.kernels import kernel, kernel_store

REPO = pathlib.Path(__file__).resolve().parents[2]
# Environment variables a case program reads, handed on into the guest.
_CASE_ENV = ("TCPREPRO_IMPAIRMENT_BACKEND", "TCPREPRO_SYSCTLS")


class TargetError(ValueError):
    """A --kernel spec that names no usable target."""


class HostTarget:
    name = "host"

    def __init__(self):
        self.kernel = kernel.running_kernel()
        self.cpu_seconds = 0.0  # the case programs' user + system CPU
        self._cpu_lock = threading.Lock()

    def describe(self) -> dict:
        return {"name": self.name, "accelerator": None, "kernel": self.kernel.to_json(),
                "cpu_seconds": round(self.cpu_seconds, 2)}

    def run_tests(self, tests: list[cases.CaseTest], evidence_root: pathlib.Path, jobs: int | None,
                  on_result: Callable[[cases.RawResult], None], repeat: int = 1,
                  events: progress.Events | None = None) -> None:
        """Each test in a process of its own, as many at once as their costs allow
        (scheduler.py); `jobs`, when given, also bounds how many run at once."""
        events = events or progress.Events()
        costs = story_costs.load()

        def cost_of(item: tuple[cases.CaseTest, int]) -> story_costs.Cost:
            test = item[0]
            cost = costs.of(test.id)
            return story_costs.Cost(cost.seconds, cost.cpu_bound or jobs is not None, scheduler.lock_of(test))

        def run_one(item: tuple[cases.CaseTest, int]) -> cases.RawResult:
            events.started(item[0].id)
            raw = cases.run_test(item[0], evidence_root, item[1])
            with self._cpu_lock:
                self.cpu_seconds += raw.cpu_seconds or 0.0
            return raw

        draws = [(test, draw) for draw in range(repeat) for test in tests]
        scheduler.run(draws, cost_of, run_one, on_result, cpu_slots=jobs)


# Boots of one guest before it counts as failed: measured failure rates are in
# docs (a boot dies before it comes up rarely, so a third failure is a real fault).
BOOT_ATTEMPTS = 3


class QemuTarget:
    """A kernel booted in QEMU; one boot runs every selected test."""

    def __init__(self, config: dict):
        self.name = config["spec"]  # the label, or the spec when it has none
        self.kernel_spec = config.get("kernel_spec", self.name)
        self.image = kernel_store.KernelImage.from_json(config["image"])
        self.accelerator = config["accelerator"]
        self.cpus = config["cpus"]
        self.timeout = config["timeout"]
        self.build = pathlib.Path(config["build"])
        self.kernel: kernel.KernelInfo | None = None
        self.guest_run: qemu.GuestRun | None = None
        self.guest_error: str | None = None
        self.kernel_wide: dict[str, str] = {}  # proposed sysctls the guest applied kernel-wide
        self.failed_boots: list[dict] = []  # boots that died before the guest came up, each retried

    def describe(self) -> dict:
        info = self.kernel.to_json() if self.kernel else {"release": self.image.release, "version": None,
                                                          "upstream": None, "machine": "x86_64"}
        described = {"name": self.name, "spec": self.kernel_spec, "accelerator": self.accelerator, "kernel": info,
                     "packages": list(self.image.packages), "cpus": self.cpus, "console_log": "console.log"}
        if self.guest_run:
            described.update(boot_seconds=self.guest_run.boot_seconds, guest_seconds=self.guest_run.total_seconds,
                             cpu_seconds=self.guest_run.cpu_seconds)
        if self.failed_boots:
            described["failed_boots"] = self.failed_boots
        if self.guest_error:
            described["error"] = self.guest_error
        return described

    def run_tests(self, tests: list[cases.CaseTest], evidence_root: pathlib.Path, jobs: int | None,
                  on_result: Callable[[cases.RawResult], None], repeat: int = 1,
                  events: progress.Events | None = None) -> None:
        # `jobs` is the host's parallelism; the guest's follows from its vCPUs (guest_lanes).
        out = evidence_root.parent
        evidence_root.mkdir(parents=True, exist_ok=True)
        results_file = out / "guest-results.jsonl"
        job = {"build": str(self.build), "tests": [t.id for t in tests], "evidence_root": str(evidence_root),
               "jobs": guest_lanes(self.cpus), "results": str(results_file), "repeat": repeat}
        (out / "guest-job.json").write_text(json.dumps(job, indent=1))
        script = out / "guest-job.sh"
        exports = "".join(f"export {name}={shlex.quote(os.environ[name])}\n" for name in _CASE_ENV if name in os.environ)
        script.write_text("export PATH=/run/tcprepro/bin:/usr/sbin:/usr/bin:/sbin:/bin HOME=/root LANG=C.UTF-8\n"
                          + exports + f"exec /usr/bin/python3 -m harness.targets.guest {shlex.quote(str(out / 'guest-job.json'))}\n")
        events = events or progress.Events()
        events.booting()
        watcher = progress.GuestFollower(results_file, tests, events)
        try:
            self.guest_run = self._boot(script, out)
            if self.guest_run.status != 0:
                self.guest_error = (f"the guest's harness ended with status {self.guest_run.status}; "
                                    "see guest-job.log")
        except qemu.GuestError as error:
            self.guest_error = str(error)
        except KeyboardInterrupt:  # qemu.boot killed the guest; what it finished is in the results file
            watcher.stop()
            for raw in self._collect(tests, results_file, finished_only=True):
                on_result(raw)
            raise
        finally:
            watcher.stop()
        for raw in self._collect(tests, results_file):
            on_result(raw)

    def _boot(self, script: pathlib.Path, out: pathlib.Path) -> qemu.GuestRun:
        """Boots the guest and runs the job; a boot that dies before the guest came up
        (no story ran) is retried, up to BOOT_ATTEMPTS boots in all, each failed one
        kept in failed_boots (results.json, the report) with its console log."""
        console = out / "console.log"
        for attempt in range(1, BOOT_ATTEMPTS + 1):
            try:
                return qemu.boot(self.image, self.accelerator, cpus=self.cpus, out=out, job=script, cwd=REPO,
                                 keep=[self.build], boot_timeout=qemu.TCG_BOOT_TIMEOUT, timeout=self.timeout,
                                 console=console)
            except qemu.BootFailed as error:
                if attempt == BOOT_ATTEMPTS:  # the last one's log stays console.log
                    self.failed_boots.append({"attempt": attempt, "error": str(error), "console_log": console.name})
                    raise qemu.BootFailed(f"{error} (boot {attempt} of {BOOT_ATTEMPTS}; every one failed)",
                                          console) from None
                kept = console.rename(out / f"console.boot-{attempt}.log")
                self.failed_boots.append({"attempt": attempt, "error": str(error).replace(str(console), kept.name),
                                          "console_log": kept.name})
        raise AssertionError("unreachable")

    def _collect(self, tests: list[cases.CaseTest], results_file: pathlib.Path,
                 finished_only: bool = False) -> list[cases.RawResult]:
        by_id: dict[tuple[str, int], dict] = {}
        lines = results_file.read_text().splitlines() if results_file.exists() else []
        for line in lines:
            data = json.loads(line)
            if "started" in data:
                continue
            if "kernel" in data:
                self.kernel = kernel.KernelInfo(data["kernel"]["release"], data["kernel"]["version"],
                                                data["kernel"]["machine"])
                self.kernel_wide = data.get("kernel_wide") or {}
            elif "harness_error" in data:  # the guest's harness failed: say how, not just that results are missing
                self.guest_error = f"the guest's harness failed: {data['harness_error']} (traceback in guest-job.log)"
            else:
                by_id[data["id"], data.get("draw", 0)] = data
        if self.kernel is None:  # the guest never got as far as the harness: judge by the package's version
            self.kernel = kernel.KernelInfo(self.image.release, _debian_version(self.image), "x86_64")
        raws = [guest.raw_from_json(by_id[test.id, draw], test) for test in tests
                for draw in sorted(d for i, d in by_id if i == test.id and d > 0)]
        for test in tests:
            if (test.id, 0) in by_id:
                raws.append(guest.raw_from_json(by_id[test.id, 0], test))
            elif not finished_only:
                why = self.guest_error or "the guest ended without a result for it"
                evidence = test.evidence_dir(results_file.parent / "evidence")
                raws.append(cases.RawResult(test, "error", f"guest did not finish: {why}", 0.0, {},
                                            evidence, results_file.parent / "console.log"))
        return raws


def guest_lanes(cpus: int) -> int:
    """Case programs a guest runs at once. More than its vCPUs: most of a story's time is
    protocol waits (RTO, the tw_reuse delay, keepalive), which overlap; measured on sid with
    2 vCPUs, the whole suite took 105 s in one lane and 48 s in three."""
    return 2 * cpus + 1


def _debian_version(image: kernel_store.KernelImage) -> str:
    """A `uname -v`-like string carrying the package's upstream version, for judging without a guest."""
    versions = [p.partition("=")[2] for p in image.packages]
    return f"Debian {versions[0]}" if versions else image.release


def validate(spec: str) -> kernel_store.KernelSpec:
    """Checks the spec's grammar (no network); raises TargetError with what to do."""
    try:
        return kernel_store.parse(spec)
    except kernel_store.KernelSpecError as error:
        raise TargetError(str(error)) from None


def make(config: str) -> HostTarget | QemuTarget:
    """The target a --tcprepro-target value names: "host", or the JSON of a prepared QEMU target."""
    if config == "host":
        return HostTarget()
    return QemuTarget(json.loads(config))
