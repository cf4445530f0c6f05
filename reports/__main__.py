"""python3 -m reports DIR [DIR...] --out OUTDIR"""

import argparse
import sys
from pathlib import Path

from . import ReportInputError, render_report


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python3 -m reports",
        description="Render report.html and report.md from tcprepro results.json files.",
    )
    parser.add_argument(
        "dirs", nargs="+", type=Path, metavar="DIR",
        help="a run directory (<out>, holding <target>/results.json) or a target directory",
    )
    parser.add_argument(
        "--out", required=True, type=Path, metavar="OUTDIR",
        help="directory to write the report into (created if missing)",
    )
    args = parser.parse_args(argv)
    try:
        written = render_report(args.dirs, args.out)
    except ReportInputError as error:
        print(f"{parser.prog}: error: {error}", file=sys.stderr)
        return 2
    print(written.html)
    print(written.md)
    return 0


if __name__ == "__main__":
    sys.exit(main())
