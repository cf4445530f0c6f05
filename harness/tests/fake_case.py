#!/usr/bin/python3
"""Stands in for a GoogleTest case program; FAKE_MODE says how it behaves."""
import json
import os
import pathlib
import signal
import sys
import time

args = dict(a.split("=", 1) for a in sys.argv[1:] if "=" in a)
if "--gtest_list_tests" in sys.argv:
    print("Running main() from fake\nS9/Fake.\n  X_Test/ipv4_loopback  # GetParam() = 0\n  X_Test/ipv6_veth")
    sys.exit(0)

mode = os.environ["FAKE_MODE"]
report = pathlib.Path(args.get("--gtest_output", "json:/dev/null").removeprefix("json:"))
record = {"scenario": "X", "variant": {"family": "ipv4"}, "observations": {"connected": True},
          "sysctls": {}, "evidence": [{"kind": "pcap", "path": "host.pcap", "namespace": "host"}],
          "skipped": None}

if "TCPREPRO_EVIDENCE_ROOT" in os.environ:  # several tests in one process, as run_batch runs them
    if mode == "batch-crash":
        os.kill(os.getpid(), signal.SIGSEGV)
    root = pathlib.Path(os.environ["TCPREPRO_EVIDENCE_ROOT"])
    for index, full in enumerate(args["--gtest_filter"].split(":")):
        if mode == "batch-hang" and index == 1:
            print(f"[ RUN      ] {full}", flush=True)
            time.sleep(60)
        evidence = root / full.replace("/", "_")
        evidence.mkdir(parents=True, exist_ok=True)
        (evidence / "observations.json").write_text(json.dumps(record))
        print(f"[ RUN      ] {full}\nstory of {full}\n[       OK ] {full} (250 ms)", flush=True)
    print("[  PASSED  ] all tests.")
    sys.exit(0)

evidence = pathlib.Path(os.environ["TCPREPRO_EVIDENCE_DIR"])
if mode.startswith("batch-"):  # run alone after the batch crashed or hung
    mode = "pass"


def gtest(result, failures=()):
    report.write_text(json.dumps({"testsuites": [{"testsuite": [
        {"name": "X_Test", "result": result, "failures": [{"failure": f} for f in failures]}]}]}))


if mode == "pass":
    (evidence / "host.pcap").write_bytes(b"")
    (evidence / "observations.json").write_text(json.dumps(record))
    gtest("COMPLETED")
elif mode == "skip":
    (evidence / "observations.json").write_text(json.dumps({**record, "observations": {},
                                                             "skipped": "skipped: sysctl x does not exist"}))
    gtest("SKIPPED")
elif mode == "fail":
    gtest("COMPLETED", ["lab.cc:12\ncaptured SYNs to port 40008"])
    sys.exit(1)
elif mode == "silent":
    gtest("COMPLETED")
elif mode == "crash":
    os.kill(os.getpid(), signal.SIGSEGV)
elif mode == "hang":
    time.sleep(60)
