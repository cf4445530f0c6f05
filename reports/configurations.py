"""Configurations beside kernels: which sysctls a column ran with, and which explain a difference.

A run with `--sysctl`/`--config` writes one results.json per kernel and configuration
(harness/RESULTS.md, `target.configuration`). A column is then a kernel under a
configuration; its name carries the configuration ("host @ proposed"). When a row
differs between columns of one kernel, the configurations are what differs, and
the annotation names the sysctls each column ran the story with: the proposed
ones, less those the story pinned to its own value.
"""

from .load import ResultSet

DEFAULTS = "defaults"


def configuration(rs: ResultSet) -> dict:
    return (rs.doc.get("target") or {}).get("configuration") or {"name": DEFAULTS, "sysctls": {}}


def column_name(rs: ResultSet, target_name: str) -> str:
    name = configuration(rs).get("name") or DEFAULTS
    return target_name if name == DEFAULTS else f"{target_name} @ {name}"


def describe(rs: ResultSet) -> str:
    """The column's configuration in one line, for the targets table."""
    config = configuration(rs)
    sysctls = config.get("sysctls") or {}
    if not sysctls:
        return "kernel defaults"
    text = ", ".join(f"{k}={v}" for k, v in sysctls.items())
    kernel_wide = config.get("kernel_wide") or {}
    if kernel_wide:
        text += "; applied kernel-wide (not per namespace, in the guest only): " + ", ".join(
            f"{k}={v}" for k, v in kernel_wide.items())
    return text


def cell_notes(results: list[dict]) -> list[str]:
    """What a cell's story did with the configuration: a pinned sysctl, or a suspended one."""
    notes = {}
    for result in results:
        config = result.get("configuration") or {}
        for key, pin in (config.get("pinned") or {}).items():
            where = ", ".join(pin.get("namespaces") or []) or "its namespaces"
            notes[f"{key}={pin.get('scenario')} pinned by the scenario in {where} "
                  f"(proposed {pin.get('proposed')})"] = None
        if config.get("suspended"):
            notes["configuration not applied: the story measures the kernel's defaults"] = None
    return list(notes)


def ran_with(rs: ResultSet, result: dict | None) -> str:
    """The proposed sysctls this story actually ran with on this column."""
    sysctls = configuration(rs).get("sysctls") or {}
    config = (result or {}).get("configuration") or {}
    if config.get("suspended"):
        return "kernel defaults (configuration not applied)"
    pinned = config.get("pinned") or {}
    parts = []
    for key, value in sysctls.items():
        pin = pinned.get(key)
        parts.append(f"{key}={value}" if pin is None else
                     f"{key}={value} (pinned to {pin.get('scenario')} by the scenario in "
                     f"{', '.join(pin.get('namespaces') or []) or 'its namespaces'})")
    return ", ".join(parts) or "kernel defaults"


def explain(columns_results: list[tuple[str, str, ResultSet, dict | None]], differs_within) -> list[str]:
    """For each kernel whose columns (configurations) disagree in a row: what each ran with.

    columns_results: (column label, kernel release, result set, first result or None) per column;
    differs_within(indexes) tells whether those columns differ in the row."""
    by_kernel: dict[str, list[int]] = {}
    for index, (_, release, _, result) in enumerate(columns_results):
        if result is not None:
            by_kernel.setdefault(release, []).append(index)
    lines = []
    for release, indexes in by_kernel.items():
        if len(indexes) < 2 or not differs_within(indexes):
            continue
        lines.append(f"between configurations on {release}: " + "; ".join(
            f"{columns_results[i][0]} ran with {ran_with(columns_results[i][2], columns_results[i][3])}"
            for i in indexes))
    return lines
