"""Kernels for QEMU targets: parsing a --kernel spec, fetching, unpacking, caching.

Specs (any of them may carry a label, NAME=SPEC, which names its results folder
and its report column):
    debian:SUITE            the newest amd64 kernel of the suite, its -updates and its
                            -security archives (bullseye, bookworm, trixie, forky, sid, ...)
    debian:SUITE-backports  the newest kernel in the suite's backports archive
    debian:SUITE/FLAVOUR    another flavour of that kernel: cloud or rt (amd64 by default)
    debian:SUITE=VERSION    an exact Debian package version, e.g. debian:bookworm=6.1.170-3
    local:VMLINUZ[:MODULES] a kernel someone built: its image, and its lib/modules/<release>
                            folder unless everything the guest needs is built in

Debian packages come from `apt-get download` with a private apt configuration
per suite (its own sources.list, lists and cache under the cache folder): the
host's apt sources are never touched, because adding trixie or sid there would
upgrade libc on the next `apt-get install`. An unpacked kernel is kept, so a
second run downloads nothing; the suite's package index is refreshed at most
once a day, and a cached kernel is used when the mirror is unreachable.

Two runs at once share the cache safely: each suite's apt folder and each
kernel's unpacking are done under a file lock, and every file a reader may
see (pins.json, kernel.json) is written whole, by rename.
"""
from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import json
import os
import pathlib
import re
import shutil
import struct
import subprocess
import tempfile

CACHE = pathlib.Path(os.environ.get("TCPREPRO_CACHE", "/var/cache/tcprepro"))
MIRROR = os.environ.get("TCPREPRO_DEBIAN_MIRROR", "http://deb.debian.org/debian")
SECURITY_MIRROR = os.environ.get("TCPREPRO_DEBIAN_SECURITY_MIRROR", "http://deb.debian.org/debian-security")
# Suites with -updates and -security archives; testing and unstable have neither.
STABLE_SUITES = ("bullseye", "bookworm", "trixie")
SUITES = (*STABLE_SUITES, "forky", "sid", *(f"{s}-backports" for s in STABLE_SUITES))
FLAVOURS = ("amd64", "cloud", "rt")
INDEX_MAX_AGE_SECONDS = 24 * 3600
LABEL = re.compile(r"[A-Za-z][A-Za-z0-9_.+-]{0,39}")


class KernelSpecError(ValueError):
    """A --kernel spec that does not parse, or names a kernel that cannot be had."""


@dataclasses.dataclass(frozen=True)
class KernelSpec:
    text: str  # the spec as written, without its label
    kind: str  # "host" | "debian" | "local"
    suite: str | None = None
    version: str | None = None  # exact Debian package version
    flavour: str = "amd64"
    image: pathlib.Path | None = None  # local kernels
    modules: pathlib.Path | None = None  # None: everything is built in
    label: str | None = None

    @property
    def name(self) -> str:
        """The target's name in results and reports: the label, else the spec."""
        return self.label or self.text

    @property
    def slug(self) -> str:
        """A folder name for this target's results: "debian-bookworm", "host", the label."""
        if self.label:
            return self.label
        if self.kind == "local":  # a path says nothing and changes with the build folder
            return "local-" + self.image.parent.name
        return re.sub(r"[^A-Za-z0-9.+_-]+", "-", self.text).strip("-")


@dataclasses.dataclass(frozen=True)
class KernelImage:
    """An unpacked kernel ready to boot: image, module tree (depmod done), provenance."""
    spec: str
    release: str  # the modules folder name, which is the guest's `uname -r`
    vmlinuz: pathlib.Path
    module_root: pathlib.Path  # `modprobe -d` root: holds lib/modules/<release>
    packages: tuple[str, ...]  # Debian "name=version"; a built kernel's source and patches; else empty

    @property
    def modules_dir(self) -> pathlib.Path:
        return self.module_root / "lib" / "modules" / self.release

    @property
    def has_modules(self) -> bool:
        """False for a kernel built with everything in it: its module tree is empty."""
        return any(self.modules_dir.glob("modules.builtin")) or (self.modules_dir / "kernel").exists()

    def to_json(self) -> dict:
        return {"spec": self.spec, "release": self.release, "vmlinuz": str(self.vmlinuz),
                "module_root": str(self.module_root), "packages": list(self.packages)}

    @classmethod
    def from_json(cls, data: dict) -> "KernelImage":
        return cls(data["spec"], data["release"], pathlib.Path(data["vmlinuz"]),
                   pathlib.Path(data["module_root"]), tuple(data["packages"]))


def parse(text: str) -> KernelSpec:
    """Checks a spec's grammar (no network); raises KernelSpecError with what to write instead."""
    label, sep, rest = text.partition("=")
    if sep and ":" not in label and label != "host":
        if not LABEL.fullmatch(label) or not rest:
            raise KernelSpecError(f"--kernel {text}: a label is a letter then up to 39 letters, digits or "
                                  "._+-, followed by =SPEC, e.g. --kernel patched=local:bzImage")
        return dataclasses.replace(_parse_unlabelled(rest), label=label)
    return _parse_unlabelled(text)


def _parse_unlabelled(text: str) -> KernelSpec:
    if text == "host":
        return KernelSpec(text, "host")
    if text.startswith("debian:"):
        suite, pinned, version = text[len("debian:"):].partition("=")
        suite, _, flavour = suite.partition("/")
        if suite not in SUITES:
            raise KernelSpecError(f"--kernel {text}: unknown Debian suite {suite!r}; "
                                  f"known: {', '.join(SUITES)}")
        if pinned and not re.fullmatch(r"[0-9][A-Za-z0-9.+~-]*", version):
            raise KernelSpecError(f"--kernel {text}: {version!r} is not a Debian package version "
                                  "(e.g. debian:bookworm=6.1.170-3)")
        if flavour and flavour not in FLAVOURS:
            raise KernelSpecError(f"--kernel {text}: unknown flavour {flavour!r}; known: {', '.join(FLAVOURS)} "
                                  "(e.g. debian:bookworm/cloud)")
        return KernelSpec(text, "debian", suite=suite, version=version or None, flavour=flavour or "amd64")
    if text.startswith("local:"):
        parts = text[len("local:"):].split(":")
        if len(parts) not in (1, 2) or not all(parts):
            raise KernelSpecError(f"--kernel {text}: write local:<vmlinuz> or local:<vmlinuz>:<modules folder>, "
                                  "e.g. local:arch/x86/boot/bzImage:/tmp/mods/lib/modules/6.19.0")
        image = pathlib.Path(parts[0]).resolve()
        modules = pathlib.Path(parts[1]).resolve() if len(parts) == 2 else None
        if not image.is_file():
            raise KernelSpecError(f"--kernel {text}: kernel image {image} does not exist")
        if modules is not None and not (modules / "modules.order").is_file() and not (modules / "kernel").is_dir():
            raise KernelSpecError(f"--kernel {text}: {modules} is not a lib/modules/<release> folder "
                                  "(no modules.order, no kernel/); use `make modules_install INSTALL_MOD_PATH=...`, "
                                  "or leave it out for a kernel with everything built in")
        return KernelSpec(text, "local", image=image, modules=modules)
    raise KernelSpecError(f"--kernel {text}: unknown kernel spec; use host, debian:<suite>[/<flavour>], "
                          "debian:<suite>=<package version> or local:<vmlinuz>[:<modules folder>], "
                          "optionally as NAME=<spec>")


def prepare(spec: KernelSpec, log=print) -> KernelImage:
    """The kernel `spec` names, fetched and unpacked if it is not cached yet."""
    if spec.kind == "local":
        return _prepare_local(spec)
    if spec.kind == "debian":
        from harness.kernels import debian
        return debian.DebianSuite(spec.suite, log).prepare(spec)
    raise KernelSpecError(f"--kernel {spec.text}: the host kernel is not booted in QEMU")


class CacheError(RuntimeError):
    """A cache file that cannot be read: said in one line, with what to remove."""


@contextlib.contextmanager
def locked(name: str):
    """Holds CACHE/locks/<name>.lock exclusively: one process at a time works on that part of the cache."""
    path = CACHE / "locks" / f"{re.sub(r'[^A-Za-z0-9.+_-]', '_', name)}.lock"
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        yield


def read_json(path: pathlib.Path, default=None):
    """A cache file's JSON; `default` when it does not exist; CacheError when it is not JSON."""
    try:
        return json.loads(path.read_text())
    except FileNotFoundError:
        return default
    except (ValueError, UnicodeDecodeError) as error:
        raise CacheError(f"cache file {path} is corrupt ({error}); remove it and run again") from None


def write_json(path: pathlib.Path, data) -> None:
    """Writes `data` whole: a reader sees the old file or the new one, never half of it."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.NamedTemporaryFile("w", dir=path.parent, prefix=path.name + ".", delete=False) as tmp:
        json.dump(data, tmp, indent=1)
    os.replace(tmp.name, path)


def image_release(vmlinuz: pathlib.Path) -> str | None:
    """The release (`uname -r`) a bzImage carries in its setup header, None if it is not a bzImage."""
    with vmlinuz.open("rb") as handle:
        header = handle.read(0x210)
        if len(header) < 0x210 or header[0x202:0x206] != b"HdrS":
            return None
        (pointer,) = struct.unpack_from("<H", header, 0x20E)
        handle.seek(pointer + 0x200)
        text = handle.read(256).split(b"\0")[0].decode(errors="replace")
    return text.split()[0] if text.strip() else None


# What depmod writes (in the private root); the build's own modules.order and
# modules.builtin are kept, since they say which modules are built in.
_DEPMOD_OUTPUTS = ("modules.dep", "modules.alias", "modules.symbols", "modules.softdep", "modules.devname",
                   "modules.weakdep")


def _prepare_local(spec: KernelSpec) -> KernelImage:
    # modprobe -d wants <root>/lib/modules/<release>; a private root of symlinks
    # keeps the builder's folder untouched, and depmod writes only there. A kernel
    # with everything built in gets an empty module tree.
    release = spec.modules.name if spec.modules else image_release(spec.image)
    if release is None:
        raise KernelSpecError(f"--kernel {spec.text}: {spec.image} is not a bzImage (no release in its header); "
                              "give its modules folder too: local:<vmlinuz>:<modules folder>")
    source = spec.modules or spec.image
    root = CACHE / "local" / re.sub(r"[^A-Za-z0-9.+_-]", "_", str(source))
    entries = sorted(e for e in (spec.modules.iterdir() if spec.modules else ())
                     if e.name not in _DEPMOD_OUTPUTS and not e.name.endswith(".bin"))
    listing = "".join(f"{e}\t{e.stat().st_mtime_ns}\n" for e in entries)
    with locked(f"local-{root.name}"):
        modules_dir = root / "lib" / "modules" / release
        stamp = root / "prepared-from"
        # Rebuilt only when the builder's folder changed: a run already booted from it keeps its tree.
        if not modules_dir.is_dir() or not stamp.exists() or stamp.read_text() != listing:
            stamp.unlink(missing_ok=True)
            if modules_dir.is_dir():
                shutil.rmtree(modules_dir)
            modules_dir.mkdir(parents=True)
            for entry in entries:
                (modules_dir / entry.name).symlink_to(entry)
            _depmod(root, release)
            stamp.write_text(listing)
    # A kernel `./tcprepro kernel build` made says what it was made from (the report shows it).
    built = read_json(spec.image.parent / "build.json", {})
    provenance = (built["source"], *built["patches"]) if "source" in built else ()
    return KernelImage(spec.name, release, spec.image, root, provenance)


def _depmod(root: pathlib.Path, release: str) -> None:
    # Debian runs depmod in postinst; an unpacked package has no modules.dep yet.
    subprocess.run(["depmod", "-b", str(root), release], check=True, capture_output=True)
