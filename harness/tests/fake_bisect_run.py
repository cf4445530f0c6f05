#!/usr/bin/python3
"""A stand-in for `./tcprepro run` in the bisect tests (TCPREPRO_BISECT_RUN): takes the same
options and writes the same results.json, with an observation read from the kernel instead of
a booted guest:
    local:<bzImage> of the fake kernel  port_offset = the N of `port_offset(void) { return N; }`
    debian:<suite>=<version>            port_offset = 2 from FAKE_FLIP's upstream version on, else 1
and an unjudged `elapsed_ms` that differs in every draw. FAKE_WEAK names a kernel whose draws
alternate with GOOD's value; FAKE_HANG names one whose run waits to be killed (after writing FAKE_HANG's marker,
the file FAKE_STARTED); FAKE_CALLS is a file where every run appends its kernel's name.
"""
import argparse
import json
import os
import pathlib
import re
import signal
import sys

parser = argparse.ArgumentParser()
parser.add_argument("--kernel")
parser.add_argument("-k")
parser.add_argument("--repeat", type=int)
parser.add_argument("--out", type=pathlib.Path)
parser.add_argument("--accel")
parser.add_argument("--guest-timeout")
args = parser.parse_args()
name, spec = args.kernel.split("=", 1)
with open(os.environ["FAKE_CALLS"], "a") as calls:
    calls.write(name + "\n")
if os.environ.get("FAKE_HANG") and os.environ["FAKE_HANG"] in name:
    pathlib.Path(os.environ["FAKE_STARTED"]).write_text(name)
    signal.pause()
if os.environ.get("FAKE_CANNOT_RUN"):
    print("tcprepro: cannot run here: no CAP_SYS_ADMIN")
    sys.exit(5)
if spec.startswith("local:"):
    image = pathlib.Path(spec[len("local:"):]).read_bytes()
    value = int(re.search(rb"port_offset\(void\) \{ return (\d+);", image).group(1))
else:
    version = spec.split("=", 1)[1]
    upstream = tuple(int(p) for p in re.match(r"(\d+)\.(\d+)\.(\d+)", version).groups())
    flip = tuple(int(p) for p in os.environ["FAKE_FLIP"].split("."))
    value = 2 if upstream >= flip else 1
weak = os.environ.get("FAKE_WEAK") and os.environ["FAKE_WEAK"] in name
values = [1 if weak and i % 2 else value for i in range(args.repeat)]  # weak: GOOD's value every other draw
observations = {"port_offset": values[0], "elapsed_ms": 100}
repeats = {"runs": args.repeat, "stable": len(set(values)) == 1, "outcomes": ["passed"] * args.repeat,
           "verdicts": ["as_expected"] * args.repeat,
           "observations": {"port_offset": ({"stable": True, "value": values[0]} if len(set(values)) == 1
                                            else {"stable": False, "values": values}),
                            "elapsed_ms": {"stable": False, "values": [100 + i for i in range(args.repeat)]}}}
entry = {"id": args.k, "scenario": args.k.split("/")[0], "outcome": "passed", "observations": observations,
         "evidence": [], "expectation": {"verdict": "as_expected", "mismatches": [],
                                         "applied": [{"kernels": ">=1", "source": "x", "observations": ["port_offset"]}]},
         "repeats": repeats}
folder = args.out / name
folder.mkdir(parents=True)
(folder / "results.json").write_text(json.dumps({"schema": "tcprepro-results/2", "run": {"id": "fake"},
                                                 "target": {"name": name}, "results": [entry]}))
print(f"{name}: port_offset {values}")
