"""The HTML report as a person sees it: rendered by headless Chromium (Debian's `chromium`).

Checks that a five-kernel report loads without console messages (it has no script,
so any message is an error), that the differences section and the ladders are in
the page and visible (their colours are on the screenshot), and that text from the
kernel or the user (release strings, reasons, sysctl values, observations, notes in
an exchange) is shown as text, never run as markup.
"""
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
from PIL import Image

from reports import render_report

from .builders import result, write_target

CHROMIUM = shutil.which("chromium")
FIXTURES = Path(__file__).parent / "fixtures"
# Run as markup, each would change the page's title or add an element with id "pwned".
PAYLOADS = ('<script>document.title="pwned"</script>', '<img id="pwned" src="x" onerror="document.title=\'pwned\'">')
KERNELS = (("debian:bullseye", "5.10.223"), ("debian:bookworm", "6.1.176"), ("debian:trixie", "6.12.107"),
           ("host", "6.18.44"), ("debian:sid", "7.2.13"))
S1A, S3C = "S1/SelfConnect.S1a_Explicit/ipv4_loopback", "S3/TimeWait.S3c_CraftedStaleRst/ipv4"
CRAFTED_PURPLE = (0x82, 0x50, 0xDF)  # ladder.RULES: a crafted segment's arrow
DIFFERENCE_YELLOW = (0xFF, 0xFB, 0xEB)  # --diff-bg: the differences section


def _chromium(*args: str, profile: Path) -> subprocess.CompletedProcess:
    assert CHROMIUM, "chromium is missing: ci/setup.sh installs it (Debian package chromium)"
    command = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
               "--disable-component-update", "--disable-sync", "--no-first-run", f"--user-data-dir={profile}",
               "--enable-logging=stderr", "--v=0", *args]
    return subprocess.run(command, capture_output=True, text=True, timeout=120,
                          env={**os.environ, "HOME": str(profile)})


def _five_kernel_run(run: Path) -> None:
    for index, (name, upstream) in enumerate(KERNELS):
        old = index == 0
        new_paws = tuple(map(int, upstream.split("."))) >= (6, 14)
        results = [
            result(S1A, "S1a", observations={"TcpExtTCPChallengeACK_delta": 1 if old else 0, "banner": PAYLOADS[0]},
                   key_observations=["TcpExtTCPChallengeACK_delta", "banner"],
                   applied=[{"kernels": "<6.11" if old else ">=6.11", "source": "23e89e8ee7be tcp: Don't drop SYN+ACK "
                             "for simultaneous connect() (v6.11)", "observations": ["TcpExtTCPChallengeACK_delta"]}]),
            result(S3C, "S3c-crafted-rst", observations={"stale_old_ack_TcpOutSegs_delta": 0 if new_paws else 1},
                   key_observations=["stale_old_ack_TcpOutSegs_delta"],
                   applied=[{"kernels": ">=6.14" if new_paws else "<6.14", "source": "124c4c32e9f3 tcp: add "
                             "TCP_RFC7323_PAWS_ACK drop reason (v6.14)", "observations": ["stale_old_ack_TcpOutSegs_delta"]}]),
            result("S3/TimeWait.S3a_Restart/ipv4", "S3a", "skipped", reason=f"needs {PAYLOADS[1]}"),
        ]
        for item in results:
            item["sysctls"] = {"net.ipv4.tcp_tw_reuse": PAYLOADS[1]}
        target = write_target(run, name, upstream, results)
        doc = json.loads((target / "results.json").read_text())
        doc["target"]["kernel"]["release"] = f"{upstream}-{PAYLOADS[0]}"
        (target / "results.json").write_text(json.dumps(doc))
        self_connect = json.loads((FIXTURES / "s1a_self.host.exchange.json").read_text())
        if not old:
            self_connect["segments"] = self_connect["segments"][:3]
        self_connect["capture"] = "client.pcap"
        (target / "evidence" / S1A / "client.exchange.json").write_text(json.dumps(self_connect))
        crafted = json.loads((FIXTURES / "s3c_crafted.client.exchange.json").read_text())
        if new_paws:  # from 6.14 the stale old ACK is dropped silently: no answer
            crafted["segments"] = [s for s in crafted["segments"] if s["tsval"] != 5010]
        (target / "evidence" / S3C / "client.exchange.json").write_text(json.dumps(crafted))


@pytest.fixture(scope="module")
def rendered(tmp_path_factory):
    base = tmp_path_factory.mktemp("browser")
    _five_kernel_run(base / "run")
    html = render_report([base / "run"], base / "report").html
    url = html.as_uri()
    dom = _chromium("--dump-dom", url, profile=base / "profile-dom")
    # A laptop's width; tall enough to hold the differences section.
    shot = _chromium("--window-size=1366,2400", f"--screenshot={base / 'shot.png'}", url, profile=base / "profile-shot")
    return dom, shot, base / "shot.png"


def test_five_kernels_fit_a_laptop_screen(rendered, tmp_path):
    """No horizontal scrolling at 1366 px: measured by a probe added to a copy of the page."""
    report = Path(rendered[2]).parent / "report" / "report.html"
    probe = report.with_name("probe.html")
    probe.write_text(report.read_text().replace("</body>", "<script>onload = () => console.log('width', "
                     "document.documentElement.scrollWidth, document.documentElement.clientWidth)</script></body>"))
    dom = _chromium("--window-size=1366,900", "--dump-dom", probe.as_uri(), profile=tmp_path / "profile")
    widths = [line.split('"width ', 1)[1].split('"', 1)[0].split() for line in _console(dom.stderr) if '"width ' in line]
    assert widths and int(widths[0][0]) <= int(widths[0][1]), widths


def _console(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if ":CONSOLE" in line]


def test_the_page_loads_without_console_messages(rendered):
    dom, shot, _ = rendered
    assert dom.returncode == 0 and shot.returncode == 0, dom.stderr[-2000:] + shot.stderr[-2000:]
    assert _console(dom.stderr + shot.stderr) == []
    assert "<h1>tcprepro report</h1>" in dom.stdout


def test_a_console_error_would_be_seen(tmp_path):
    page = tmp_path / "broken.html"
    page.write_text("<!doctype html><p>x</p><script>undefinedFunction();</script>")
    dom = _chromium("--dump-dom", page.as_uri(), profile=tmp_path / "profile")
    assert any("undefinedFunction" in line for line in _console(dom.stderr))


def test_differences_come_first_with_the_ladders_side_by_side(rendered):
    page = rendered[0].stdout
    differences = page.index('<h2 id="differences">')
    assert differences < page.index('<h2 id="results">') < page.index("<h2>Details</h2>")
    section = page[differences:page.index('<h2 id="results">')]
    assert "Differences between kernels: 2 of 3 rows" in section
    # S1a: bullseye alone, then the four newer; S3c: three older, then the two from 6.14.
    assert section.count('<div class="behaviour">') == 4
    assert section.count('<svg class="ladder"') == 4
    assert "23e89e8ee7be tcp: Don't drop SYN+ACK for simultaneous connect() (v6.11)" in section
    assert "124c4c32e9f3 tcp: add TCP_RFC7323_PAWS_ACK drop reason (v6.14)" in section


def test_the_screenshot_shows_the_differences_and_a_ladder(rendered):
    image = Image.open(rendered[2]).convert("RGB")
    colours = {colour for _, colour in image.getcolors(maxcolors=1 << 20)}
    assert len(colours) > 50  # not blank
    assert DIFFERENCE_YELLOW in colours
    assert any(_near(colour, CRAFTED_PURPLE) for colour in colours)  # a crafted segment's arrow, on screen


def _near(colour, wanted, tolerance=8) -> bool:
    return all(abs(a - b) <= tolerance for a, b in zip(colour, wanted))


def test_text_from_kernels_and_users_is_not_run_as_markup(rendered):
    page = rendered[0].stdout
    # The serialised DOM escapes < and & in text: an element would show as "<img id=...".
    assert '<img id="pwned"' not in page and "<title>pwned" not in page and "<script" not in page
    # Each was shown as text: the release string, the skip reason, the sysctl value, the observation.
    assert page.count("&lt;script&gt;document.title=\"pwned\"&lt;/script&gt;") >= 5
    assert page.count("&lt;img id=\"pwned\"") >= 5
