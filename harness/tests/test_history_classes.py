"""Classes over time (stable, flaky, changed, new), the same on SQLite and PostgreSQL,
and `history show|flakes|changes` through the CLI."""
import json
import os
import pathlib
import platform
import subprocess

import pytest

from cli.history import classes, ingest, load, store
from harness.tests.history_data import entry, write_run
from reports.load import load_result_sets

REPO = pathlib.Path(__file__).resolve().parents[2]


def tcprepro(*args):
    return subprocess.run([str(REPO / "tcprepro"), *args], capture_output=True, text=True, timeout=300)


def _results(n: int, kernel: str) -> list[dict]:
    """Run n on a kernel: a steady behaviour, a measurement inside its bounds, a verdict that
    flips on run 3 and 6 (host only), a sample of ports, and a behaviour that changed in 6.1."""
    old = kernel == "debian:bullseye"
    flips = kernel == "host" and n in (3, 6)
    return [
        entry("S1a/ipv4", {"state": "ESTABLISHED", "challenge_ack_delta": 1 if old else 0},
              judged={"state": True, "challenge_ack_delta": True}),
        entry("S3b/ipv4", {"reused": True, "reuse_wait_ms": 500.0 + 37.5 * n + (600 if flips else 0)},
              judged={"reused": True, "reuse_wait_ms": not flips}, verdict="unexpected" if flips else "as_expected"),
        entry("S2a/ipv4", {"ports_tried": [40000 + (n * 7 + i) % 16 for i in range(20)], "wait_ms": 0.1 * n},
              key=["ports_tried"]),
    ] + ([entry("S9z/new", {"x": 1}, judged={"x": True})] if kernel == "host" and n >= 8 else [])


def fill(text: str, tmp_path: pathlib.Path) -> None:
    opened = store.open_store(text, create=True)
    minute = 0
    for kernel, count in (("host", 10), ("debian:bullseye", 3), ("debian:bookworm", 3)):
        for n in range(count):
            minute += 1
            run = write_run(tmp_path / "runs", f"run-{minute:02d}", kernel, _results(n, kernel), minute=minute,
                            selection=None if kernel == "host" else "S1a or S3b or S2a")
            ingest.add(opened, load_result_sets([run]))
    opened.close()


def classified(text: str):
    opened = store.open_store(text, create=False)
    with opened.read() as connection:
        runs, samples = load.runs(connection), load.samples(connection)
    opened.close()
    return classes.classify(samples, runs), runs


def test_each_class(store_text, tmp_path):
    fill(store_text, tmp_path)
    found, _ = classified(store_text)
    assert {rid: c.kind for rid, c in found.items()} == {
        "S1a/ipv4": "changed", "S3b/ipv4": "flaky", "S2a/ipv4": "stable", "S9z/new": "new"}
    s3b = found["S3b/ipv4"]
    (host,) = [s for s in s3b.series if s.flaky]
    assert host.run.target == "host" and host.flips == 4 and host.streak == 3
    assert [n for _, n in host.counts()] == [8, 2]
    (change,) = [c for c in found["S1a/ipv4"].changes if c.status == "changed"]
    assert (change.old_run.target, change.new_run.target) == ("debian:bullseye", "debian:bookworm")
    assert change.differences == [{"what": "challenge_ack_delta", "kind": "behaviour", "old": 1, "new": 0}]
    assert change.new_run.run_id == "run-14"  # the first run on the new kernel
    # S9z ran only on the host, and the Debian runs' -k did not take it: neither new nor gone there.
    assert [c.status for c in found["S9z/new"].changes] == []


def test_sqlite_and_postgresql_give_the_same_answers(tmp_path, postgres_server):
    answers = []
    for kind, text in (("sqlite", str(tmp_path / "h.sqlite")), ("postgresql", postgres_server.new_database())):
        fill(text, tmp_path / kind)
        answers += [[tcprepro("history", command, "--store", text).stdout
                     for command in ("flakes", "changes")] + [tcprepro("history", "show", "S3b", "--store", text).stdout]]
    assert answers[0] == answers[1]
    flakes, changes, show = answers[0]
    assert "1 flaky of 4 results" in flakes and "1 new results left out until they have 5 clean runs" in flakes
    assert "S3b/ipv4 on host 6.18.44 (6.18.44-test), defaults: 2 of 10 samples differ" in flakes
    assert "reuse_wait_ms (measurement): flaky, met ×8, not met ×2; values 500–1325 over 10" in flakes
    assert "ports_tried" not in flakes  # a sample of ports varies by design: not judged, not flaky
    assert ("  changed debian:bullseye 5.10.223 (5.10.0-32-amd64, 5.10.223-1) -> debian:bookworm 6.1.176 "
            "(6.1.0-50-amd64, 6.1.176-1): challenge_ack_delta 1 -> 0") in changes
    assert "S3b/ipv4: flaky" in show and "4 flips, current streak 3" in show


def test_show_and_bad_names(tmp_path):
    text = str(tmp_path / "h.sqlite")
    fill(text, tmp_path)
    shown = tcprepro("history", "show", "S1a", "--store", text, "--kernel", "debian:bookworm")
    assert shown.returncode == 0, shown.stderr
    assert "debian:bookworm 6.1.176" in shown.stdout and "host 6.18.44" not in shown.stdout.split("changes")[0]
    for args, why in [(["show", "S7"], "no result 'S7' in store"), (["show", "S1a", "--kernel", "debian:sid"],
                                                                     "has no run on it"),
                      (["show", "S", "--config", "x"], "matches 4 results")]:
        result = tcprepro("history", *args, "--store", text)
        assert result.returncode == 2 and why in result.stderr, result.stderr


needs_root_and_build = pytest.mark.skipif(
    os.geteuid() != 0 or not (REPO / "build" / "CMakeCache.txt").exists(),
    reason="needs root and a build (ci/setup.sh)")


@needs_root_and_build
def test_run_with_history_prints_flaky_results_and_gates_on_them_only_when_asked(tmp_path, monkeypatch):
    """Earlier runs on this very kernel build disagree about S1a/ipv4_loopback: a real run
    adds itself to the store and names it flaky; the exit status changes only with --gate-flaky."""
    from harness.tests import history_data
    monkeypatch.setitem(history_data.KERNELS, "this host",
                        (platform.release(), platform.version(), platform.release().split("-")[0]))
    text = str(tmp_path / "h.sqlite")
    opened = store.open_store(text, create=True)
    for n in range(5):
        result = entry("S1a/ipv4_loopback", {"state": "ESTABLISHED"}, judged={"state": n != 2},
                       verdict="unexpected" if n == 2 else "as_expected")
        run = write_run(tmp_path / "earlier", f"earlier-{n}", "this host", [result], minute=n)
        document = json.loads((run / "this host" / "results.json").read_text())
        document["target"]["name"] = "host"
        (run / "this host" / "results.json").write_text(json.dumps(document))
        ingest.add(opened, load_result_sets([run]))
    opened.close()
    assert tcprepro("run", "--gate-flaky", "-k", "S1a and ipv4_loopback").returncode == 2
    plain = tcprepro("run", "-k", "S1a and ipv4_loopback", "--out", str(tmp_path / "a"), "--history", text)
    assert plain.returncode == 0, plain.stdout + plain.stderr
    assert "1 results added; 1 flaky here" in plain.stdout
    assert "  flaky: S1a/ipv4_loopback on host" in plain.stdout
    gated = tcprepro("run", "-k", "S1a and ipv4_loopback", "--out", str(tmp_path / "b"), "--history", text,
                     "--gate-flaky")
    assert gated.returncode == 1, gated.stdout + gated.stderr
    assert counted_runs(text) == 7


def counted_runs(text):
    opened = store.open_store(text, create=False)
    with opened.read() as connection:
        n = load.counts(connection)["runs"]
    opened.close()
    return n
