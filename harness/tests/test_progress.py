"""Live progress: events written by a target's process, shown per kernel by ./tcprepro run."""
import io
import json
import threading
import time

from harness.run import progress


def finished(result_id, outcome="passed", verdict="as_expected", why=None):
    return {"event": "finished", "id": result_id, "outcome": outcome, "verdict": verdict, "why": why}


def feed(board, name, events):
    for event in events:
        board.event(name, event)


def test_plain_lines_for_a_log_boot_failures_quarters_and_the_end():
    out = io.StringIO()
    board = progress.Board(["debian:bookworm"], out=out, live=False)
    feed(board, "debian:bookworm", [
        {"event": "planned", "total": 4}, {"event": "booting"},
        {"event": "booted", "seconds": 4.8, "release": "6.1.0-50-amd64"},
        {"event": "started", "id": "S1a/ipv4"}, finished("S1a/ipv4"),
        finished("S2a/ipv6", verdict="unexpected", why="delta_mean: expected {\"min\": 7}, observed 48.2"),
        finished("S3c/ipv4", outcome="error", verdict="none", why="case program ended with signal 9"),
        finished("S3c/ipv6"),
    ])
    assert out.getvalue().splitlines() == [
        "debian:bookworm: 4 stories",
        "debian:bookworm: booting",
        "debian:bookworm: booted 6.1.0-50-amd64 in 4.8 s",
        "debian:bookworm: 1/4 done",
        "debian:bookworm: ✗ S2a/ipv6: unexpected: delta_mean: expected {\"min\": 7}, observed 48.2",
        "debian:bookworm: 2/4 done, 1 failed",
        "debian:bookworm: ✗ S3c/ipv4: error: case program ended with signal 9",
        "debian:bookworm: 3/4 done, 2 failed",
        "debian:bookworm: 4/4 done, 2 failed",
    ]


def test_on_a_terminal_one_line_per_kernel_is_redrawn_and_failures_scroll_above():
    out = io.StringIO()
    board = progress.Board(["host", "debian:sid"], out=out, live=True)
    board.event("host", {"event": "planned", "total": 2})
    board.event("debian:sid", {"event": "booting"})
    board.event("host", {"event": "started", "id": "S4d/ipv4"})
    board.event("host", finished("S4d/ipv4", verdict="unexpected", why="x: expected 1, observed 2"))
    screen = out.getvalue()
    assert "\x1b[2F\x1b[J" in screen  # the two kernel lines are redrawn in place
    last = screen.rsplit("\x1b[J", 1)[1].splitlines()
    assert last[0] == "host: ✗ S4d/ipv4: unexpected: x: expected 1, observed 2"
    assert last[1].startswith("host") and "1/2" in last[1] and "✗ 1 failed" in last[1]
    assert last[2].startswith("debian:sid") and "booting…" in last[2]
    before = screen.rsplit("\x1b[J", 2)[1]
    assert "now: S4d/ipv4" in before  # the story running then


def test_events_travel_through_the_pipe_to_the_board():
    out = io.StringIO()
    board = progress.Board(["host"], out=out, live=False)
    write_fd, reader = progress.watch("host", board)
    events = progress.Events(write_fd)
    events.planned(1)
    events.finished({"id": "S1a", "outcome": "error", "reason": "timed out after 120 s\nmore", "expectation": {}})
    events._out.close()
    reader.join(timeout=10)
    assert "host: ✗ S1a: error: timed out after 120 s" in out.getvalue()


def test_without_a_watcher_events_are_dropped(monkeypatch):
    monkeypatch.delenv(progress.FD_VARIABLE, raising=False)
    progress.Events().planned(3)  # nothing to write to, nothing raised


class Recorder(progress.Events):
    def __init__(self):
        super().__init__(None)
        self.seen = []

    def booted(self, seconds, release):
        self.seen.append(("booted", release))

    def started(self, result_id):
        self.seen.append(("started", result_id))

    def result(self, raw, version, target_dir):
        self.seen.append(("result", raw.test.id, raw.outcome, version))


class FakeTest:
    def __init__(self, test_id):
        self.id = test_id


def test_a_guest_s_results_file_is_followed_as_it_grows(tmp_path):
    results_file = tmp_path / "guest-results.jsonl"
    recorder = Recorder()
    follower = progress.GuestFollower(results_file, [FakeTest("S1a/ipv4")], recorder)
    kernel = {"kernel": {"release": "6.1.0-50-amd64", "version": "#1 SMP Debian 6.1.176-1", "machine": "x86_64"}}
    raw = {"id": "S1a/ipv4", "outcome": "passed", "reason": None, "duration_seconds": 0.1, "record": {},
           "evidence_dir": str(tmp_path), "log": str(tmp_path / "log"), "uname": ""}
    with results_file.open("w") as stream:
        stream.write(json.dumps(kernel) + "\n" + json.dumps({"started": "S1a/ipv4"}) + "\n")
        stream.flush()
        stream.write(json.dumps(raw)[:20])  # half a line: not read yet
    deadline = time.monotonic() + 10
    while len(recorder.seen) < 2 and time.monotonic() < deadline:  # the follower reads every 0.5 s
        threading.Event().wait(0.05)
    assert len(recorder.seen) == 2  # the half line is not an event yet
    with results_file.open("a") as stream:
        stream.write(json.dumps(raw)[20:] + "\n")
    follower.stop()
    assert recorder.seen[:2] == [("booted", "6.1.0-50-amd64"), ("started", "S1a/ipv4")]
    assert recorder.seen[2][:3] == ("result", "S1a/ipv4", "passed") and recorder.seen[2][3][:2] == (6, 1)
