"""`./tcprepro show`: one saved result as text, through the CLI; bad input is one line and exit 2."""
import os
import pathlib
import shutil
import subprocess

import pytest

from cli import show
from reports.tests.builders import result, write_target

REPO = pathlib.Path(__file__).resolve().parents[2]
FIXTURES = REPO / "reports" / "tests" / "fixtures"
CRAFTED = "S3c-crafted-rst/ipv4"


def tcprepro(*args):
    return subprocess.run([str(REPO / "tcprepro"), *map(str, args)], capture_output=True, text=True, timeout=60)


@pytest.fixture
def run_dir(tmp_path):
    """A saved two-kernel run whose S3c result has an exchange file beside its client pcap."""
    run = tmp_path / "results" / "20261201-000000"
    results = [
        result(CRAFTED, "S3c-crafted-rst", observations={"stale_old_ack_TcpOutSegs_delta": 1, "reuse_wait_ms": 2.5},
               key_observations=["stale_old_ack_TcpOutSegs_delta"]),
        result("S3c-crafted-rst/ipv6", "S3c-crafted-rst", observations={"x": 1}),
        result("S1a/ipv4_loopback", "S1a", observations={"connect_errno": "0"}),
    ]
    for name, upstream in (("debian:trixie", "6.12.107"), ("host", "6.18.44")):
        target = write_target(run, name, upstream, results)
        pcap = target / "evidence" / CRAFTED / "client.pcap"
        shutil.copy(FIXTURES / "s3c_crafted.client.exchange.json", pcap.with_name("client.exchange.json"))
    return run


def test_a_prefix_prints_verdicts_key_observations_and_the_ladder(run_dir):
    shown = tcprepro("show", "S3c-crafted-rst/ipv4", run_dir)
    assert shown.returncode == 0, shown.stderr
    out = shown.stdout
    assert out.index("on debian:trixie (6.12.107") < out.index("on host (6.18.44")  # oldest kernel first
    assert "stale_old_ack_TcpOutSegs_delta = 1" in out and "reuse_wait_ms" not in out  # key observations only
    assert "client ◀── server  R seq 1 len 0  [crafted]" in out
    assert "client ──▶ server  S seq 0 len 0 TS 4000/0" in out


def test_a_unique_part_of_the_id_in_any_case_and_the_kernel_option_before_the_dir(run_dir):
    shown = tcprepro("show", "CRAFTED-RST/ipv4", "--kernel", "host", run_dir)
    assert shown.returncode == 0, shown.stderr
    assert "on host" in shown.stdout and "debian:trixie" not in shown.stdout


def test_the_newest_run_is_the_default(run_dir, tmp_path):
    (tmp_path / "results" / "20251231-235959" / "host").mkdir(parents=True)
    (tmp_path / "results" / "20251231-235959" / "host" / "results.json").write_text("{}")
    assert show.newest_run(tmp_path / "results") == run_dir


@pytest.mark.parametrize("args,message", [
    (["S3c-crafted"], "matches 2 results (S3c-crafted-rst/ipv4, S3c-crafted-rst/ipv6)"),
    (["S3c-craftd-rst/ipv4"], "close matches: S3c-crafted-rst/ipv4"),
    (["S1a/ipv4_loopback", "--kernel", "debian:sid"], "--kernel debian:sid: not in this run"),
])
def test_bad_result_or_kernel_is_one_line_and_exit_2(run_dir, args, message):
    shown = tcprepro("show", *args, run_dir)
    assert shown.returncode == 2
    assert shown.stderr.count("\n") == 1 and shown.stderr.startswith("tcprepro: error:")
    assert message in shown.stderr


def test_a_directory_without_results_is_exit_2(tmp_path):
    shown = tcprepro("show", "S1a", tmp_path)
    assert shown.returncode == 2 and "no results.json" in shown.stderr


def test_a_result_without_exchange_file_says_so(run_dir):
    shown = tcprepro("show", "S1a/ipv4_loopback", "--kernel", "host", run_dir)
    assert shown.returncode == 0
    assert "client.pcap: no ladder (no client.exchange.json beside it)" in shown.stdout


def test_a_reader_that_stops_early_gets_no_traceback(run_dir):
    """`show ... | head`: the pipe is closed before show writes."""
    read_end, write_end = os.pipe()
    os.close(read_end)
    shown = subprocess.run([str(REPO / "tcprepro"), "show", CRAFTED, str(run_dir)], stdout=write_end,
                           stderr=subprocess.PIPE, text=True, timeout=60)
    os.close(write_end)
    assert shown.returncode == 0 and "Traceback" not in shown.stderr, shown.stderr
