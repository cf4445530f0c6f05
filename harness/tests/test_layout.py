"""The layout the architecture promises (docs/architecture.md), checked on the import graph:
the run side (harness/) and the reader side (reports/) never import each other, contract/
is a leaf both use, cli/ is the one place they meet; no production module grows past the limit."""
import ast
import pathlib

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
PACKAGES = ("harness", "reports", "contract", "cli")
# What each package may import of the others (tests aside).
ALLOWED = {"harness": {"harness", "contract"}, "reports": {"reports", "contract"},
           "contract": {"contract"}, "cli": {"cli", "harness", "reports", "contract"}}
LONGEST_MODULE = 330  # lines; about 300 is the guide's rule


def production_modules():
    for package in PACKAGES:
        for path in sorted((REPO / package).rglob("*.py")):
            if "tests" not in path.relative_to(REPO).parts:
                yield package, path


def imported_packages(path: pathlib.Path, package: str) -> set[str]:
    found = set()
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found.update(alias.name.split(".")[0] for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            found.add(package if node.level else (node.module or "").split(".")[0])
    return found & set(PACKAGES)


@pytest.mark.parametrize("package,path", list(production_modules()),
                         ids=lambda value: str(value.relative_to(REPO)) if isinstance(value, pathlib.Path) else value)
def test_imports_follow_the_layers(package, path):
    assert imported_packages(path, package) <= ALLOWED[package], \
        f"{path.relative_to(REPO)} imports {sorted(imported_packages(path, package) - ALLOWED[package])}"


def test_the_check_sees_a_forbidden_import(tmp_path):
    bad = tmp_path / "bad.py"
    bad.write_text("from reports.load import ResultSet\nimport harness.run.cases\n")
    assert imported_packages(bad, "contract") == {"reports", "harness"}


def test_no_module_is_too_long():
    long = {str(path.relative_to(REPO)): n for _, path in production_modules()
            if (n := len(path.read_text().splitlines())) > LONGEST_MODULE}
    assert not long, f"split these modules: {long}"
