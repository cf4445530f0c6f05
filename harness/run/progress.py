"""Live progress of a run, per kernel: boot, stories done / total, the story running now, failures.

Two halves joined by a pipe:

- `Events`, in a target's pytest process, writes one JSON line per event to the
  file descriptor `./tcprepro run` handed it (TCPREPRO_PROGRESS_FD); without one
  (pytest run by hand) it writes nothing.
- `Board`, in `./tcprepro run`, reads every target's events (`follow`) and shows
  them: on a terminal, one line per kernel redrawn in place, with failures printed
  above as they happen; otherwise (CI logs) plain lines for boots, failures,
  each quarter done and the end.
"""
from __future__ import annotations

import json
import os
import pathlib
import shutil
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import IO, Callable

FD_VARIABLE = "TCPREPRO_PROGRESS_FD"


class Events:
    """The writing half: what one target is doing."""

    def __init__(self, fd: int | None = None):
        if fd is None and os.environ.get(FD_VARIABLE, "").isdigit():
            fd = int(os.environ[FD_VARIABLE])
        self._out: IO[str] | None = os.fdopen(fd, "w", buffering=1) if fd is not None else None
        self._lock = threading.Lock()

    def _send(self, **event) -> None:
        if self._out is None:
            return
        with self._lock:
            try:
                self._out.write(json.dumps(event) + "\n")
            except (BrokenPipeError, OSError):  # nobody is watching any more: progress is optional
                self._out = None

    def planned(self, total: int) -> None:
        self._send(event="planned", total=total)

    def booting(self) -> None:
        self._send(event="booting")

    def booted(self, seconds: float, release: str) -> None:
        self._send(event="booted", seconds=round(seconds, 1), release=release)

    def started(self, result_id: str) -> None:
        self._send(event="started", id=result_id)

    def result(self, raw, version, target_dir: pathlib.Path) -> None:
        """A raw result as it comes back: judged here so a failure shows as it happens."""
        if self._out is not None:
            from harness.judge import results
            self.finished(results.result_entry(raw, version, target_dir))

    def finished(self, entry: dict) -> None:
        """entry: the judged result (results.json's format)."""
        expectation = entry.get("expectation") or {}
        self._send(event="finished", id=entry["id"], outcome=entry.get("outcome"),
                   verdict=expectation.get("verdict"), why=_why(entry))


def _why(entry: dict) -> str | None:
    if entry.get("outcome") == "error":
        return str(entry.get("reason") or "machinery error").splitlines()[0]
    mismatches = (entry.get("expectation") or {}).get("mismatches") or []
    if mismatches:
        return "; ".join(f"{m.get('observation')}: expected {json.dumps(m.get('expected'))}, "
                         f"observed {json.dumps(m.get('observed'))}" for m in mismatches)
    return None


FAILING = {"unexpected", "error"}


@dataclass
class Kernel:
    name: str
    total: int | None = None
    done: int = 0
    failed: int = 0
    running: list[str] = field(default_factory=list)
    state: str = "waiting"  # waiting | booting | running | finished
    boot: str = ""
    reported_quarter: int = 0

    def line(self, width: int) -> str:
        total = self.total if self.total is not None else "?"
        text = f"{self.name:<{width}}  "
        if self.state == "booting":
            return text + "booting…"
        text += f"{self.done}/{total}"
        if self.failed:
            text += f"  ✗ {self.failed} failed"
        if self.state == "finished":
            return text + "  done"
        if self.running:
            text += f"  now: {self.running[-1]}" + (f" (+{len(self.running) - 1})" if len(self.running) > 1 else "")
        return text + (f"  [{self.boot}]" if self.boot else "")


class Board:
    """The reading half: every target's progress, on one screen or as plain lines."""

    def __init__(self, names: list[str], out: IO[str] | None = None, live: bool | None = None):
        self.out = out or sys.stdout
        self.live = self.out.isatty() if live is None else live
        self.kernels = {name: Kernel(name) for name in names}
        self.width = max((len(name) for name in names), default=0)
        self._drawn = 0
        self._lock = threading.Lock()

    def note(self, text: str) -> None:
        """A line of its own, above the live block."""
        with self._lock:
            self._print([text], always=True)

    def event(self, name: str, event: dict) -> None:
        with self._lock:
            self._print(self._apply(self.kernels[name], event))

    def close(self) -> None:
        with self._lock:
            self._drawn = 0  # leave the last state on screen

    def _apply(self, kernel: Kernel, event: dict) -> list[str]:
        """Updates kernel; returns the plain lines worth printing for this event."""
        kind = event.get("event")
        if kind == "planned":
            kernel.total = int(event["total"])
            kernel.state = "running" if kernel.state == "waiting" else kernel.state
            return [f"{kernel.name}: {kernel.total} stories"]
        if kind == "booting":
            kernel.state = "booting"
            return [f"{kernel.name}: booting"]
        if kind == "booted":
            kernel.state = "running"
            kernel.boot = f"booted in {event.get('seconds')} s"
            return [f"{kernel.name}: booted {event.get('release')} in {event.get('seconds')} s"]
        if kind == "started":
            kernel.running.append(str(event["id"]))
            return []
        if kind == "finished":
            if event.get("id") in kernel.running:
                kernel.running.remove(event["id"])
            kernel.done += 1
            lines = []
            if event.get("outcome") in FAILING or event.get("verdict") in FAILING:
                kernel.failed += 1
                what = event.get("verdict") if event.get("outcome") != "error" else "error"
                lines.append(f"{kernel.name}: ✗ {event.get('id')}: {what}" + (f": {event['why']}" if event.get("why") else ""))
            if kernel.total:
                quarter = 4 * kernel.done // kernel.total
                if quarter > kernel.reported_quarter and not self.live:
                    kernel.reported_quarter = quarter
                    lines.append(f"{kernel.name}: {kernel.done}/{kernel.total} done"
                                 + (f", {kernel.failed} failed" if kernel.failed else ""))
                if kernel.done == kernel.total:
                    kernel.state = "finished"
            return lines
        return []

    def _print(self, lines: list[str], always: bool = False) -> None:
        if not self.live:
            for line in lines:
                self.out.write(line + "\n")
            self.out.flush()
            return
        # Failures and notes scroll above; the block of one line per kernel is redrawn below them.
        shown = lines if always else [line for line in lines if "✗" in line]
        if self._drawn:
            self.out.write(f"\x1b[{self._drawn}F\x1b[J")
        for line in shown:
            self.out.write(line + "\n")
        block = [kernel.line(self.width) for kernel in self.kernels.values()]
        columns = _columns()
        for line in block:
            self.out.write(line[:columns - 1] + "\n")
        self._drawn = len(block)
        self.out.flush()


def _columns() -> int:
    columns = shutil.get_terminal_size((120, 24)).columns
    return columns if columns >= 40 else 120  # a pseudo-terminal may say 0


def follow(stream: IO[str], on_event: Callable[[dict], None]) -> None:
    """Hands every event line of stream to on_event until the writer closes it."""
    for line in stream:
        try:
            event = json.loads(line)
        except ValueError:
            continue  # a torn line from a killed writer
        on_event(event)


def watch(name: str, board: Board) -> tuple[int, threading.Thread]:
    """A pipe for one target: the write end to hand to its process, a thread feeding the board."""
    read_fd, write_fd = os.pipe()
    reader = os.fdopen(read_fd, "r")
    thread = threading.Thread(target=lambda: (follow(reader, lambda e: board.event(name, e)), reader.close()),
                              daemon=True, name=f"progress {name}")
    thread.start()
    return write_fd, thread


class GuestFollower:
    """Follows a QEMU guest's results file (harness/targets/guest.py) while it runs: the kernel
    line means it booted; then each story's start and raw result, as the guest writes them."""

    POLL_SECONDS = 0.5  # how soon the display learns of a new line; nothing waits on it

    def __init__(self, results_file: pathlib.Path, tests: list, events: Events):
        self.results_file, self.events = results_file, events
        self.tests = {t.id: t for t in tests}
        self.started = time.monotonic()
        self.offset, self.version = 0, None
        self.done = threading.Event()
        self.thread = threading.Thread(target=self._follow, daemon=True, name="guest progress")
        self.thread.start()

    def stop(self) -> None:
        self.done.set()
        self.thread.join()

    def _follow(self) -> None:
        while True:
            last = self.done.is_set()  # after the guest ended, read once more
            self._read()
            if last:
                return
            self.done.wait(self.POLL_SECONDS)

    def _read(self) -> None:
        if not self.results_file.exists():
            return
        with self.results_file.open("rb") as stream:
            stream.seek(self.offset)
            for line in stream:
                if not line.endswith(b"\n"):
                    return  # half written: read it next time
                self.offset += len(line)
                self._event(json.loads(line))

    def _event(self, data: dict) -> None:
        from harness.targets import guest
        from harness.kernels import kernel
        if "kernel" in data:
            info = kernel.KernelInfo(data["kernel"]["release"], data["kernel"]["version"], data["kernel"]["machine"])
            self.version = info.upstream
            self.events.booted(time.monotonic() - self.started, info.release)
        elif "started" in data:
            self.events.started(data["started"])
        elif data.get("id") in self.tests and self.version is not None:
            self.events.result(guest.raw_from_json(data, self.tests[data["id"]]), self.version,
                               self.results_file.parent)
