"""`./tcprepro doctor`: what this machine can do, and what provides what is missing.

Every kernel capability is probed in a throwaway namespace (`unshare -n`), so
the host's own namespace is never touched.
"""
from __future__ import annotations

import dataclasses
import importlib.util
import os
import pathlib
import platform
import shutil
import subprocess


@dataclasses.dataclass
class Check:
    name: str
    ok: bool
    detail: str
    fix: str = ""           # what provides it, when missing
    required: bool = True   # needed for `./tcprepro run` on this kernel


def _in_throwaway_netns(script: str) -> subprocess.CompletedProcess:
    return subprocess.run(["unshare", "--net", "sh", "-ec", script], capture_output=True, text=True, timeout=20)


def _probe(name: str, script: str, detail_ok: str, fix: str, required: bool = True) -> Check:
    if shutil.which("unshare") is None:
        return Check(name, False, "unshare not found", "package util-linux", required)
    result = _in_throwaway_netns(script)
    if result.returncode == 0:
        return Check(name, True, detail_ok, required=required)
    lines = (result.stderr or result.stdout).strip().splitlines()
    errors = [line for line in lines if "rror" in line] or lines  # nft adds caret lines after the error
    return Check(name, False, errors[0] if errors else f"exit {result.returncode}", fix, required)


def _command(name: str, binary: str, package: str, required: bool = True) -> Check:
    path = shutil.which(binary)
    return Check(name, path is not None, path or f"{binary} not found", f"package {package}", required)


def _python_module(module: str, package: str) -> Check:
    found = importlib.util.find_spec(module) is not None
    return Check(f"python {module}", found, "importable" if found else "not importable by this interpreter",
                 f"package {package} (for /usr/bin/python3)")


def _kvm_check() -> Check:
    from harness.kernels import kernel_store
    kvm = pathlib.Path("/dev/kvm")
    if not (kvm.exists() and os.access(kvm, os.R_OK | os.W_OK)):
        return Check("KVM", False, "/dev/kvm absent: QEMU targets use TCG", "a host with KVM; TCG works without it",
                     required=False)
    try:
        known = kernel_store.read_json(kernel_store.CACHE / "accel-probe.json", {})
    except kernel_store.CacheError as error:
        return Check("KVM", False, str(error), "remove the file; the next QEMU run probes again", required=False)
    mine = [v for k, v in known.items() if k.startswith(platform.release() + " |")]
    if not mine:
        return Check("KVM", True, "/dev/kvm present; the first QEMU run probes whether stock kernels boot under it",
                     required=False)
    return Check("KVM", mine[0]["accelerator"] == "kvm", mine[0]["why"],
                 "nothing to do: QEMU targets use TCG (slower; the report flags timings)", required=False)


def _cached_kernels() -> Check:
    from harness.kernels import kernel_store
    try:
        found = sorted(kernel_store.read_json(p)["release"] for p in (kernel_store.CACHE / "kernels").glob("*/kernel.json"))
    except (kernel_store.CacheError, KeyError) as error:
        return Check("cached kernels", False, f"{error}", "remove that kernel's folder; the next run fetches it again",
                     required=False)
    return Check("cached kernels", bool(found), ", ".join(found) or f"none in {kernel_store.CACHE}/kernels",
                 "fetched on first use by ./tcprepro run --kernel debian:<suite>", required=False)


def checks(build_dir: pathlib.Path) -> list[Check]:
    is_root = os.geteuid() == 0
    out = [Check("root", is_root, f"uid {os.geteuid()}", "run as root (namespaces need CAP_SYS_ADMIN)")]
    out.append(_command("iproute2 (ip, tc)", "ip", "iproute2"))
    out.append(_probe("network namespaces", "ip link set lo up", "unshare(CLONE_NEWNET) works",
                      "a kernel with CONFIG_NET_NS, and root"))
    out.append(_probe("veth", "ip link add tcprepro0 type veth peer name tcprepro1", "veth pairs can be made",
                      "kernel CONFIG_VETH"))
    out.append(_probe("impairment: netem", "tc qdisc add dev lo root netem delay 1ms",
                      "sch_netem available: the netem backend can run",
                      "kernel module sch_netem (CONFIG_NET_SCH_NETEM); without it the nfqueue backend runs",
                      required=False))
    out.append(_probe("impairment: NFQUEUE (iptables)",
                      "iptables -A OUTPUT -p tcp --dport 9 -j NFQUEUE --queue-num 7",
                      "iptables NFQUEUE target available: the nfqueue backend can run",
                      "package iptables; kernel CONFIG_NETFILTER_XT_TARGET_NFQUEUE", required=False))
    out.append(_probe("impairment: nft queue",
                      "nft add table inet tcprepro; "
                      "nft add chain inet tcprepro out '{ type filter hook output priority 0; }'; "
                      "nft add rule inet tcprepro out tcp dport 9 queue num 7",
                      "nft queue statement available",
                      "package nftables; kernel CONFIG_NFT_QUEUE", required=False))
    out.append(_command("QEMU", "qemu-system-x86_64", "qemu-system-x86", required=False))
    out.append(_command("busybox-static (guest initramfs)", "busybox", "busybox-static", required=False))
    out.append(_command("cpio (guest initramfs)", "cpio", "cpio", required=False))
    out.append(_kvm_check())
    out.append(_cached_kernels())
    out.append(_command("cmake", "cmake", "cmake"))
    out.append(_python_module("pytest", "python3-pytest"))
    out.append(_python_module("jinja2", "python3-jinja2"))
    out.append(_python_module("jsonschema", "python3-jsonschema"))
    built = build_dir / "cases" / "self_connect_stories"
    out.append(Check("case programs built", built.is_file(), str(built) if built.is_file() else f"{built} missing",
                     "run ci/setup.sh"))
    return out


def report(build_dir: pathlib.Path) -> int:
    """Prints the checks; returns 0 if everything `run` needs is present."""
    results = checks(build_dir)
    width = max(len(c.name) for c in results)
    for c in results:
        mark = "ok     " if c.ok else ("MISSING" if c.required else "absent ")
        line = f"{mark} {c.name:<{width}}  {c.detail}"
        if not c.ok and c.fix:
            line += f"\n        {'':<{width}}  -> {c.fix}"
        print(line)
    missing = [c.name for c in results if c.required and not c.ok]
    if missing:
        print(f"\nnot ready: {', '.join(missing)}. Run ci/setup.sh as root to install and build.")
        return 1
    print("\nready: ./tcprepro run works on this kernel.")
    return 0
