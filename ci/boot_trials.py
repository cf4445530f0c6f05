#!/usr/bin/python3
"""Boot reliability and cost: boots a kernel N times with the initramfs's bare init
(it says "up", then powers off), and counts what went wrong.

  ci/boot_trials.py --kernel debian:sid --boots 20 [--cpus 1] [--tcg-thread single|multi] [--parallel 1]

Prints the machine header (ci/machine.py), one line per boot, and a summary:
boots, failures by kind (QEMU ended before "up", no "up" within the boot
timeout, an oops or a panic in a console that did come up), boot seconds and
QEMU CPU seconds (min / median / max). Run as root; kernels come from the cache.
"""
from __future__ import annotations

import argparse
import concurrent.futures
import pathlib
import re
import statistics
import sys
import tempfile

REPO = pathlib.Path(__file__).resolve().parent.parent
sys.path.insert(0, str(REPO))

from harness.kernels import kernel_store
from harness.targets import qemu  # noqa: E402
import machine  # noqa: E402  (ci/machine.py)

TROUBLE = re.compile(r"Oops|BUG:|Kernel panic|general protection|int3|WARNING: CPU")


def one_boot(image, cpus: int, thread: str | None, folder: pathlib.Path, number: int) -> dict:
    console = folder / f"console-{number}.log"
    try:
        run = qemu.boot(image, "tcg", cpus=cpus, boot_timeout=qemu.TCG_BOOT_TIMEOUT,
                        timeout=qemu.TCG_BOOT_TIMEOUT + 30, console=console, tcg_thread=thread)
        kind, boot_seconds, cpu = "ok", run.boot_seconds, run.cpu_seconds
    except qemu.BootTimeout:
        kind, boot_seconds, cpu = "boot timeout", None, None
    except qemu.BootFailed:
        kind, boot_seconds, cpu = "ended before up", None, None
    except qemu.GuestError:
        kind, boot_seconds, cpu = "died after up", None, None
    trouble = [line.strip() for line in console.read_text(errors="replace").splitlines() if TROUBLE.search(line)]
    if kind == "ok" and trouble:
        kind = "ok with kernel trouble"
    return {"number": number, "kind": kind, "boot_seconds": boot_seconds, "cpu_seconds": cpu,
            "trouble": trouble[:3], "console": str(console)}


def spread(values: list[float]) -> str:
    return (f"{min(values):.1f} / {statistics.median(values):.1f} / {max(values):.1f}" if values else "-")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kernel", required=True, metavar="SPEC")
    parser.add_argument("--boots", type=int, default=10)
    parser.add_argument("--cpus", type=int, default=1, help="-smp")
    parser.add_argument("--tcg-thread", choices=("single", "multi"), default=None,
                        help="QEMU's TCG threading (default: QEMU's, multi with several vCPUs)")
    parser.add_argument("--parallel", type=int, default=1, help="boots at once")
    parser.add_argument("--keep", type=pathlib.Path, help="keep the console logs here")
    args = parser.parse_args()
    image = kernel_store.prepare(kernel_store.parse(args.kernel))
    print(f"# {machine.describe()}")
    print(f"# ci/boot_trials.py --kernel {args.kernel} --boots {args.boots} --cpus {args.cpus} "
          f"--tcg-thread {args.tcg_thread or 'default'} --parallel {args.parallel}: {image.release}", flush=True)
    folder = args.keep or pathlib.Path(tempfile.mkdtemp(prefix="tcprepro-boots-"))
    folder.mkdir(parents=True, exist_ok=True)
    with concurrent.futures.ThreadPoolExecutor(max_workers=args.parallel) as pool:
        futures = [pool.submit(one_boot, image, args.cpus, args.tcg_thread, folder, n) for n in range(1, args.boots + 1)]
        boots = []
        for future in concurrent.futures.as_completed(futures):
            boot = future.result()
            boots.append(boot)
            print(f"boot {boot['number']:3d} {boot['kind']:<22} boot {boot['boot_seconds'] or '-'} s "
                  f"CPU {boot['cpu_seconds'] or '-'} s {' | '.join(boot['trouble'])}", flush=True)
    kinds: dict[str, int] = {}
    for boot in boots:
        kinds[boot["kind"]] = kinds.get(boot["kind"], 0) + 1
    good = [b for b in boots if b["kind"] == "ok"]
    print(f"{args.kernel} -smp {args.cpus} thread={args.tcg_thread or 'default'}: {len(boots)} boots, "
          + ", ".join(f"{n} {kind}" for kind, n in sorted(kinds.items()))
          + f"; boot s min/median/max {spread([b['boot_seconds'] for b in good])}"
          + f"; QEMU CPU s {spread([b['cpu_seconds'] for b in good if b['cpu_seconds'] is not None])}"
          + f"; logs in {folder}")
    return 0 if len(good) == len(boots) else 1


if __name__ == "__main__":
    sys.exit(main())
