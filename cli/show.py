"""`./tcprepro show RESULT [--kernel K] [DIR]`: one result of a saved run, for a terminal.

Prints, per kernel, the verdicts, the key observations and the ladder of each
capture the lab described (contract/ladder.py), so a result can be read over ssh
without opening the report or Wireshark.
"""
from __future__ import annotations

import difflib
import pathlib

from cli.common import REPO, UsageError
from contract import ladder
from reports.claims import claim_words
from reports.kernels import sort_key
from reports.load import ReportInputError, ResultSet, load_result_sets
from reports.values import full_text


class ShowError(ValueError):
    """Bad input: one line saying what was wrong and what to do."""


def newest_run(results_root: pathlib.Path) -> pathlib.Path:
    """The newest run directory under results_root (run ids sort by time)."""
    runs = sorted(p for p in results_root.glob("*") if any(p.glob("*/results.json")))
    if not runs:
        raise ShowError(f"no saved run under {results_root}: run ./tcprepro run first, or pass the run's directory")
    return runs[-1]


def select_result(result_sets: list[ResultSet], wanted: str) -> str:
    """The one result id that `wanted` names in these result sets."""
    return pick_id(list(dict.fromkeys(r["id"] for rs in result_sets for r in rs.results)), wanted, "this run")


def pick_id(ids: list[str], wanted: str, where: str) -> str:
    """The one id of ids that `wanted` names: the id, a unique prefix of it, or else a unique part
    of it (any case)."""
    if wanted in ids:
        return wanted
    found = [rid for rid in ids if rid.startswith(wanted)] or [rid for rid in ids if wanted.lower() in rid.lower()]
    if len(found) == 1:
        return found[0]
    if found:
        shown = ", ".join(found[:6]) + (f" and {len(found) - 6} more" if len(found) > 6 else "")
        raise ShowError(f"RESULT {wanted!r} matches {len(found)} results ({shown}); give more of the id")
    close = difflib.get_close_matches(wanted, ids, n=4, cutoff=0.4)
    hint = (f"close matches: {', '.join(close)}" if close
            else f"none is close; its {len(ids)} ids look like {ids[0]}" if ids else "it has no results")
    raise ShowError(f"no result {wanted!r} in {where}; {hint}")


def select_kernels(result_sets: list[ResultSet], kernel: str | None) -> list[ResultSet]:
    if kernel is None:
        return result_sets
    chosen = [rs for rs in result_sets if kernel in _kernel_names(rs)]
    if not chosen:
        known = ", ".join(sorted({str((rs.doc.get("target") or {}).get("name")) for rs in result_sets}))
        raise ShowError(f"--kernel {kernel}: not in this run; it has {known}")
    return chosen


def _kernel_names(rs: ResultSet) -> set[str]:
    target = rs.doc.get("target") or {}
    kernel = target.get("kernel") or {}
    return {str(target.get("name")), rs.base_dir.name, str(kernel.get("release")), str(kernel.get("upstream"))}


def render(rs: ResultSet, result: dict) -> str:
    target = rs.doc.get("target") or {}
    kernel = target.get("kernel") or {}
    expectation = result.get("expectation") or {}
    claim = result.get("claim") or {}
    observations = result.get("observations") or {}
    lines = [
        f"== {result['id']} on {target.get('name')} ({kernel.get('upstream')}, {kernel.get('release')})",
        f"   {result.get('scenario')} · {result.get('title')}",
        f"   outcome {result.get('outcome')} · expectation {str(expectation.get('verdict')).replace('_', ' ')}"
        + (f" [{expectation['kernels']}]" if expectation.get("kernels") else "")
        + f" · {claim_words(str(claim.get('verdict')), str(claim.get('kind') or 'property'))}",
    ]
    if result.get("reason"):
        lines.append(f"   reason: {result['reason']}")
    if claim.get("text"):
        lines.append(f"   claim: {claim['text']}")
    if expectation.get("source"):
        lines.append(f"   source: {expectation['source']}")
    for mismatch in expectation.get("mismatches") or []:
        lines.append(f"   ✗ {mismatch.get('observation')}: expected {full_text(mismatch.get('expected'))}, "
                     f"observed {full_text(mismatch.get('observed'))}")
    keys = [key for key in result.get("key_observations") or [] if key in observations]
    if keys:
        lines.append("   key observations:")
        lines += [f"     {key} = {full_text(observations[key])}" for key in keys]
    for evidence in result.get("evidence") or []:
        if evidence.get("kind") != "pcap":
            continue
        pcap = rs.base_dir / evidence["path"]
        exchange_file = ladder.exchange_path(pcap)
        if not exchange_file.is_file():
            lines.append(f"   {pcap.name}: no ladder (no {exchange_file.name} beside it); open {pcap}")
            continue
        try:
            drawn = ladder.text(ladder.load(exchange_file))
        except ladder.ExchangeError as error:
            lines.append(f"   {pcap.name}: no ladder: {error}")
            continue
        lines.append("")
        lines += ["   " + line for line in drawn.splitlines()]
    if "netem" in str(result.get("impairment_backend") or ""):
        lines.append("   (impaired through netem, which cannot report which packets it acted on: no held/dropped/"
                     "delayed marks; --impairment-backend nfqueue marks them)")
    lines.append("")
    lines += [f"   {item.get('kind')}: {rs.base_dir / item['path']}" for item in result.get("evidence") or []
              if item.get("path")]
    if result.get("log"):
        lines.append(f"   log: {rs.base_dir / result['log']}")
    return "\n".join(lines)


def show(wanted: str, kernel: str | None, run_dir: pathlib.Path | None, results_root: pathlib.Path) -> str:
    """The text for `tcprepro show`; raises ShowError for bad input."""
    run_dir = run_dir or newest_run(results_root)
    try:
        result_sets = sorted(load_result_sets([run_dir]), key=sort_key)
    except ReportInputError as error:
        raise ShowError(str(error)) from None
    result_id = select_result(result_sets, wanted)
    blocks = []
    for rs in select_kernels(result_sets, kernel):
        result = next((r for r in rs.results if r["id"] == result_id), None)
        name = (rs.doc.get("target") or {}).get("name")
        blocks.append(render(rs, result) if result else f"== {result_id}: not run on {name}")
    return "\n\n".join(blocks)


def cmd_show(args) -> int:
    try:
        print(show(args.result, args.kernel, args.dir, REPO / "results"))
    except ShowError as error:
        raise UsageError(str(error)) from None
    return 0

