"""The three axes a bisect walks, as ordered steps (step 0 GOOD, the last BAD).

A step is a dict, stored as is in bisect.json:
    debian  {"label", "name", "spec": "debian:<suite>[/<flavour>]=<version>", "suite", "version"}
    series  {"label", "name", "patches": [absolute paths of the prefix]}
    git     {"label", "name", "commit", "subject"}
`name` is the step's --kernel label (its results folder and report column).
"""
from __future__ import annotations

import functools
import pathlib
import re
import subprocess

from harness.kernels import debian, kernel, kernel_store


class AxisError(ValueError):
    """GOOD, BAD or the axis cannot be used: bad input, said in one line."""


# ---- Debian kernels -------------------------------------------------------------------------

def _version_key(version: str):
    import apt_pkg
    apt_pkg.init_system()
    return (kernel.parse_version(version), functools.cmp_to_key(apt_pkg.version_compare)(version))


def _suite_versions(suite: str, flavour: str, log) -> list[str]:
    """Every package version of the suite's amd64 kernel (of that flavour) its index holds."""
    archive = debian.DebianSuite(suite, log)
    suffix = "amd64" if flavour == "amd64" else f"{flavour}-amd64"
    with archive.locked():
        if not archive.refresh_index():
            log(f"debian:{suite}: index unreachable; its kernels are left out")
            return []
        listing = archive._apt("apt-cache", "search", "--names-only", rf"^linux-(image|binary)-.*-{suffix}")
        names = sorted({m.group(0).strip() for m in re.finditer(
            rf"^linux-(?:image-\S+-{suffix}-unsigned|binary-\S+-{suffix}) ", listing.stdout, re.M)
            if not re.search(r"-(cloud|rt)-amd64", m.group(0)) or flavour != "amd64"})
        if not names:
            return []
        shown = archive._apt("apt-cache", "show", *names)
    return sorted(set(re.findall(r"^Version: (\S+)$", shown.stdout, re.M)))


def _resolved_version(spec: kernel_store.KernelSpec, log) -> str:
    archive = debian.DebianSuite(spec.suite, log)
    with archive.locked():
        if not archive.refresh_index():
            raise AxisError(f"{spec.text}: cannot reach {kernel_store.MIRROR}; check the network")
        packages = archive._packages_for(spec)
    return packages[0].split("=", 1)[1]


def debian_steps(good: str, bad: str, log=print, suites=kernel_store.SUITES) -> list[dict]:
    """GOOD, every amd64 kernel version the archives hold between them (ordered by upstream
    version, then Debian's order; each version once, from the first suite that holds it), BAD."""
    try:
        ends = [kernel_store.parse(text) for text in (good, bad)]
    except kernel_store.KernelSpecError as error:
        raise AxisError(str(error).replace("--kernel ", "")) from None
    if any(spec.kind != "debian" or spec.label for spec in ends):
        raise AxisError(f"{good} {bad}: GOOD and BAD are Debian kernel specs (debian:<suite>[=<version>]), "
                        "or use --series or --tree")
    if ends[0].flavour != ends[1].flavour:
        raise AxisError(f"{good} {bad}: one flavour on both ends ({ends[0].flavour} and {ends[1].flavour})")
    flavour = ends[0].flavour
    try:
        versions = [(_resolved_version(spec, log), spec.suite) for spec in ends]
    except kernel_store.KernelSpecError as error:
        raise AxisError(str(error).replace("--kernel ", "")) from None
    low, high = (_version_key(v) for v, _ in versions)
    if not low < high:
        raise AxisError(f"{good} ({versions[0][0]}) is not older than {bad} ({versions[1][0]}); "
                        "give the older kernel first")
    between: dict[str, str] = {}
    for suite in suites:
        for version in _suite_versions(suite, flavour, log):
            if low < _version_key(version) < high:
                between.setdefault(version, suite)
    ordered = [*[versions[0]], *sorted(between.items(), key=lambda item: _version_key(item[0])), versions[1]]
    return [_debian_step(suite, version, flavour) for version, suite in ordered]


def _debian_step(suite: str, version: str, flavour: str) -> dict:
    slash = "" if flavour == "amd64" else f"/{flavour}"
    return {"label": f"{version} ({suite}{slash})", "name": re.sub(r"[^A-Za-z0-9_.+-]", "-", f"{suite}-{version}"),
            "spec": f"debian:{suite}{slash}={version}", "suite": suite, "version": version}


# ---- A patch series -------------------------------------------------------------------------

def series_patches(given: list[pathlib.Path]) -> list[pathlib.Path]:
    """--series P1 P2 ... or one folder of patches (in name order)."""
    if len(given) == 1 and given[0].is_dir():
        patches = sorted(p for p in given[0].iterdir() if p.is_file() and p.suffix in (".patch", ".diff"))
        if not patches:
            raise AxisError(f"--series {given[0]}: no *.patch or *.diff file in it")
        return [p.resolve() for p in patches]
    for patch in given:
        if not patch.is_file():
            raise AxisError(f"--series {patch}: no such file")
    return [p.resolve() for p in given]


def check_series(source, patches: list[pathlib.Path]) -> None:
    """Every patch applies, in order, to the source (on copies of the files they touch): a patch
    that does not is named with its failing hunk before anything is built."""
    import shutil
    import tempfile
    from harness.kernels import kernel_build
    with tempfile.TemporaryDirectory(prefix="series-check.") as scratch:
        overlay = pathlib.Path(scratch)
        for name in sorted({name for patch in patches for name in kernel_build._patched_paths(patch)}):
            if (source.tree / name).is_file():
                (overlay / name).parent.mkdir(parents=True, exist_ok=True)
                shutil.copyfile(source.tree / name, overlay / name)
        for patch in patches:
            kernel_build._apply(patch, overlay)


def series_steps(patches: list[pathlib.Path]) -> list[dict]:
    """The prefixes of the series: none of the patches (GOOD) to all of them (BAD)."""
    steps = [{"label": "the source without the series", "name": "prefix-0", "patches": []}]
    for count in range(1, len(patches) + 1):
        steps.append({"label": f"+ {patches[count - 1].name} ({count} of {len(patches)})", "name": f"prefix-{count}",
                      "patches": [str(p) for p in patches[:count]]})
    return steps


# ---- A git kernel tree ----------------------------------------------------------------------

def _git(tree: pathlib.Path, *args: str) -> subprocess.CompletedProcess:
    return subprocess.run(["git", "-C", str(tree), *args], capture_output=True, text=True)


def git_steps(tree: pathlib.Path, good: str, bad: str) -> list[dict]:
    """GOOD, then every commit after it up to BAD (oldest first, on the ancestry path)."""
    if not tree.is_dir() or _git(tree, "rev-parse", "--git-dir").returncode != 0:
        raise AxisError(f"--tree {tree}: not a git repository; give a kernel tree's git checkout")
    commits = []
    for rev in (good, bad):
        resolved = _git(tree, "rev-parse", "--verify", "--quiet", f"{rev}^{{commit}}")
        if resolved.returncode != 0:
            raise AxisError(f"--tree {tree}: {rev!r} is not a commit there; `git log --oneline` lists them")
        commits.append(resolved.stdout.strip())
    if _git(tree, "merge-base", "--is-ancestor", *commits).returncode != 0:
        raise AxisError(f"--tree {tree}: GOOD {good} is not an ancestor of BAD {bad}; give the older commit first")
    listed = _git(tree, "log", "--reverse", "--topo-order", "--ancestry-path", "--format=%H%x00%s",
                  f"{commits[0]}..{commits[1]}")
    good_subject = _git(tree, "log", "-1", "--format=%s", commits[0]).stdout.strip()
    pairs = [(commits[0], good_subject)] + [tuple(line.split("\0", 1)) for line in listed.stdout.splitlines()]
    if len(pairs) < 2:
        raise AxisError(f"--tree {tree}: no commit between {good} and {bad}")
    return [{"label": f"{commit[:12]} {subject}", "name": f"commit-{commit[:12]}", "commit": commit,
             "subject": subject} for commit, subject in pairs]
