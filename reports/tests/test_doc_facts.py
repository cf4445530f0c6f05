"""README and the measurement pages state kernel versions and counts only as the recorded run has
them (docs/recorded-run.md)."""
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
VERSION = re.compile(r"(?<![\w.=-])(\d+)\.(\d+)\.(\d+)(?![\w.-]*\d)")
HISTORY = re.compile(r"(was|e\.g\.)\s+$")  # "was 6.1.176": a fact about the past, dated as such
# The pages that state what a run showed; kernel-history.md and catalogue.md cite stable releases.
PAGES = ("README.md", "docs/measurements.md", "docs/changes.md", "docs/scenarios.md")


def _pages():
    return [(page, (ROOT / page).read_text(encoding="utf-8")) for page in PAGES if (ROOT / page).is_file()]


def _recorded() -> list[dict]:
    rows = []
    for line in (ROOT / "docs" / "recorded-run.md").read_text(encoding="utf-8").splitlines():
        cells = [c.strip() for c in line.strip("|").split("|")]
        if len(cells) == 5 and re.fullmatch(r"\d+\.\d+\.\d+", cells[2]):
            rows.append({"target": cells[0], "upstream": cells[2], "results": int(cells[3]),
                         "knobs": int(cells[4]) if cells[4].isdigit() else None})
    return rows


def _series(version: str) -> str:
    return ".".join(version.split(".")[:2])


def test_the_recorded_run_page_lists_kernels():
    assert len(_recorded()) >= 2


def test_the_docs_name_a_recorded_series_only_at_its_recorded_version():
    recorded = {_series(r["upstream"]): r["upstream"] for r in _recorded()}
    stale = []
    for page, text in _pages():
        for match in VERSION.finditer(text):
            version = match.group(0)
            if _series(version) in recorded and version != recorded[_series(version)] \
                    and not HISTORY.search(text[max(0, match.start() - 8):match.start()]):
                line = text.count("\n", 0, match.start()) + 1
                stale.append(f"{page}:{line}: {version} (recorded: {recorded[_series(version)]})")
    assert not stale, "stale kernel versions; say 'was X' or take them from docs/recorded-run.md:\n" + "\n".join(stale)


def test_the_docs_count_knobs_and_results_as_the_recorded_run():
    recorded = _recorded()
    knobs = {_series(r["upstream"]): r["knobs"] for r in recorded}
    text = "\n".join(text for _, text in _pages())
    # "92 knobs on 5.10, 94 on 6.1, ..."
    for listing in re.findall(r"\d+ knobs on \d+\.\d+(?:,? (?:and )?\d+ on \d+\.\d+)*", text):
        for count, series in re.findall(r"(\d+) (?:knobs )?on (\d+\.\d+)", listing):
            if series in knobs:
                assert int(count) == knobs[series], f"README: {count} knobs on {series}; recorded {knobs[series]}"
    results = {r["results"] for r in recorded}
    for count in re.findall(r"\b(\d+) results\b", text):
        assert int(count) in results, f"README: {count} results; the recorded run has {sorted(results)}"
