"""The configuration axis: sysctl values proposed on the command line, checked up front.

`--sysctl NAME=VALUE` and `--sysctl-file FILE` make one configuration ("proposed");
`--config NAME:FILE` names further ones. A run covers the kernel's defaults plus each
configuration on every target; each (target, configuration) pair writes its own
results.json in `<out>/<target>` (defaults) or `<out>/<target>@<configuration>`.

Every name and value is checked before anything is made, in a throwaway network
namespace (`unshare --net`, harness/run/sysctl_probe.py) on the running kernel: an
unknown name (with the closest names the kernel has), a value the kernel rejects
(with its errno), a sysctl that is not per network namespace (it would change the
host, so only QEMU guests take it, kernel-wide) are each one line and exit 2.
"""
from __future__ import annotations

import dataclasses
import difflib
import json
import os
import pathlib
import re
import subprocess
import sys

from harness.run import sysctl_probe

REPO = pathlib.Path(__file__).resolve().parents[2]
DEFAULTS = "defaults"
PROPOSED = "proposed"
ENV = "TCPREPRO_SYSCTLS"  # what the lab (netns/configuration.h) reads
_NAME = re.compile(r"^[A-Za-z0-9_.-]+$")
# A write refused for permission in a lab namespace: the knob is global, read-only there.
_GLOBAL_ERRNOS = ("EACCES", "EPERM")


class ConfigError(ValueError):
    """Bad configuration input: one line, exit 2."""


@dataclasses.dataclass(frozen=True)
class Entry:
    name: str
    value: str
    where: str  # "--sysctl NAME=VALUE" or "FILE:LINE", for messages
    optional: bool = False  # sysctl.conf's "-" prefix: a failure drops the line instead of stopping


@dataclasses.dataclass(frozen=True)
class Configuration:
    name: str
    sysctls: dict[str, str]  # name -> value, in the order given
    source: str  # "--sysctl", a file, or "" for the defaults

    @property
    def is_defaults(self) -> bool:
        return not self.sysctls

    def folder(self, target_slug: str) -> str:
        return target_slug if self.is_defaults else f"{target_slug}@{self.name}"

    def to_json(self) -> dict:
        return {"name": self.name, "sysctls": dict(self.sysctls), "source": self.source or None}


DEFAULT_CONFIGURATION = Configuration(DEFAULTS, {}, "")


# --- parsing -------------------------------------------------------------------------------

def _normalise_name(name: str) -> str:
    # sysctl.conf accepts "net/ipv4/tcp_tw_reuse" as well as the dotted form.
    return name.replace("/", ".") if "/" in name else name


def parse_assignment(text: str, where: str, optional: bool = False) -> Entry:
    name, equals, value = text.partition("=")
    name, value = _normalise_name(name.strip()), sysctl_probe.normalise(value)
    if not equals or not name or not value:
        raise ConfigError(f"{where}: expected NAME = VALUE (e.g. net.ipv4.tcp_tw_reuse = 1)")
    if not re.fullmatch(r"[A-Za-z0-9_.:-]+", name):
        raise ConfigError(f"{where}: '{name}' is not a sysctl name (globs and odd characters are not supported)")
    return Entry(name, value, where, optional)


def parse_file(path: pathlib.Path) -> list[Entry]:
    """sysctl.conf syntax (sysctl.d(5)): '#' or ';' comments, blank lines, NAME = VALUE,
    a leading '-' to ignore a failure of that line."""
    try:
        lines = path.read_text().splitlines()
    except OSError as error:
        raise ConfigError(f"{path}: cannot read ({error.strerror})") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: not a text file") from None
    entries = []
    for number, line in enumerate(lines, 1):
        text = line.strip()
        if not text or text[0] in "#;":
            continue
        optional = text.startswith("-")
        entries.append(parse_assignment(text[1:] if optional else text, f"{path}:{number}", optional))
    if not entries:
        raise ConfigError(f"{path}: sets no sysctl (only comments or blank lines)")
    return entries


def _configuration(name: str, entries: list[Entry], source: str) -> tuple[Configuration, list[Entry]]:
    sysctls = {}
    for entry in entries:  # a later line wins, as with sysctl --system
        sysctls.pop(entry.name, None)
        sysctls[entry.name] = entry.value
    return Configuration(name, sysctls, source), entries


def from_arguments(sysctls: list[str] | None, sysctl_file: pathlib.Path | None,
                   configs: list[str] | None) -> list[tuple[Configuration, list[Entry]]]:
    """The proposed configurations (without the defaults), parsed; no kernel is asked yet."""
    out = []
    proposed = [parse_assignment(text, f"--sysctl {text}") for text in sysctls or []]
    if sysctl_file is not None:
        proposed += parse_file(sysctl_file)
    if proposed:
        source = " ".join([f"--sysctl {t}" for t in sysctls or []] + ([str(sysctl_file)] if sysctl_file else []))
        out.append(_configuration(PROPOSED, proposed, source))
    for text in configs or []:
        name, colon, file = text.partition(":")
        if not colon or not name or not file:
            raise ConfigError(f"--config {text}: expected NAME:FILE (a sysctl.conf-style file), e.g. reuse:tw.conf")
        if not _NAME.match(name) or name in (DEFAULTS, PROPOSED):
            raise ConfigError(f"--config {text}: the name must be letters, digits, '_', '.', '-' "
                              f"and not '{DEFAULTS}' or '{PROPOSED}'")
        if any(c.name == name for c, _ in out):
            raise ConfigError(f"--config {text}: the name {name} is given twice")
        out.append(_configuration(name, parse_file(pathlib.Path(file)), file))
    return out


# --- checking against the kernel -----------------------------------------------------------

@dataclasses.dataclass(frozen=True)
class Probe:
    names: list[str]  # every sysctl under net in a fresh namespace
    writes: dict[str, dict]  # name -> {"errno", "message", "effective"}


def probe(write: dict[str, str]) -> Probe:
    """Runs harness/run/sysctl_probe.py in a network namespace made for it and gone after it."""
    request = json.dumps({"write": write})
    try:
        done = subprocess.run(["unshare", "--net", "--", sys.executable, "-m", "harness.run.sysctl_probe", request],
                              capture_output=True, text=True, timeout=60, cwd=REPO,
                              env={**os.environ, "PYTHONPATH": str(REPO)})
    except (OSError, subprocess.TimeoutExpired) as error:
        raise ConfigError(f"cannot probe sysctls in a throwaway namespace (unshare --net): {error}") from None
    if done.returncode != 0:
        raise ConfigError(f"cannot probe sysctls in a throwaway namespace (unshare --net): "
                          f"{done.stderr.strip().splitlines()[-1] if done.stderr.strip() else done.returncode}")
    data = json.loads(done.stdout)
    return Probe(data["names"], data["writes"])


def _exists_in_this_namespace(name: str) -> bool:
    # Only a lookup: the host's (or guest's) own value is neither read nor written.
    return os.path.exists(sysctl_probe.path_of(name))


def _closest(name: str, known: list[str]) -> str:
    close = difflib.get_close_matches(name, known, n=3, cutoff=0.6)
    return f"; closest: {', '.join(close)}" if close else "; `sysctl -a | grep WORD` lists the names"


def check(proposed: list[tuple[Configuration, list[Entry]]], host_target: bool) -> tuple[list[Configuration], list[str]]:
    """Each configuration checked against the running kernel. Returns the configurations
    (lines marked '-' that fail are dropped) and notes about what was dropped."""
    if not proposed:
        return [], []
    # Each value is written in a fresh namespace; one probe takes each name once.
    rounds: list[dict[str, str]] = []
    for name, value in dict.fromkeys((e.name, e.value) for _, entries in proposed for e in entries):
        free = next((r for r in rounds if name not in r), None)
        if free is None:
            rounds.append(free := {})
        free[name] = value
    written: dict[tuple[str, str], dict] = {}
    names: list[str] = []
    for writes in rounds:
        result = probe(writes)
        names = result.names
        written.update({(name, writes[name]): outcome for name, outcome in result.writes.items()})
    out, notes = [], []
    for configuration, entries in proposed:
        kept = {}
        for entry in entries:
            problem = _problem(entry, names, written.get((entry.name, entry.value)), host_target)
            if problem and entry.optional:
                notes.append(f"note: {problem} (line marked '-': left out)")
                continue
            if problem:
                raise ConfigError(problem)
            kept[entry.name] = entry.value
        if not kept:
            raise ConfigError(f"configuration {configuration.name}: every line was left out; nothing to compare")
        out.append(Configuration(configuration.name, kept, configuration.source))
    return out, notes


def _problem(entry: Entry, names: list[str], written: dict | None, host_target: bool) -> str | None:
    if entry.name not in names:
        if _exists_in_this_namespace(entry.name):
            if host_target:
                return (f"{entry.where}: {entry.name} is not per network namespace, so setting it would change "
                        "the host; give it only with QEMU guests (--kernel debian:<suite>), which apply it kernel-wide")
            return None
        return f"{entry.where}: the running kernel has no sysctl {entry.name}{_closest(entry.name, names)}"
    if written is None:
        return None
    if written["errno"] in _GLOBAL_ERRNOS:
        if host_target:
            return (f"{entry.where}: {entry.name} is read-only in a network namespace (global), so setting it would "
                    "change the host; give it only with QEMU guests (--kernel debian:<suite>), which apply it kernel-wide")
        return None
    if written["errno"]:
        return f"{entry.where}: the kernel rejects {entry.value!r} for {entry.name} ({written['errno']}: {written['message']})"
    return None


# --- what a result ran under ---------------------------------------------------------------

def result_configuration(configuration: dict | None, record: dict) -> dict:
    """A result's `configuration` (harness/RESULTS.md): the configuration's name, and each
    proposed sysctl the story pinned to its own value."""
    configuration = configuration or DEFAULT_CONFIGURATION.to_json()
    lab = record.get("configuration") or {}
    proposed = configuration.get("sysctls") or {}
    where = lab.get("pinned_in") or {}
    return {
        "name": configuration.get("name", DEFAULTS),
        "pinned": {key: {"proposed": proposed.get(key), "scenario": value, "namespaces": where.get(key, [])}
                   for key, value in (lab.get("pinned") or {}).items()},
        "suspended": bool(lab.get("suspended")),
    }


def effective_sysctls(configuration: dict | None, record: dict) -> dict[str, set[str]]:
    """The values each sysctl the run or the story set had in the story's namespaces: the
    configuration's (unless the story suspended it) and what the story itself set in some
    of them. A story that pins a proposed sysctl in one namespace leaves the proposed value
    in the others, so both count."""
    configuration = configuration or {}
    lab = record.get("configuration") or {}
    values: dict[str, set[str]] = {}
    if not lab.get("suspended"):
        applied_in = lab.get("applied_in")
        pinned_in = lab.get("pinned_in") or {}
        for key, value in (configuration.get("sysctls") or {}).items():
            # The proposed value counts when some namespace the story made kept it; a story
            # that pinned the knob in each of its namespaces ran with its own value only.
            if applied_in is None or set(applied_in) - set(pinned_in.get(key, [])):
                values.setdefault(key, set()).add(value)
        for key, value in (configuration.get("kernel_wide") or {}).items():
            values.setdefault(key, set()).add(value)
    for key, value in {**(record.get("sysctls") or {}), **(lab.get("pinned") or {})}.items():
        values.setdefault(key, set()).add(value)
    return values


# --- in a QEMU guest -------------------------------------------------------------------------

def _in_tcprepro_guest() -> bool:
    # The guest's kernel command line carries the job (harness/targets/qemu.py); the host's never does.
    try:
        return "tcprepro_job=" in pathlib.Path("/proc/cmdline").read_text()
    except OSError:
        return False


def apply_kernel_wide() -> dict[str, str]:
    """In a QEMU guest, which is thrown away after the run: each proposed sysctl that is not
    per network namespace is written in the guest's own namespace, for the whole kernel;
    the lab gets the rest (TCPREPRO_SYSCTLS is narrowed to them). Returns name -> the value
    the kernel holds, or "rejected: ERRNO" (the stories then run without it)."""
    proposed = json.loads(os.environ.get(ENV) or "{}")
    if not proposed:
        return {}
    if not _in_tcprepro_guest():
        raise RuntimeError("apply_kernel_wide() runs only inside a tcprepro QEMU guest")
    fresh = probe(proposed)
    kernel_wide = {}
    for name, value in proposed.items():
        per_namespace = name in fresh.names and (fresh.writes.get(name) or {}).get("errno") not in _GLOBAL_ERRNOS
        if per_namespace or not _exists_in_this_namespace(name):
            continue  # the lab applies it, or skips the stories on a kernel without it
        outcome = sysctl_probe.write(name, value)
        kernel_wide[name] = f"rejected: {outcome['errno']}" if outcome["errno"] else outcome["effective"]
    os.environ[ENV] = json.dumps({k: v for k, v in proposed.items() if k not in kernel_wide})
    return kernel_wide
