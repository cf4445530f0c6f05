"""`./tcprepro report`: the report (and the merged KCIDB file) from saved result folders."""
from __future__ import annotations

from cli.common import UsageError, _holds_results

def cmd_report(args) -> int:
    from reports import ReportInputError, render_report
    out = args.out.resolve()
    if out.exists() and not out.is_dir():
        raise UsageError(f"--out {out} is a file, not a folder; choose a folder")
    if _holds_results(out) or (out / "results.json").exists():
        raise UsageError(f"--out {out} is a run's own folder (it holds results); "
                         "write the report to another folder")
    try:
        written = render_report(args.dirs, args.out)
    except ReportInputError as error:
        raise UsageError(str(error)) from None
    print(f"{written.summary}\nreport: {written.html}\n        {written.md}")
    # The jobs' results as one KCIDB submission (shards merged), when the gate judged them all.
    from harness.outputs import kcidb
    from reports.load import load_result_sets
    documents = [result_set.doc for result_set in load_result_sets(args.dirs)]
    if all("gate" in entry for document in documents for entry in document["results"]):
        print(f"        {kcidb.write(args.out, documents)}")
    return 0
