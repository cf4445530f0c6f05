"""One step: the kernel (fetched, or built with `kernel build`'s machinery) and N draws of
the result on it by `./tcprepro run --repeat N`, into the step's own folder.

The run is the ordinary command in a child process, so a step is exactly what a user
would run by hand (its folder holds the run's results.json, report and evidence).
TCPREPRO_BISECT_RUN replaces `./tcprepro run` by another command taking the same
options (the tests' stand-in for a booted kernel).
"""
from __future__ import annotations

import dataclasses
import os
import pathlib
import shlex
import shutil
import signal
import subprocess
import sys
import time

from harness.judge import gate
from harness.kernels import kernel_build
from harness.run import processes

REPO = pathlib.Path(__file__).resolve().parents[2]


class StepSkipped(Exception):
    """The step gives no answer: its kernel did not build or could not be had."""


class MachineryError(RuntimeError):
    """The run itself cannot work here (exit 3 of bisect)."""


@dataclasses.dataclass
class Draws:
    folder: pathlib.Path  # the run's --out
    results: pathlib.Path | None  # its results.json, None when the run wrote none
    status: int
    seconds: float


class StepRunner:
    def __init__(self, out: pathlib.Path, state: dict, log=print):
        self.out, self.state, self.log = out, state, log
        self._source = None

    # -- kernels --
    def kernel_spec(self, step: dict) -> str:
        axis = self.state["axis"]
        if axis["kind"] == "debian":
            return f"{step['name']}={step['spec']}"
        started = time.monotonic()
        try:
            if axis["kind"] == "series":
                built = kernel_build.build(self._series_source(), [pathlib.Path(p) for p in step["patches"]],
                                           pathlib.Path(axis["config"]), axis["jobs"], log=self.log)
            else:
                built = kernel_build.build(self._checkout(step["commit"]), [], pathlib.Path(axis["config"]),
                                           axis["jobs"], log=self.log)
        except (kernel_build.BuildError, kernel_build.BuildInputError) as error:
            raise StepSkipped(f"did not build: {str(error).splitlines()[0]}") from None
        how = "cached" if built.seconds is None else f"built in {time.monotonic() - started:.0f} s"
        step["build"] = {"release": built.release, "folder": str(built.folder), "how": how}
        self.log(f"  kernel {built.release}: {how}")
        return f"{step['name']}=local:{built.bzimage}"

    def _series_source(self) -> kernel_build.Source:
        if self._source is None:
            source = self.state["axis"]["source"]
            self._source = (kernel_build.debian_source(source, log=self.log) if source.startswith("debian:")
                            else kernel_build.tree_source(pathlib.Path(source)))
        return self._source

    def _checkout(self, commit: str) -> kernel_build.Source:
        """The commit in the bisect's own clone of the user's tree (objects shared, the tree untouched)."""
        clone = self.out / "tree"
        if not (clone / ".git").is_dir():
            shutil.rmtree(clone, ignore_errors=True)
            made = subprocess.run(["git", "clone", "--quiet", "--shared", "--no-checkout",
                                   self.state["axis"]["tree"], str(clone)], capture_output=True, text=True)
            if made.returncode != 0:
                raise MachineryError(f"git clone --shared {self.state['axis']['tree']}: {made.stderr.strip()}")
        checked = subprocess.run(["git", "-C", str(clone), "checkout", "--quiet", "--force", "--detach", commit],
                                 capture_output=True, text=True)
        if checked.returncode != 0:
            raise MachineryError(f"git checkout {commit} in {clone}: {checked.stderr.strip()}")
        subprocess.run(["git", "-C", str(clone), "clean", "-qfdx"], capture_output=True)
        return kernel_build.tree_source(clone)

    # -- draws --
    def draw(self, spec: str, folder: pathlib.Path, repeat: int) -> Draws:
        if folder.exists():  # a step a kill cut short: drawn again from the start
            shutil.rmtree(folder)
        folder.parent.mkdir(parents=True, exist_ok=True)
        options = self.state["run_options"]
        command = shlex.split(os.environ.get("TCPREPRO_BISECT_RUN", "")) or [sys.executable, str(REPO / "tcprepro"),
                                                                             "run"]
        command += ["--kernel", spec, "-k", self.state["result"], "--repeat", str(repeat), "--out", str(folder),
                    "--accel", options["accel"], "--guest-timeout", str(options["guest_timeout"])]
        started = time.monotonic()
        interrupted = False
        with (folder.parent / f"{folder.name}.log").open("w") as log:
            # Bound to this process (it dies with a killed bisect); a terminal's Ctrl-C reaches it
            # too, and it is waited for while it stops its guest and writes what finished.
            child = processes.popen(command, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
            while True:
                try:
                    status = child.wait()
                    break
                except KeyboardInterrupt:
                    if not interrupted:  # a signal sent to this process only: passed on once
                        child.send_signal(signal.SIGINT)
                    interrupted = True
        seconds = round(time.monotonic() - started, 1)
        if interrupted or status in (gate.INTERRUPTED, -2):
            raise KeyboardInterrupt
        if status == gate.CANNOT_RUN:
            raise MachineryError(f"the run cannot work on this machine: {_tail(folder)}")
        results = next(iter(sorted(folder.glob("*/results.json"))), None)
        return Draws(folder, results, status, seconds)


def _tail(folder: pathlib.Path) -> str:
    log = folder.parent / f"{folder.name}.log"
    lines = log.read_text(errors="replace").strip().splitlines() if log.exists() else []
    return lines[-1] if lines else "no output"


def run_failure(draws: Draws) -> str:
    """Why a run wrote no results: the last line of its output."""
    return f"the run ended with status {draws.status} and no results ({_tail(draws.folder)})"
