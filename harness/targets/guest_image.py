"""The guest's initramfs: busybox-static, the modules that reach the host's root over 9p, and an init.

The guest runs the host's own build: init mounts the host's root read-only
over virtio-9p, mounts the run's output folder writable at the same path it
has on the host, gives the chroot its own /tmp, /run, /proc, /sys and /dev,
then runs the job script inside the chroot. Module auto-loading (iptables,
tc, veth...) works through a modprobe wrapper that runs the host's kmod on
the kernel's own unpacked module tree.

Console markers (read by harness/targets/qemu.py):
    tcprepro-guest: up <uname -r>
    tcprepro-guest: done <exit status of the job>
    tcprepro-guest: failed <what>
"""
from __future__ import annotations

import hashlib
import lzma
import pathlib
import shutil
import subprocess
import tempfile

from harness.kernels import kernel_store

BUSYBOX = pathlib.Path("/bin/busybox")
# Enough to mount the host's root: the virtio PCI transport and 9p over it.
BOOT_MODULES = ("virtio_pci", "9pnet_virtio", "9p")
MARK = "tcprepro-guest:"

INIT = r"""#!/bin/sh
export PATH=/bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
say() { echo "MARK $*" >/dev/console; }
fail() { say "failed $*"; poweroff -f; }
say "up $(uname -r)"
while read -r module; do
  insmod "/modules/$module" || fail "insmod $module"
done </modules/order
[ -n "$tcprepro_job" ] || { say "done 0"; poweroff -f; }
mkdir -p /hostroot
mount -t 9p -o trans=virtio,version=9p2000.L,msize=524288,ro,cache=loose hostroot /hostroot || fail "mounting the host root (9p)"
# Host folders the job needs (the checkout, the build, the kernel's modules)
# that lie under /tmp, /run or /var/tmp are set aside before the guest's own
# tmpfs mounts hide them, and put back on top.
n=0
for path in $(echo "$tcprepro_keep" | tr ':' ' '); do
  n=$((n + 1)); mkdir -p "/keep/$n"
  mount --bind "/hostroot$path" "/keep/$n" || fail "keeping $path"
done
for dir in tmp run var/tmp; do mount -t tmpfs tmpfs "/hostroot/$dir" || fail "tmpfs on /$dir"; done
n=0
for path in $(echo "$tcprepro_keep" | tr ':' ' '); do
  n=$((n + 1)); mkdir -p "/hostroot$path"
  mount --move "/keep/$n" "/hostroot$path" || fail "restoring $path"
done
# After the tmpfs mounts, so that an output folder under /tmp is not hidden by them.
mkdir -p "/hostroot$tcprepro_out" 2>/dev/null
mount -t 9p -o trans=virtio,version=9p2000.L,msize=524288 out "/hostroot$tcprepro_out" || fail "mounting the output folder $tcprepro_out (9p)"
mount -t proc proc /hostroot/proc
mount -t sysfs sys /hostroot/sys
mount -t devtmpfs dev /hostroot/dev
# The same path works from the initramfs (the kernel's auto-loading) and
# inside the chroot (iptables reads kernel.modprobe; jobs call modprobe).
mkdir -p /hostroot/run/tcprepro/bin
printf '#!/bin/sh\nexec /sbin/modprobe -d "%s" "$@"\n' "$(cat /modules/root)" >/hostroot/run/tcprepro/modprobe
chmod 755 /hostroot/run/tcprepro/modprobe
ln -s ../modprobe /hostroot/run/tcprepro/bin/modprobe
echo /run/tcprepro/modprobe >/proc/sys/kernel/modprobe
ip link set lo up
chroot /hostroot /bin/sh -c 'cd "$1" && exec /bin/sh "$2"' job "$tcprepro_cwd" "$tcprepro_job" \
  >"/hostroot$tcprepro_out/guest-job.log" 2>&1
status=$?
sync
say "done $status"
poweroff -f
""".replace("MARK", MARK)

# The kernel calls kernel.modprobe to auto-load a module, in the initramfs
# root; this enters the host root to run kmod, which reads the compressed
# modules of every Debian suite, on the kernel's own unpacked module tree.
MODPROBE = """#!/bin/sh
exec /bin/chroot /hostroot /run/tcprepro/modprobe "$@"
"""


class ImageError(RuntimeError):
    """The initramfs cannot be built (busybox missing, a boot module missing)."""


def _boot_module_files(image: kernel_store.KernelImage) -> list[pathlib.Path]:
    """The boot modules and their dependencies, in load order; built-in ones need nothing.

    A kernel without a module tree has them built in, or cannot reach the host's
    root: the guest's init then says "failed mounting the host root (9p)".
    """
    files = []
    if not image.has_modules:
        return files
    for module in BOOT_MODULES:  # one per call: further arguments would be module parameters
        shown = subprocess.run(["modprobe", "--show-depends", "-d", str(image.module_root), "-S", image.release,
                                module], capture_output=True, text=True)
        if shown.returncode != 0:
            raise ImageError(f"kernel {image.release} lacks {module}, needed to reach the host root: "
                             f"{shown.stderr.strip()}")
        for line in shown.stdout.splitlines():
            if line.startswith("insmod "):
                path = pathlib.Path(line.split()[1])
                if path not in files:
                    files.append(path)
    return files


def _plain_module(source: pathlib.Path, target_dir: pathlib.Path) -> str:
    """Writes `source` uncompressed into target_dir (busybox insmod takes plain .ko); returns its name."""
    name = source.name.split(".ko")[0] + ".ko"
    data = source.read_bytes()
    if source.suffix == ".xz":
        data = lzma.decompress(data)
    elif source.suffix == ".zst":
        data = subprocess.run(["zstd", "-dc", str(source)], capture_output=True, check=True).stdout
    (target_dir / name).write_bytes(data)
    return name


def initramfs(image: kernel_store.KernelImage) -> pathlib.Path:
    """The initramfs for `image`, built once and cached by its content."""
    if not BUSYBOX.is_file():
        raise ImageError(f"{BUSYBOX} is missing: install busybox-static (ci/setup.sh does)")
    modules = _boot_module_files(image)
    key = hashlib.sha256("\n".join([INIT, MODPROBE, str(image.module_root), image.release, *map(str, modules),
                                    str(BUSYBOX.stat().st_mtime)]).encode()).hexdigest()[:16]
    cached = kernel_store.CACHE / "initramfs" / f"{image.release}-{key}.cpio.gz"
    if cached.exists():
        return cached
    cached.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        root = pathlib.Path(tmp)
        for folder in ("bin", "proc", "sys", "dev", "modules", "hostroot"):
            (root / folder).mkdir()
        shutil.copy2(BUSYBOX, root / "bin" / "busybox")
        for applet in subprocess.run([str(BUSYBOX), "--list"], capture_output=True, text=True).stdout.split():
            if applet != "busybox":
                (root / "bin" / applet).symlink_to("busybox")
        names = [_plain_module(m, root / "modules") for m in modules]
        (root / "modules" / "order").write_text("".join(n + "\n" for n in names))
        (root / "modules" / "root").write_text(str(image.module_root))
        (root / "run" / "tcprepro").mkdir(parents=True)
        for path, text in ((root / "init", INIT), (root / "run" / "tcprepro" / "modprobe", MODPROBE)):
            path.write_text(text)
            path.chmod(0o755)
        # A name of its own: two runs building the same initramfs at once each rename a whole file.
        with tempfile.NamedTemporaryFile("wb", dir=cached.parent, prefix=cached.name + ".", delete=False) as out:
            partial = pathlib.Path(out.name)
            listing = subprocess.run(["find", ".", "-print0"], cwd=root, capture_output=True, check=True).stdout
            cpio = subprocess.run(["cpio", "--null", "-o", "-H", "newc", "--quiet"], cwd=root, input=listing,
                                  capture_output=True, check=True).stdout
            out.write(subprocess.run(["gzip", "-1"], input=cpio, capture_output=True, check=True).stdout)
        partial.rename(cached)
    return cached
