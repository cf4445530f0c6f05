"""`./tcprepro kernel build`: a kernel for the QEMU targets, built here.

From a kernel source tree, or from Debian's `linux-source-<version>` package
(fetched with the suite's private apt configuration, as kernels are), with the
user's patches applied in order, on `make tinyconfig` plus a config fragment
(kernels/tcprepro.config by default: everything the suite needs, built in, no
modules). The result boots with `--kernel NAME=local:<bzImage>`.

Caching, in three layers:
  - a finished kernel is kept under CACHE/kbuild/builds/<key>, the key being a hash
    of the source (the package version, or the tree's files with sizes and
    mtimes), the patches' contents and the config: asking again costs nothing;
  - one workspace per source (package name, or tree path) keeps a copy of the
    source and the build folder between builds: before each build the copy is
    brought back to the source with rsync, every file that changed is touched,
    and the patches are applied, so make recompiles only what differs from the
    previous build there (a one-file patch: that file and the link);
  - ccache, shared by every workspace, for what make cannot reuse.
"""
from __future__ import annotations

import dataclasses
import hashlib
import os
import pathlib
import re
import shutil
import subprocess
import tempfile
import time

from harness.kernels import debian, kernel_store

REPO = pathlib.Path(__file__).resolve().parents[2]
DEFAULT_FRAGMENT = REPO / "kernels" / "tcprepro.config"
BASE_CONFIG = "tinyconfig"
# Bump when the way a kernel is built changes, so that old builds are not reused.
BUILD_RECIPE = "1"


class BuildInputError(ValueError):
    """A source, patch or fragment that cannot be used: one line, exit 2."""


class BuildError(RuntimeError):
    """The build itself failed (compiler, make): the log's tail says why."""


@dataclasses.dataclass(frozen=True)
class Source:
    identity: str  # what the cache key is made of: "linux-source-6.1=6.1.192-3" or a tree's fingerprint
    workspace: str  # one workspace per package name or tree path
    tree: pathlib.Path  # the pristine source


@dataclasses.dataclass(frozen=True)
class Built:
    bzimage: pathlib.Path
    release: str
    source: str
    patches: tuple[str, ...]
    seconds: float | None  # None: it was cached
    folder: pathlib.Path


def build_root() -> pathlib.Path:
    return kernel_store.CACHE / "kbuild"


def debian_source(spec_text: str, log=print) -> Source:
    """The linux-source package of a Debian suite: "debian:bookworm" (its newest, security updates
    included) or "debian:bookworm=6.1.192-3"; downloaded and unpacked once."""
    try:
        spec = kernel_store.parse(spec_text)
    except kernel_store.KernelSpecError as error:
        raise BuildInputError(str(error).replace("--kernel", "--from")) from None
    if spec.kind != "debian" or spec.label or spec.flavour != "amd64":
        raise BuildInputError(f"--from {spec_text}: write debian:<suite>[=<version>] or a source folder")
    suite = debian.DebianSuite(spec.suite, log)
    with suite.locked():
        if not suite.refresh_index():
            raise BuildInputError(f"--from {spec_text}: cannot reach {kernel_store.MIRROR}; check the network")
        found = suite.source_package(spec.version)
        if found is None:
            what = f"version {spec.version} of linux-source" if spec.version else "linux-source package"
            raise BuildInputError(f"--from {spec_text}: debian:{spec.suite} has no {what}")
        package, version = found
        unpacked = build_root() / "sources" / f"{package}_{version}"
        if not (unpacked / "done").exists():
            shutil.rmtree(unpacked, ignore_errors=True)
            (unpacked / "deb").mkdir(parents=True)
            log(f"downloading {package}={version} from debian:{spec.suite}")
            (deb,) = suite.download([f"{package}={version}"], unpacked / "deb")
            subprocess.run(["dpkg-deb", "-x", str(deb), str(unpacked / "deb")], check=True)
            (tarball,) = (unpacked / "deb" / "usr" / "src").glob(f"{package}.tar.*")
            log(f"unpacking {tarball.name}")
            subprocess.run(["tar", "-xf", str(tarball), "-C", str(unpacked)], check=True)
            shutil.rmtree(unpacked / "deb")
            (unpacked / "done").touch()
    return Source(f"{package}={version}", package, unpacked / package)


def tree_source(path: pathlib.Path) -> Source:
    """A kernel source tree the user has: it must be clean (built out of tree here)."""
    tree = path.resolve()
    if not (tree / "Makefile").is_file() or not (tree / "Kconfig").is_file():
        raise BuildInputError(f"--from {path}: not a kernel source tree (no Makefile and Kconfig)")
    if (tree / ".config").exists() or (tree / "include" / "config").exists():
        raise BuildInputError(f"--from {path}: the tree has been configured or built in place; "
                              "run `make mrproper` there first (the build happens in a copy, out of tree)")
    return Source(f"tree {tree} {_fingerprint(tree)}", "tree-" + hashlib.sha256(str(tree).encode()).hexdigest()[:12],
                  tree)


def _fingerprint(tree: pathlib.Path) -> str:
    """Every file's path, size and mtime: a one-file change gives another key."""
    digest = hashlib.sha256()
    for folder, dirs, files in os.walk(tree):
        dirs[:] = sorted(d for d in dirs if d != ".git")
        for name in sorted(files):
            stat = os.lstat(os.path.join(folder, name))
            digest.update(f"{folder}/{name}\0{stat.st_size}\0{stat.st_mtime_ns}\n".encode())
    return digest.hexdigest()[:16]


def check_fragment(fragment: pathlib.Path) -> list[str]:
    """The fragment's CONFIG_ lines; BuildInputError on anything else."""
    if not fragment.is_file():
        raise BuildInputError(f"--config {fragment}: no such file")
    lines = []
    for number, line in enumerate(fragment.read_text().splitlines(), 1):
        line = line.strip()
        if not line or line.startswith("#") and not line.startswith("# CONFIG_"):
            continue
        if not re.fullmatch(r"CONFIG_[A-Z0-9_]+=.+|# CONFIG_[A-Z0-9_]+ is not set", line):
            raise BuildInputError(f"--config {fragment}:{number}: not a config line: {line!r}")
        lines.append(line)
    return lines


def cache_key(source: Source, patches: list[pathlib.Path], fragment: pathlib.Path) -> str:
    digest = hashlib.sha256(f"recipe {BUILD_RECIPE}\nsource {source.identity}\nbase {BASE_CONFIG}\n".encode())
    for patch in patches:
        digest.update(b"patch\n" + patch.read_bytes())
    digest.update(b"fragment\n" + fragment.read_bytes())
    return digest.hexdigest()[:16]


def build(source: Source, patches: list[pathlib.Path], fragment: pathlib.Path = DEFAULT_FRAGMENT,
          jobs: int = 2, log=print) -> Built:
    """The kernel of `source` + `patches` on the fragment: cached, or built in its workspace."""
    for patch in patches:
        if not patch.is_file():
            raise BuildInputError(f"--patch {patch}: no such file")
    wanted = check_fragment(fragment)
    key = cache_key(source, patches, fragment)
    folder = build_root() / "builds" / key
    with kernel_store.locked(f"kbuild-{key}"):
        cached = kernel_store.read_json(folder / "build.json")
        if cached is not None:
            return _built(folder, cached, None)
        with kernel_store.locked(f"kbuild-workspace-{source.workspace}"):
            started = time.monotonic()
            workspace = build_root() / "workspaces" / source.workspace
            src = _sync(source.tree, patches, workspace / "src", log)
            build_dir = workspace / "build"
            _configure(src, build_dir, fragment, wanted, log)
            _make(src, build_dir, jobs, log)
            seconds = round(time.monotonic() - started, 1)
            release = (build_dir / "include" / "config" / "kernel.release").read_text().strip()
            folder.parent.mkdir(parents=True, exist_ok=True)
            staging = pathlib.Path(tempfile.mkdtemp(prefix=f"{key}.", dir=folder.parent))
            shutil.copy2(build_dir / "arch" / "x86" / "boot" / "bzImage", staging / "bzImage")
            shutil.copy2(build_dir / ".config", staging / "config")
            record = {"release": release, "source": source.identity, "patches": [p.name for p in patches],
                      "patch_sha256": [hashlib.sha256(p.read_bytes()).hexdigest() for p in patches],
                      "fragment": str(fragment), "base": BASE_CONFIG, "seconds": seconds, "jobs": jobs,
                      "built": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
            kernel_store.write_json(staging / "build.json", record)
            shutil.rmtree(folder, ignore_errors=True)
            staging.rename(folder)
            return _built(folder, record, seconds)


def check_config(source: Source, fragment: pathlib.Path = DEFAULT_FRAGMENT, log=print) -> pathlib.Path:
    """Configures `source` with the fragment in a scratch folder, builds nothing: BuildInputError names
    any option the source drops. Returns the resulting .config."""
    wanted = check_fragment(fragment)
    scratch = pathlib.Path(tempfile.mkdtemp(prefix="config-check.", dir=_mkdir(build_root())))
    try:
        _configure(source.tree, scratch / "build", fragment, wanted, log)
        kept = build_root() / "config-check" / f"{source.workspace}.config"
        _mkdir(kept.parent)
        shutil.copy2(scratch / "build" / ".config", kept)
        return kept
    finally:
        shutil.rmtree(scratch, ignore_errors=True)


def _mkdir(path: pathlib.Path) -> pathlib.Path:
    path.mkdir(parents=True, exist_ok=True)
    return path


def _built(folder: pathlib.Path, record: dict, seconds: float | None) -> Built:
    return Built(folder / "bzImage", record["release"], record["source"], tuple(record["patches"]), seconds, folder)


def _sync(tree: pathlib.Path, patches: list[pathlib.Path], copy: pathlib.Path, log) -> pathlib.Path:
    """Makes `copy` the source with the patches applied, rewriting only files whose content differs:
    a rewritten file is newer than its object, so make rebuilds it, and every other file keeps its
    mtime (also a patched file that the previous build had patched the same way).

    The patched files are made in a scratch overlay (pristine copies, patched there); rsync brings
    the rest by content (--checksum, no --times: what it rewrites gets a new mtime)."""
    touched = sorted({name for patch in patches for name in _patched_paths(patch)})
    copy.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(dir=copy.parent) as scratch:
        overlay = pathlib.Path(scratch)
        for name in touched:
            if (tree / name).is_file():
                (overlay / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(tree / name, overlay / name)
        for patch in patches:
            _apply(patch, overlay)
        log(f"syncing the source into {copy}" + (f" ({len(touched)} files patched)" if touched else ""))
        if any(copy.iterdir()) or not _link_copy(tree, copy):  # a first build links, in seconds
            synced = subprocess.run(["rsync", "--recursive", "--links", "--perms", "--checksum", "--delete",
                                     "--exclude=.git", *(f"--exclude=/{name}" for name in touched),
                                     f"{tree}/", f"{copy}/"], capture_output=True, text=True)
            if synced.returncode != 0:
                raise BuildError(f"rsync {tree} -> {copy} failed: {synced.stderr.strip()[-300:]}")
        for name in touched:
            wanted, current = overlay / name, copy / name
            if not wanted.exists():
                current.unlink(missing_ok=True)
            elif not current.is_file() or current.read_bytes() != wanted.read_bytes():
                # A new file, never a write through a hard link to the pristine source.
                current.parent.mkdir(parents=True, exist_ok=True)
                current.unlink(missing_ok=True)
                shutil.copyfile(wanted, current)
    return copy


def _link_copy(tree: pathlib.Path, copy: pathlib.Path) -> bool:
    """The copy as hard links to the source's files (False across file systems: rsync copies). Nothing
    writes into a linked file: rsync replaces by rename, patched files are new files, the build is out of tree."""
    linked = subprocess.run(["cp", "-al", f"{tree}/.", str(copy)], capture_output=True, text=True)
    if linked.returncode != 0:
        shutil.rmtree(copy, ignore_errors=True)
        copy.mkdir(parents=True)
        return False
    shutil.rmtree(copy / ".git", ignore_errors=True)
    return True


def _patched_paths(patch: pathlib.Path) -> list[str]:
    """The files a -p1 patch changes, from its ---/+++ lines."""
    names = []
    for line in patch.read_text(errors="replace").splitlines():
        if line.startswith(("--- ", "+++ ")):
            path = line[4:].split("\t")[0].strip()
            if path != "/dev/null" and "/" in path:
                names.append(path.split("/", 1)[1])
    return names


def _apply(patch: pathlib.Path, src: pathlib.Path) -> None:
    applied = subprocess.run(["patch", "-p1", "--forward", "--batch", "--no-backup-if-mismatch", "-d", str(src),
                              "-i", str(patch.resolve())], capture_output=True, text=True)
    if applied.returncode != 0:
        why = next((line for line in applied.stdout.splitlines() if "FAILED" in line or "can't find" in line),
                   applied.stdout.strip().splitlines()[-1] if applied.stdout.strip() else applied.stderr.strip())
        raise BuildInputError(f"--patch {patch}: does not apply to this source: {why}")


def _kmake(src: pathlib.Path, build_dir: pathlib.Path, *targets: str, jobs: int = 1,
           log_file: pathlib.Path | None = None) -> subprocess.CompletedProcess:
    env = dict(os.environ, KBUILD_BUILD_USER="tcprepro", KBUILD_BUILD_HOST="tcprepro")
    command = ["nice", "-n", "10", "make", "-C", str(src), f"O={build_dir}", f"-j{jobs}"]
    if shutil.which("ccache"):
        # Depend mode: a miss compiles once, from the compiler's own dependency list (-Wp,-MMD), instead
        # of running the preprocessor first to hash its output (a cold build's dearest overhead).
        env.update(CCACHE_DIR=str(build_root() / "ccache"), CCACHE_BASEDIR=str(build_root()), CCACHE_DEPEND="1")
        command.append("CC=ccache gcc")
    if log_file is None:
        return subprocess.run([*command, *targets], capture_output=True, text=True, env=env)
    with log_file.open("w") as log:
        return subprocess.run([*command, *targets], stdout=log, stderr=subprocess.STDOUT, text=True, env=env)


def _configure(src: pathlib.Path, build_dir: pathlib.Path, fragment: pathlib.Path, wanted: list[str], log) -> None:
    """tinyconfig + the fragment, made in a scratch folder; the build folder's .config is replaced only
    when it differs, so that an unchanged config costs make nothing."""
    scratch = build_dir.parent / "config"
    scratch.mkdir(parents=True, exist_ok=True)
    log(f"configuring: {BASE_CONFIG} + {fragment.name}")
    steps = [("tinyconfig",), None, ("olddefconfig",)]
    for step in steps:
        if step is None:
            merged = subprocess.run([str(src / "scripts" / "kconfig" / "merge_config.sh"), "-m", "-O", str(scratch),
                                     str(scratch / ".config"), str(fragment)], capture_output=True, text=True,
                                    cwd=src)
            if merged.returncode != 0:
                raise BuildError(f"merge_config.sh failed: {(merged.stderr or merged.stdout).strip()[-300:]}")
            continue
        made = _kmake(src, scratch, *step)
        if made.returncode != 0:
            raise BuildError(f"make {step[0]} failed: {(made.stderr or made.stdout).strip()[-300:]}")
    config = (scratch / ".config").read_text()
    present = set(config.splitlines())
    missing = [line for line in wanted if line not in present
               and not (line.endswith("=n") and f"# {line[:-2]} is not set" in present)]
    if missing:
        raise BuildInputError(f"--config {fragment}: this source drops {', '.join(missing)} "
                              "(a missing dependency or a renamed option)")
    build_dir.mkdir(parents=True, exist_ok=True)
    current = build_dir / ".config"
    if not current.exists() or current.read_text() != config:
        current.write_text(config)


def _make(src: pathlib.Path, build_dir: pathlib.Path, jobs: int, log) -> None:
    log_file = build_dir.parent / "build.log"
    log(f"building bzImage with make -j{jobs} under nice (log: {log_file})")
    made = _kmake(src, build_dir, "olddefconfig", "bzImage", jobs=jobs, log_file=log_file)
    if made.returncode != 0:
        tail = log_file.read_text().strip().splitlines()[-15:]
        raise BuildError("kernel build failed; the end of " + str(log_file) + ":\n" + "\n".join(tail))
