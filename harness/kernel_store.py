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
import time

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
        return DebianSuite(spec.suite, log).prepare(spec)
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


def _flavour_suffix(flavour: str) -> str:
    """The package name suffix of a flavour: "amd64", "cloud-amd64", "rt-amd64"."""
    return "amd64" if flavour == "amd64" else f"{flavour}-amd64"


class DebianSuite:
    """One suite's package index and downloads, in a private apt configuration.

    A stable suite's configuration lists the suite, its -updates and its -security
    archives, as a Debian system's sources do, so that its newest kernel is the one
    its users run; a backports suite lists only itself.
    """

    def __init__(self, suite: str, log=print):
        self.suite, self.log = suite, log
        # Named after the archives it lists: a folder never changes what it holds.
        self.root = CACHE / "apt" / (f"{suite}+updates+security" if suite in STABLE_SUITES else suite)

    def locked(self):
        """The lock of this suite's apt folder: its index, pins.json and downloads."""
        return locked(f"apt-{self.root.name}")

    def _sources(self) -> str:
        lines = [f"deb {MIRROR} {self.suite} main"]
        if self.suite in STABLE_SUITES:
            lines += [f"deb {MIRROR} {self.suite}-updates main", f"deb {SECURITY_MIRROR} {self.suite}-security main"]
        return "".join(line + "\n" for line in lines)

    def _apt_options(self) -> list[str]:
        r = self.root
        return ["-o", f"Dir::Etc::SourceList={r}/sources.list", "-o", "Dir::Etc::SourceParts=/dev/null",
                "-o", f"Dir::State::Lists={r}/lists", "-o", f"Dir::Cache={r}",
                "-o", f"Dir::Cache::archives={r}/archives", "-o", "Dir::State::status=/dev/null",
                # The index's binary cache, kept (Debian's container images switch it off): without
                # it every apt-cache call parses the whole index again, about a CPU-second each.
                "-o", "Dir::Cache::srcpkgcache=srcpkgcache.bin", "-o", "Dir::Cache::pkgcache=",
                "-o", "APT::Architecture=amd64", "-o", "Debug::NoLocking=1", "-q"]

    def _apt(self, tool: str, *args: str, cwd: pathlib.Path | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([tool, *self._apt_options(), *args], capture_output=True, text=True, cwd=cwd)

    def refresh_index(self) -> bool:
        """Updates the suite's index when older than a day or its sources changed; False when the mirror
        is unreachable. Call with the suite's lock held."""
        for folder in ("lists/partial", "archives/partial"):
            (self.root / folder).mkdir(parents=True, exist_ok=True)
        sources = self.root / "sources.list"
        stamp = self.root / "lists" / "updated"
        if not sources.exists() or sources.read_text() != self._sources():
            sources.write_text(self._sources())
            stamp.unlink(missing_ok=True)
        if stamp.exists() and time.time() - stamp.stat().st_mtime < INDEX_MAX_AGE_SECONDS:
            return True
        self.log(f"debian:{self.suite}: updating the package index ({', '.join(self._sources().split(chr(10))[:-1])})")
        update = self._apt("apt-get", "update")
        if update.returncode != 0 or "Err:" in update.stdout:
            self.log(f"debian:{self.suite}: index update failed: {(update.stderr or update.stdout).strip()[-300:]}")
            return False
        stamp.touch()
        return True

    def candidate(self, package: str) -> str | None:
        """The version apt would install: the newest across the configured archives."""
        policy = self._apt("apt-cache", "policy", package)
        match = re.search(r"^\s*Candidate: (\S+)$", policy.stdout, re.M)
        return match.group(1) if match and match.group(1) != "(none)" else None

    def source_package(self, version: str | None) -> tuple[str, str] | None:
        """("linux-source-6.1", version) of the suite's kernel source: `version`, or the newest; None
        when the suite has no such package or not that version."""
        depends = self._apt("apt-cache", "depends", "linux-source")
        match = re.search(r"Depends: (linux-source-\S+)", depends.stdout)
        if not match:
            return None
        package = match.group(1)
        version = version or self.candidate(package)
        return (package, version) if version and version in self._versions(package) else None

    def _versions(self, package: str) -> list[str]:
        """Every version of `package` the index holds (empty when it holds none)."""
        shown = self._apt("apt-cache", "show", package)
        return re.findall(r"^Version: (\S+)$", shown.stdout, re.M) if shown.returncode == 0 else []

    def _current_abi(self, suffix: str) -> str:
        """The ABI name the suite's newest linux-image-<flavour> metapackage points to: "6.1.0-57"."""
        depends = self._apt("apt-cache", "depends", f"linux-image-{suffix}")
        match = re.search(rf"Depends: linux-image-(\S+)-{suffix}\b", depends.stdout)
        if not match:
            raise KernelSpecError(f"debian:{self.suite}: the index has no linux-image-{suffix} "
                                  f"metapackage ({depends.stderr.strip() or 'no Depends'})")
        return match.group(1)

    def _packages_for(self, spec: KernelSpec) -> list[str]:
        """The "name=version" packages that hold vmlinuz and the modules of the spec's kernel.

        bullseye..trixie ship both in linux-image-<abi>-<flavour>-unsigned; sid splits
        them into linux-binary-<abi>-<flavour> (vmlinuz), linux-modules-<abi>-<flavour> and
        linux-base-<abi>-<flavour> (modules.builtin and config, which modprobe needs).
        """
        suffix = _flavour_suffix(spec.flavour)
        if spec.version is None:
            abis = [self._current_abi(suffix)]
        else:
            listing = self._apt("apt-cache", "search", "--names-only", rf"^linux-(image|binary)-.*-{suffix}")
            abis = sorted({m.group(2) for m in re.finditer(
                rf"^linux-(image|binary)-(\S+?)-{suffix}(-unsigned)? ", listing.stdout, re.M)
                if not m.group(2).endswith(("-cloud", "-rt"))})
        for abi in abis:
            for names in ([f"linux-image-{abi}-{suffix}-unsigned"],
                          [f"linux-binary-{abi}-{suffix}", f"linux-modules-{abi}-{suffix}",
                           f"linux-base-{abi}-{suffix}"]):
                wanted = spec.version or self.candidate(names[0])
                if wanted and all(wanted in self._versions(name) for name in names):
                    return [f"{name}={wanted}" for name in names]
        what = f"version {spec.version}" if spec.version else f"the current kernel (ABI {abis[0]})"
        raise KernelSpecError(f"--kernel {spec.text}: debian:{self.suite} has no {suffix} kernel "
                              f"package with {what}; `apt-cache policy` against that suite lists what it has")

    def prepare(self, spec: KernelSpec) -> KernelImage:
        with self.locked():
            pins = self.root / "pins.json"
            pinned = read_json(pins, {})
            online = self.refresh_index()
            if online:
                packages = self._packages_for(spec)
                pinned[spec.text] = packages
                write_json(pins, pinned)
            elif spec.text in pinned:
                packages = pinned[spec.text]
                self.log(f"{spec.text}: mirror unreachable; using the cached {', '.join(packages)}")
            else:
                raise KernelSpecError(f"--kernel {spec.text}: cannot reach {MIRROR} and nothing is cached; "
                                      "check the network or set TCPREPRO_DEBIAN_MIRROR")
        unpacked = CACHE / "kernels" / "+".join(p.replace("=", "_") for p in packages)
        with locked(f"kernel-{unpacked.name}"):
            cached = read_json(unpacked / "kernel.json")
            if cached is not None:
                return dataclasses.replace(KernelImage.from_json(cached), spec=spec.name)
            return dataclasses.replace(self._download_and_unpack(spec, packages, unpacked), spec=spec.name)

    def download(self, packages: list[str], into: pathlib.Path) -> list[pathlib.Path]:
        """`apt-get download` of "name=version" packages into `into` (the suite's lock held)."""
        fetched = self._apt("apt-get", "download", *packages, cwd=into)
        if fetched.returncode != 0:
            raise KernelSpecError(f"apt-get download {' '.join(packages)} from debian:{self.suite} failed: "
                                  f"{fetched.stderr.strip()[-400:]}")
        return sorted(into.glob("*.deb"))

    def _download_and_unpack(self, spec: KernelSpec, packages: list[str], unpacked: pathlib.Path) -> KernelImage:
        staging = unpacked.with_name(unpacked.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        (staging / "debs").mkdir(parents=True)
        self.log(f"{spec.text}: downloading {' '.join(packages)}")
        try:
            with self.locked():
                debs = self.download(packages, staging / "debs")
        except KernelSpecError as error:
            shutil.rmtree(staging)
            raise KernelSpecError(f"--kernel {spec.text}: {error}") from None
        root = staging / "root"
        for deb in debs:
            subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
        shutil.rmtree(staging / "debs")
        # trixie and later install to /usr/lib; modprobe -d wants <root>/lib/modules.
        if not (root / "lib").exists() and (root / "usr" / "lib").is_dir():
            (root / "lib").symlink_to("usr/lib")
        releases = [p.name for p in (root / "lib" / "modules").iterdir()] if (root / "lib" / "modules").is_dir() else []
        if len(releases) != 1:
            raise KernelSpecError(f"--kernel {spec.text}: expected one modules folder in {packages}, found {releases}")
        release = releases[0]
        candidates = [root / "boot" / f"vmlinuz-{release}", root / "lib" / "modules" / release / "vmlinuz"]
        vmlinuz = next((c for c in candidates if c.is_file()), None)
        if vmlinuz is None:
            raise KernelSpecError(f"--kernel {spec.text}: no vmlinuz in {packages}")
        _depmod(root, release)
        if unpacked.exists():
            shutil.rmtree(unpacked)
        image = KernelImage(spec.text, release, unpacked / vmlinuz.relative_to(staging), unpacked / "root",
                            tuple(packages))
        write_json(staging / "kernel.json", image.to_json())
        staging.rename(unpacked)
        return image


def _depmod(root: pathlib.Path, release: str) -> None:
    # Debian runs depmod in postinst; an unpacked package has no modules.dep yet.
    subprocess.run(["depmod", "-b", str(root), release], check=True, capture_output=True)
