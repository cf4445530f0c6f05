"""What the subcommands share: bad input (UsageError, exit 2), where things are, -k and the built tests."""
from __future__ import annotations

import pathlib

REPO = pathlib.Path(__file__).resolve().parent.parent



DEFAULT_BUILD = REPO / "build"



USAGE_ERROR = 2



MACHINERY_ERROR = 3



class UsageError(Exception):
    """Bad input: printed as `tcprepro: error: ...`, exit 2."""



def _parse_selection(expression: str | None):
    from harness.run import selection
    try:
        return selection.parse(expression)
    except selection.SelectionError as error:
        raise UsageError(str(error)) from None



def _selected_tests(expression: str | None, build_dir: pathlib.Path, families: list | None = None) -> list:
    """The built case tests -k selects (all without -k); selecting nothing is bad input."""
    from harness.run import cases
    from harness.judge import catalogue
    selected = _parse_selection(expression)
    tests = [t for t in cases.discover(families or catalogue.load(), build_dir) if selected(t.id)]
    if not tests:
        raise UsageError(f"-k {expression!r} selects no result; `./tcprepro list --variants` prints the result ids")
    return tests



def _check_result_dirs(option: str, dirs: list[pathlib.Path]) -> None:
    from reports.load import ReportInputError, find_results_files
    for directory in dirs:
        try:
            find_results_files(directory)
        except ReportInputError as error:
            raise UsageError(f"{option}: {error}") from None



def _holds_results(folder: pathlib.Path) -> bool:
    return (folder / "report.html").exists() or any(folder.glob("*/results.json"))



def _parse_kernel_specs(texts: list[str]) -> list:
    """Every --kernel spec parsed (no network), and QEMU present if a guest is asked for."""
    from harness.targets import targets
    specs = []
    for text in texts:
        try:
            spec = targets.validate(text)
        except targets.TargetError as error:
            raise UsageError(str(error)) from None
        if any(s.slug == spec.slug for s in specs):
            raise UsageError(f"--kernel {text} is given twice")
        specs.append(spec)
    return specs
