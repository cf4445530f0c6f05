"""Kernels for QEMU targets: parsing a --kernel spec, fetching, unpacking, caching.

Specs:
    debian:SUITE            the suite's current amd64 kernel (bullseye, bookworm, trixie, sid, ...)
    debian:SUITE=VERSION    an exact Debian package version in that suite, e.g. debian:bookworm=6.1.170-3
    local:VMLINUZ:MODULES   a kernel someone just built: its image and its lib/modules/<release> folder

Debian packages come from `apt-get download` with a private apt configuration
per suite (its own sources.list, lists and cache under the cache folder): the
host's apt sources are never touched, because adding trixie or sid there would
upgrade libc on the next `apt-get install`. An unpacked kernel is kept, so a
second run downloads nothing; the suite's package index is refreshed at most
once a day, and a cached kernel is used when the mirror is unreachable.
"""
from __future__ import annotations

import dataclasses
import json
import os
import pathlib
import re
import shutil
import subprocess
import time

CACHE = pathlib.Path(os.environ.get("TCPREPRO_CACHE", "/var/cache/tcprepro"))
MIRROR = os.environ.get("TCPREPRO_DEBIAN_MIRROR", "http://deb.debian.org/debian")
SUITES = ("bullseye", "bookworm", "trixie", "forky", "sid",
          "bullseye-backports", "bookworm-backports", "trixie-backports")
INDEX_MAX_AGE_SECONDS = 24 * 3600
_FLAVOUR = "amd64"


class KernelSpecError(ValueError):
    """A --kernel spec that does not parse, or names a kernel that cannot be had."""


@dataclasses.dataclass(frozen=True)
class KernelSpec:
    text: str
    kind: str  # "host" | "debian" | "local"
    suite: str | None = None
    version: str | None = None  # exact Debian package version
    image: pathlib.Path | None = None  # local kernels
    modules: pathlib.Path | None = None

    @property
    def slug(self) -> str:
        """A folder name for this target's results: "debian-bookworm", "host"."""
        return re.sub(r"[^A-Za-z0-9.+_-]+", "-", self.text).strip("-")


@dataclasses.dataclass(frozen=True)
class KernelImage:
    """An unpacked kernel ready to boot: image, module tree (depmod done), provenance."""
    spec: str
    release: str  # the modules folder name, which is the guest's `uname -r`
    vmlinuz: pathlib.Path
    module_root: pathlib.Path  # `modprobe -d` root: holds lib/modules/<release>
    packages: tuple[str, ...]  # Debian "name=version", empty for local kernels

    @property
    def modules_dir(self) -> pathlib.Path:
        return self.module_root / "lib" / "modules" / self.release

    def to_json(self) -> dict:
        return {"spec": self.spec, "release": self.release, "vmlinuz": str(self.vmlinuz),
                "module_root": str(self.module_root), "packages": list(self.packages)}

    @classmethod
    def from_json(cls, data: dict) -> "KernelImage":
        return cls(data["spec"], data["release"], pathlib.Path(data["vmlinuz"]),
                   pathlib.Path(data["module_root"]), tuple(data["packages"]))


def parse(text: str) -> KernelSpec:
    """Checks a spec's grammar (no network); raises KernelSpecError with what to write instead."""
    if text == "host":
        return KernelSpec(text, "host")
    if text.startswith("debian:"):
        suite, _, version = text[len("debian:"):].partition("=")
        if suite not in SUITES:
            raise KernelSpecError(f"--kernel {text}: unknown Debian suite {suite!r}; "
                                  f"known: {', '.join(SUITES)}")
        if _ and not re.fullmatch(r"[0-9][A-Za-z0-9.+~-]*", version):
            raise KernelSpecError(f"--kernel {text}: {version!r} is not a Debian package version "
                                  "(e.g. debian:bookworm=6.1.170-3)")
        return KernelSpec(text, "debian", suite=suite, version=version or None)
    if text.startswith("local:"):
        parts = text[len("local:"):].split(":")
        if len(parts) != 2 or not all(parts):
            raise KernelSpecError(f"--kernel {text}: write local:<vmlinuz>:<modules folder>, "
                                  "e.g. local:arch/x86/boot/bzImage:/tmp/mods/lib/modules/6.19.0")
        image, modules = (pathlib.Path(p).resolve() for p in parts)
        if not image.is_file():
            raise KernelSpecError(f"--kernel {text}: kernel image {image} does not exist")
        if not (modules / "modules.order").is_file() and not (modules / "kernel").is_dir():
            raise KernelSpecError(f"--kernel {text}: {modules} is not a lib/modules/<release> folder "
                                  "(no modules.order, no kernel/); use `make modules_install INSTALL_MOD_PATH=...`")
        return KernelSpec(text, "local", image=image, modules=modules)
    raise KernelSpecError(f"--kernel {text}: unknown kernel spec; use host, debian:<suite>, "
                          "debian:<suite>=<package version> or local:<vmlinuz>:<modules folder>")


def prepare(spec: KernelSpec, log=print) -> KernelImage:
    """The kernel `spec` names, fetched and unpacked if it is not cached yet."""
    if spec.kind == "local":
        return _prepare_local(spec)
    if spec.kind == "debian":
        return _DebianSuite(spec.suite, log).prepare(spec)
    raise KernelSpecError(f"--kernel {spec.text}: the host kernel is not booted in QEMU")


def _prepare_local(spec: KernelSpec) -> KernelImage:
    # modprobe -d wants <root>/lib/modules/<release>; a private root of symlinks
    # keeps the builder's folder untouched, and depmod writes only there.
    release = spec.modules.name
    root = CACHE / "local" / re.sub(r"[^A-Za-z0-9.+_-]", "_", str(spec.modules))
    modules_dir = root / "lib" / "modules" / release
    if modules_dir.is_dir():
        shutil.rmtree(modules_dir)
    modules_dir.mkdir(parents=True)
    for entry in spec.modules.iterdir():
        if not entry.name.startswith("modules."):
            (modules_dir / entry.name).symlink_to(entry)
    _depmod(root, release)
    return KernelImage(spec.text, release, spec.image, root, ())


class _DebianSuite:
    """One suite's package index and downloads, in a private apt configuration."""

    def __init__(self, suite: str, log):
        self.suite, self.log = suite, log
        self.root = CACHE / "apt" / suite
        for folder in ("lists/partial", "archives/partial"):
            (self.root / folder).mkdir(parents=True, exist_ok=True)
        (self.root / "sources.list").write_text(f"deb {MIRROR} {suite} main\n")

    def _apt_options(self) -> list[str]:
        r = self.root
        return ["-o", f"Dir::Etc::SourceList={r}/sources.list", "-o", "Dir::Etc::SourceParts=/dev/null",
                "-o", f"Dir::State::Lists={r}/lists", "-o", f"Dir::Cache={r}",
                "-o", f"Dir::Cache::archives={r}/archives", "-o", "Dir::State::status=/dev/null",
                "-o", "APT::Architecture=amd64", "-o", "Debug::NoLocking=1", "-q"]

    def _apt(self, tool: str, *args: str, cwd: pathlib.Path | None = None) -> subprocess.CompletedProcess:
        return subprocess.run([tool, *self._apt_options(), *args], capture_output=True, text=True, cwd=cwd)

    def refresh_index(self) -> bool:
        """Updates the suite's index when older than a day; False when the mirror is unreachable."""
        stamp = self.root / "lists" / "updated"
        if stamp.exists() and time.time() - stamp.stat().st_mtime < INDEX_MAX_AGE_SECONDS:
            return True
        self.log(f"debian:{self.suite}: updating the package index from {MIRROR}")
        update = self._apt("apt-get", "update")
        if update.returncode != 0 or "Err:" in update.stdout:
            self.log(f"debian:{self.suite}: index update failed: {(update.stderr or update.stdout).strip()[-300:]}")
            return False
        stamp.touch()
        return True

    def _versions(self, package: str) -> list[str]:
        """Every version of `package` the index holds (empty when it holds none)."""
        shown = self._apt("apt-cache", "show", package)
        return re.findall(r"^Version: (\S+)$", shown.stdout, re.M) if shown.returncode == 0 else []

    def _current_abi(self) -> str:
        """The ABI name the suite's linux-image-amd64 metapackage points to: "6.1.0-50"."""
        depends = self._apt("apt-cache", "depends", f"linux-image-{_FLAVOUR}")
        match = re.search(rf"Depends: linux-image-(\S+)-{_FLAVOUR}\b", depends.stdout)
        if not match:
            raise KernelSpecError(f"debian:{self.suite}: the index has no linux-image-{_FLAVOUR} "
                                  f"metapackage ({depends.stderr.strip() or 'no Depends'})")
        return match.group(1)

    def _packages_for(self, spec: KernelSpec) -> list[str]:
        """The "name=version" packages that hold vmlinuz and the modules of the spec's kernel.

        bullseye..trixie ship both in linux-image-<abi>-amd64-unsigned; sid splits
        them into linux-binary-<abi>-amd64 (vmlinuz), linux-modules-<abi>-amd64 and
        linux-base-<abi>-amd64 (modules.builtin and config, which modprobe needs).
        """
        if spec.version is None:
            abis = [self._current_abi()]
        else:
            listing = self._apt("apt-cache", "search", "--names-only", rf"^linux-(image|binary)-.*-{_FLAVOUR}")
            abis = sorted({m.group(2) for m in re.finditer(
                rf"^linux-(image|binary)-(\S+?)-{_FLAVOUR}(-unsigned)? ", listing.stdout, re.M)})
        for abi in abis:
            for names in ([f"linux-image-{abi}-{_FLAVOUR}-unsigned"],
                          [f"linux-binary-{abi}-{_FLAVOUR}", f"linux-modules-{abi}-{_FLAVOUR}",
                           f"linux-base-{abi}-{_FLAVOUR}"]):
                versions = [self._versions(name) for name in names]
                wanted = spec.version or (versions[0][0] if versions[0] else None)
                if wanted and all(wanted in v for v in versions):
                    return [f"{name}={wanted}" for name in names]
        what = f"version {spec.version}" if spec.version else f"the current kernel (ABI {abis[0]})"
        raise KernelSpecError(f"--kernel {spec.text}: debian:{self.suite} has no {_FLAVOUR} kernel "
                              f"package with {what}; `apt-cache policy` against that suite lists what it has")

    def prepare(self, spec: KernelSpec) -> KernelImage:
        pins = self.root / "pins.json"
        pinned = json.loads(pins.read_text()) if pins.exists() else {}
        online = self.refresh_index()
        if online:
            packages = self._packages_for(spec)
            pinned[spec.text] = packages
            pins.write_text(json.dumps(pinned, indent=1))
        elif spec.text in pinned:
            packages = pinned[spec.text]
            self.log(f"{spec.text}: mirror unreachable; using the cached {', '.join(packages)}")
        else:
            raise KernelSpecError(f"--kernel {spec.text}: cannot reach {MIRROR} and nothing is cached; "
                                  "check the network or set TCPREPRO_DEBIAN_MIRROR")
        unpacked = CACHE / "kernels" / "+".join(p.replace("=", "_") for p in packages)
        done = unpacked / "kernel.json"
        if done.exists():
            return KernelImage.from_json(json.loads(done.read_text()))
        return self._download_and_unpack(spec, packages, unpacked)

    def _download_and_unpack(self, spec: KernelSpec, packages: list[str], unpacked: pathlib.Path) -> KernelImage:
        staging = unpacked.with_name(unpacked.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        (staging / "debs").mkdir(parents=True)
        self.log(f"{spec.text}: downloading {' '.join(packages)}")
        fetched = self._apt("apt-get", "download", *packages, cwd=staging / "debs")
        if fetched.returncode != 0:
            shutil.rmtree(staging)
            raise KernelSpecError(f"--kernel {spec.text}: apt-get download failed: {fetched.stderr.strip()[-400:]}")
        root = staging / "root"
        for deb in sorted((staging / "debs").glob("*.deb")):
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
        staging.rename(unpacked)
        image = KernelImage(spec.text, release, unpacked / vmlinuz.relative_to(staging), unpacked / "root",
                            tuple(packages))
        (unpacked / "kernel.json").write_text(json.dumps(image.to_json(), indent=1))
        return image


def _depmod(root: pathlib.Path, release: str) -> None:
    # Debian runs depmod in postinst; an unpacked package has no modules.dep yet.
    subprocess.run(["depmod", "-b", str(root), release], check=True, capture_output=True)
