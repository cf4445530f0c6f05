"""The report's headline as a fact: which rows differ between kernels, how many, in what order.

Two runs of the same kernels and configurations must give the same headline.
`signature` is what they must agree on: the number of rows, and per differing
row (in report order) its scenario, variants, what differs, and which kernels
showed what. A measurement (a timing, a share) is left out by value: its values
vary from run to run, and the expectations that judged it are what is compared
(reports/differences.py). A story whose verdict is a draw breaks the signature;
that is the point (issue: "a headline that changed between two runs").

`draws` splits a results.json written by `run --repeat N` into the N documents
its draws would have written alone (harness/repeats.py keeps each draw's
outcome, verdicts and observation values), so the headline can be checked over
repeated draws without running the kernels N times more.

    python3 -m reports.headline RUN_A RUN_B    # exit 1 and the lines that differ when the headlines do
"""

import argparse
import copy
import difflib
import sys
from pathlib import Path

from .load import ResultSet, load_result_sets
from .model import Report, build_report
from .rows import Row


def signature(report: Report) -> list[str]:
    """One line for the count, then one per differing row."""
    lines = [f"{len(report.differing_rows)} of {len(report.rows)} rows differ"]
    return lines + [_row_line(row) for row in report.differing_rows]


def _row_line(row: Row) -> str:
    measured = {value.key for cell in row.cells if cell for value in cell.values if value.measured}
    groups = []
    for group in row.annotation.groups:
        shown = [f"{what}={value}" for what, value in group.shown if what not in measured]
        judged = [f"{what} judged by {len(group.cited)} expectation(s)" for what, _ in group.shown if what in measured]
        groups.append(", ".join(group.kernels) + ": " + "; ".join(shown + judged))
    return f"{row.scenario} [{row.variants}] differs in {', '.join(row.differences)} :: " + " | ".join(groups)


def draws(result_set: ResultSet) -> list[ResultSet]:
    """One result set per draw of a repeated run (just the set itself when it was not repeated)."""
    runs = result_set.doc.get("run", {}).get("repeat", 1)
    if runs <= 1:
        return [result_set]
    return [ResultSet(result_set.path, {**result_set.doc, "results": [_as_draw(r, k) for r in result_set.results]})
            for k in range(runs)]


def _as_draw(result: dict, k: int) -> dict:
    repeats = result.get("repeats")
    if not repeats or k >= len(repeats["outcomes"]):
        return result
    drawn = copy.deepcopy(result)
    drawn.pop("repeats")
    drawn["outcome"] = repeats["outcomes"][k]
    drawn["observations"] = {name: o["value"] if o["stable"] else o["values"][k]
                             for name, o in repeats["observations"].items()
                             if (o["value"] if o["stable"] else o["values"][k]) is not None
                             or name in result["observations"]}
    drawn["expectation"]["verdict"] = repeats["verdicts"][k]
    if "claim_verdicts" in repeats:
        drawn["claim"]["verdict"] = repeats["claim_verdicts"][k]
    return drawn


def run_signature(run_dir: Path, out_dir: Path) -> list[str]:
    return signature(build_report(load_result_sets([run_dir]), out_dir))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python3 -m reports.headline",
                                     description="Compare the 'Differences between kernels' headline of two runs.")
    parser.add_argument("runs", nargs=2, type=Path, metavar="RUN")
    args = parser.parse_args(argv)
    first, second = (run_signature(run, run) for run in args.runs)
    diff = list(difflib.unified_diff(first, second, str(args.runs[0]), str(args.runs[1]), lineterm=""))
    print("\n".join(diff) if diff else "\n".join(first))
    return 1 if diff else 0


if __name__ == "__main__":
    sys.exit(main())
