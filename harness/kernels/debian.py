"""Debian's kernels: one suite's package index and downloads, unpacked into the shared cache
(harness/kernels/kernel_store.py keeps the cache, the specs and the images)."""
from __future__ import annotations

import dataclasses
import pathlib
import re
import shutil
import subprocess
import time

from harness.kernels import kernel_store


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
        self.root = kernel_store.CACHE / "apt" / (f"{suite}+updates+security" if suite in kernel_store.STABLE_SUITES else suite)

    def locked(self):
        """The lock of this suite's apt folder: its index, pins.json and downloads."""
        return kernel_store.locked(f"apt-{self.root.name}")

    def _sources(self) -> str:
        lines = [f"deb {kernel_store.MIRROR} {self.suite} main"]
        if self.suite in kernel_store.STABLE_SUITES:
            lines += [f"deb {kernel_store.MIRROR} {self.suite}-updates main", f"deb {kernel_store.SECURITY_MIRROR} {self.suite}-security main"]
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
        if stamp.exists() and time.time() - stamp.stat().st_mtime < kernel_store.INDEX_MAX_AGE_SECONDS:
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
            raise kernel_store.KernelSpecError(f"debian:{self.suite}: the index has no linux-image-{suffix} "
                                  f"metapackage ({depends.stderr.strip() or 'no Depends'})")
        return match.group(1)

    def _packages_for(self, spec: kernel_store.KernelSpec) -> list[str]:
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
        raise kernel_store.KernelSpecError(f"--kernel {spec.text}: debian:{self.suite} has no {suffix} kernel "
                              f"package with {what}; `apt-cache policy` against that suite lists what it has")

    def prepare(self, spec: kernel_store.KernelSpec) -> kernel_store.KernelImage:
        with self.locked():
            pins = self.root / "pins.json"
            pinned = kernel_store.read_json(pins, {})
            online = self.refresh_index()
            if online:
                packages = self._packages_for(spec)
                pinned[spec.text] = packages
                kernel_store.write_json(pins, pinned)
            elif spec.text in pinned:
                packages = pinned[spec.text]
                self.log(f"{spec.text}: mirror unreachable; using the cached {', '.join(packages)}")
            else:
                raise kernel_store.KernelSpecError(f"--kernel {spec.text}: cannot reach {kernel_store.MIRROR} and nothing is cached; "
                                      "check the network or set TCPREPRO_DEBIAN_MIRROR")
        unpacked = kernel_store.CACHE / "kernels" / "+".join(p.replace("=", "_") for p in packages)
        with kernel_store.locked(f"kernel-{unpacked.name}"):
            cached = kernel_store.read_json(unpacked / "kernel.json")
            if cached is not None:
                return dataclasses.replace(kernel_store.KernelImage.from_json(cached), spec=spec.name)
            return dataclasses.replace(self._download_and_unpack(spec, packages, unpacked), spec=spec.name)

    def download(self, packages: list[str], into: pathlib.Path) -> list[pathlib.Path]:
        """`apt-get download` of "name=version" packages into `into` (the suite's lock held)."""
        fetched = self._apt("apt-get", "download", *packages, cwd=into)
        if fetched.returncode != 0:
            raise kernel_store.KernelSpecError(f"apt-get download {' '.join(packages)} from debian:{self.suite} failed: "
                                  f"{fetched.stderr.strip()[-400:]}")
        return sorted(into.glob("*.deb"))

    def _download_and_unpack(self, spec: kernel_store.KernelSpec, packages: list[str], unpacked: pathlib.Path) -> kernel_store.KernelImage:
        staging = unpacked.with_name(unpacked.name + ".partial")
        shutil.rmtree(staging, ignore_errors=True)
        (staging / "debs").mkdir(parents=True)
        self.log(f"{spec.text}: downloading {' '.join(packages)}")
        try:
            with self.locked():
                debs = self.download(packages, staging / "debs")
        except kernel_store.KernelSpecError as error:
            shutil.rmtree(staging)
            raise kernel_store.KernelSpecError(f"--kernel {spec.text}: {error}") from None
        root = staging / "root"
        for deb in debs:
            subprocess.run(["dpkg-deb", "-x", str(deb), str(root)], check=True)
        shutil.rmtree(staging / "debs")
        # trixie and later install to /usr/lib; modprobe -d wants <root>/lib/modules.
        if not (root / "lib").exists() and (root / "usr" / "lib").is_dir():
            (root / "lib").symlink_to("usr/lib")
        releases = [p.name for p in (root / "lib" / "modules").iterdir()] if (root / "lib" / "modules").is_dir() else []
        if len(releases) != 1:
            raise kernel_store.KernelSpecError(f"--kernel {spec.text}: expected one modules folder in {packages}, found {releases}")
        release = releases[0]
        candidates = [root / "boot" / f"vmlinuz-{release}", root / "lib" / "modules" / release / "vmlinuz"]
        vmlinuz = next((c for c in candidates if c.is_file()), None)
        if vmlinuz is None:
            raise kernel_store.KernelSpecError(f"--kernel {spec.text}: no vmlinuz in {packages}")
        kernel_store._depmod(root, release)
        if unpacked.exists():
            shutil.rmtree(unpacked)
        image = kernel_store.KernelImage(spec.text, release, unpacked / vmlinuz.relative_to(staging), unpacked / "root",
                            tuple(packages))
        kernel_store.write_json(staging / "kernel.json", image.to_json())
        staging.rename(unpacked)
        return image
