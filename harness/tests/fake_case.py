#!/usr/bin/python3
"""Stands in for a GoogleTest case program; FAKE_MODE says how it behaves.

It prints what gtest prints ([ RUN ] ... [ OK ] name (n ms)) and writes its
observations where the harness tells it: TCPREPRO_EVIDENCE_DIR for one test,
the JSON map in TCPREPRO_EVIDENCE_DIRS for a batch.
"""
import json
import os
import pathlib
import signal
import sys
import time

args = dict(a.split("=", 1) for a in sys.argv[1:] if "=" in a)
if "--gtest_list_tests" in sys.argv:
    print(os.environ.get("FAKE_LISTING") or
          "Running main() from fake\nS9/Fake.\n  S9x/ipv4_loopback  # GetParam() = 0\n  S9x/ipv6_veth")
    sys.exit(0)

mode = os.environ["FAKE_MODE"]
record = {"scenario": "S9x", "variant": {"family": "ipv4"}, "observations": {"connected": True},
          "sysctls": {}, "evidence": [{"kind": "pcap", "path": "host.pcap", "namespace": "host"}],
          "skipped": None}


ENDS = {"OK": "[       OK ]", "FAILED": "[  FAILED  ]", "SKIPPED": "[  SKIPPED ]"}  # as gtest prints them


def story(name, verdict="OK", body="story of {name}\n"):
    print(f"[ RUN      ] {name}\n" + body.format(name=name) + f"{ENDS[verdict]} {name} (250 ms)", flush=True)


if "TCPREPRO_EVIDENCE_DIRS" in os.environ:  # several tests in one process, as run_batch runs them
    if mode == "batch-crash":
        os.kill(os.getpid(), signal.SIGSEGV)
    dirs = json.loads(pathlib.Path(os.environ["TCPREPRO_EVIDENCE_DIRS"]).read_text())
    for index, full in enumerate(args["--gtest_filter"].split(":")):
        if mode == "batch-hang" and index == 1:
            print(f"[ RUN      ] {full}", flush=True)
            time.sleep(60)
        (pathlib.Path(dirs[full]) / "observations.json").write_text(json.dumps(record))
        story(full)
    print("[  PASSED  ] all tests.")
    sys.exit(0)

evidence = pathlib.Path(os.environ["TCPREPRO_EVIDENCE_DIR"])
name = args["--gtest_filter"]
print("Running main() from fake (one test)", flush=True)
if mode.startswith("batch-"):  # run alone after the batch crashed or hung
    mode = "pass"

if mode == "pass":
    (evidence / "host.pcap").write_bytes(b"")
    (evidence / "observations.json").write_text(json.dumps(record))
    story(name)
elif mode == "skip":
    (evidence / "observations.json").write_text(json.dumps({**record, "observations": {},
                                                             "skipped": "skipped: sysctl x does not exist"}))
    story(name, "SKIPPED")
elif mode == "fail":
    story(name, "FAILED", "lab.cc:12: Failure\ncaptured SYNs to port 40008\n")
    sys.exit(1)
elif mode == "silent":
    story(name)
elif mode == "crash":
    print(f"[ RUN      ] {name}", flush=True)
    os.kill(os.getpid(), signal.SIGSEGV)
elif mode == "hang":
    time.sleep(60)
