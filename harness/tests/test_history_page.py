"""The history page as a person sees it, rendered by headless Chromium (Debian's `chromium`):
it loads without console messages, sorts by flips and by current streak, marks the flaky
draws on screen, links every cell to evidence that exists, and shows text from kernels and
results as text."""
import json
import re

import pytest
from PIL import Image

from cli.history import classes, load, page, store
from harness.tests.test_history_classes import fill
from reports.tests.test_browser import PAYLOADS, _chromium, _console

GOOD, BAD = (0x1A, 0x7F, 0x37), (0xCF, 0x22, 0x2E)  # --good, --bad: a passing and a changed cell
OUTLINE = (0x1F, 0x23, 0x28)  # --fg: the ring around a draw unlike its series' usual behaviour


@pytest.fixture(scope="module")
def written(tmp_path_factory):
    base = tmp_path_factory.mktemp("history-page")
    text = str(base / "h.sqlite")
    fill(text, base)
    # A kernel release from a guest is text from outside: it must never become markup.
    for results in base.glob("runs/*/host/results.json"):
        doc = json.loads(results.read_text())
        doc["target"]["kernel"]["release"] = "6.18.44-" + PAYLOADS[1]
        results.write_text(json.dumps(doc))
    hostile = base / "hostile.sqlite"
    from cli.history import ingest
    from reports.load import load_result_sets
    opened = store.open_store(str(hostile), create=True)
    ingest.add(opened, load_result_sets([base / "runs"]))
    opened.close()
    pages = {}
    for name, path in (("plain", text), ("hostile", str(hostile))):
        opened = store.open_store(path, create=False)
        with opened.read() as connection:
            runs, samples = load.runs(connection), load.samples(connection)
        opened.close()
        pages[name] = page.write(classes.classify(samples, runs), runs, base / name, PAYLOADS[0])
    return pages


def _order(dom: str) -> list[str]:
    return re.findall(r'<tr data-id="([^"]+)"', dom)


def test_the_page_loads_without_console_messages_and_sorts(written, tmp_path):
    url = written["plain"].as_uri()
    by_flips = _chromium("--dump-dom", url, profile=tmp_path / "a")
    by_streak = _chromium("--dump-dom", url + "#streak", profile=tmp_path / "b")
    assert by_flips.returncode == 0 and by_streak.returncode == 0, by_flips.stderr[-2000:]
    assert _console(by_flips.stderr + by_streak.stderr) == []
    assert _order(by_flips.stdout) == ["S3b/ipv4", "S9z/new", "S1a/ipv4", "S2a/ipv4"]
    # Shortest current streak first: the new result (2 runs), then the rest by flips and id.
    assert _order(by_streak.stdout) == ["S9z/new", "S3b/ipv4", "S1a/ipv4", "S2a/ipv4"]
    assert 'data-sort="streak" aria-pressed="true"' in by_streak.stdout


def test_every_cell_links_to_evidence_that_exists(written):
    html = written["plain"].read_text()
    links = re.findall(r'<a href="([^"]+)" title="run-\d+', html)
    assert len(links) == 16 * 3 + 2  # every run of S1a, S3b, S2a and the two of S9z
    assert all((written["plain"].parent / link).is_file() for link in links)


def test_the_screenshot_shows_passes_changes_and_the_ringed_flaky_draws(written, tmp_path):
    shot = tmp_path / "shot.png"
    result = _chromium("--window-size=1366,600", f"--screenshot={shot}", written["plain"].as_uri(),
                       profile=tmp_path / "p")
    assert result.returncode == 0, result.stderr[-2000:]
    colours = {colour for _, colour in Image.open(shot).convert("RGB").getcolors(maxcolors=1 << 20)}
    assert {GOOD, BAD, OUTLINE} <= colours


def test_text_from_results_and_kernels_is_not_run_as_markup(written, tmp_path):
    dom = _chromium("--dump-dom", written["hostile"].as_uri(), profile=tmp_path / "p")
    assert _console(dom.stderr) == []
    assert '<img id="pwned"' not in dom.stdout and "<title>pwned" not in dom.stdout
    assert dom.stdout.count("&lt;img id=\"pwned\"") >= 1  # the release, shown as text
    assert "&lt;script&gt;document.title=\"pwned\"&lt;/script&gt;" in dom.stdout  # the store's name
