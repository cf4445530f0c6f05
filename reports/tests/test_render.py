import re
from pathlib import Path
from urllib.parse import unquote

import pytest

from reports import render_report
from reports.values import short_text

from .builders import SCRIPT, result, standard_results, write_target

S1A = "S1a/ipv4_loopback"
CHANGED_S1A = dict(
    observations={"connect_errno": "111", "local_equals_peer": True, "rtt_ms": list(range(10)), "banner": SCRIPT},
    claim="refuted",
)


def render(tmp_path: Path, *dirs: Path) -> tuple[str, str, Path]:
    out = tmp_path / "report"
    written = render_report(list(dirs), out)
    assert (written.html, written.md) == (out / "report.html", out / "report.md")
    return written.html.read_text(), written.md.read_text(), out


@pytest.fixture
def one_kernel(tmp_path):
    return render(tmp_path, write_target(tmp_path / "run", "host", "6.6.0", standard_results()))


@pytest.fixture
def two_kernels(tmp_path):
    run = tmp_path / "run"
    write_target(run, "new", "6.12.3", standard_results(**CHANGED_S1A))
    write_target(run, "old", "6.6.0", standard_results())
    return render(tmp_path, run)


def test_every_result_appears_in_both_reports(one_kernel):
    html, md, _ = one_kernel
    for item in standard_results():
        assert item["id"] in html  # the details section names each result
        assert f"**{item['scenario']}**" in md  # the compact table names each scenario


def test_verdicts_carry_their_colour_class(one_kernel):
    html, md, _ = one_kernel
    for badge in ('class="badge good">passed', 'class="badge muted">skipped', 'class="badge bad">error',
                  'class="badge claim-holds"', 'class="badge claim-refuted"',
                  'class="badge good">as expected', 'class="badge bad">unexpected', 'class="badge muted">none'):
        assert badge in html
    assert "| 🟢🔴 ⭕ claim refuted<br>" in md and "| 🟢🟢 🟣 claim holds<br>" in md  # outcome and expectation dots


def test_a_hazard_reads_reachable_or_not_reachable_and_a_property_holds_or_refuted(tmp_path):
    hazard = dict(observations={"reused": True}, claim_kind="hazard")
    run = tmp_path / "run"
    write_target(run, "old", "6.6.0", [result("S3c/ipv4", "S3c", claim="holds", **hazard),
                                      result("S3f/ipv4", "S3f", claim="refuted", observations={"x": 1},
                                             claim_kind="property")])
    write_target(run, "new", "6.12.3", [result("S3c/ipv4", "S3c", claim="refuted", **hazard),
                                       result("S3f/ipv4", "S3f", claim="holds", observations={"x": 2},
                                              claim_kind="property")])
    html, md, _ = render(tmp_path, run)
    assert 'class="badge claim-holds hazard' in html and ">hazard reachable</span>" in html
    assert 'class="badge claim-refuted hazard' in html and ">hazard not reachable</span>" in html
    assert ">claim holds</span>" in html and ">claim refuted</span>" in html
    assert "⚠️ hazard reachable" in md and "🛡 hazard not reachable" in md and "⭕ claim refuted" in md


def test_header_names_run_revision_and_kernel(one_kernel):
    html, md, _ = one_kernel
    for text in ("20261122-030501", "2026-11-22 03:05 UTC", "v0.1-3-gabcdef0", "6.6.0-test"):
        assert text in html and text in md


def test_evidence_links_are_relative_and_resolve(two_kernels):
    html, md, out = two_kernels
    hrefs = re.findall(r'href="([^"#][^"]*)"', html) + re.findall(r"\]\(([^)]+)\)", md)
    assert len(set(hrefs)) == 2 * 4 * 3  # kernels × results × (pcap, log, evidence folder)
    for href in hrefs:
        assert not href.startswith("/") and "://" not in href
        assert (out / unquote(href)).exists(), href


def test_links_to_awkward_paths_are_percent_encoded(tmp_path):
    target = write_target(tmp_path / "run", "host", "6.6.0", [result("S9 odd#id/(x)", "S9a")])
    html, md, out = render(tmp_path, target)
    href = "../run/host/evidence/S9%20odd%23id/%28x%29/client.pcap"
    assert f'href="{href}"' in html
    assert (out / unquote(href)).is_file()


def test_missing_evidence_is_marked_not_linked(tmp_path):
    target = write_target(tmp_path / "run", "host", "6.6.0", standard_results(), make_evidence=False)
    html, md, _ = render(tmp_path, target)
    assert "<a href=\"../" not in html
    assert "pcap client (missing)" in html


def test_one_kernel_highlights_nothing(one_kernel):
    html, md, _ = one_kernel
    assert 'class="differs"' not in html and "◆" not in md


def test_identical_kernels_highlight_nothing(tmp_path):
    run = tmp_path / "run"
    write_target(run, "a", "6.6.0", standard_results())
    write_target(run, "b", "6.12.3", standard_results())
    html, md, _ = render(tmp_path, run)
    assert 'class="differs"' not in html and "◆" not in md


def test_a_skip_on_one_kernel_is_an_outcome_difference_with_its_reason(tmp_path):
    run = tmp_path / "run"
    write_target(run, "a", "6.6.0", standard_results())
    write_target(run, "b", "6.12.3", [result(S1A, "S1a", "skipped", reason="no ipv6")])
    html, md, _ = render(tmp_path, run)
    assert re.findall(r'<tr id="([^"]+)" class="differs">', html) == ["row-S1a"]
    assert "◆ differs: outcome" in html and "<code>skipped: no ipv6</code>" in html
    assert "not run on this kernel" in html


def test_differing_row_is_highlighted_and_values_emphasised(two_kernels):
    html, md, _ = two_kernels
    assert re.findall(r'<tr id="([^"]+)" class="differs">', html) == ["row-S1a"]
    assert "◆ differs: claim verdict, connect_errno" in html
    assert html.count('<li class="diff" title="connect_errno = ') == 2
    rtt_classes = re.findall(r'<li class="([^"]*)" title="rtt_ms = ', html)
    assert len(rtt_classes) == 2 and not any("diff" in c for c in rtt_classes)  # equal values do not differ
    assert html.index("old<br>") < html.index("new<br>")  # oldest kernel first
    assert "◆ Δ1 **S1a**" in md and "**`connect_errno=111`**" in md
    # Both kernels had the same expectation applied: it cannot explain the difference.
    assert "No known change explains this" in html and "No known change explains this" in md


def test_observation_strings_are_escaped(one_kernel):
    html, md, _ = one_kernel
    assert SCRIPT not in html
    assert "&lt;script&gt;alert(1)&lt;/script&gt;" in html
    assert f"`banner={SCRIPT}`" in md  # a code span shows it literally


def test_details_list_mismatches_sysctls_and_claim(one_kernel):
    html, md, _ = one_kernel
    details = html.split("<h2>Details</h2>")[1]
    assert '<th class="line">mismatches</th>\n        <td>challenge_ack_delta: expected 0, observed 1</td>' in details
    assert "net.ipv4.ip_local_port_range" in details and "claim of S2b" in details
    assert "| `S2_Rst.S2b_Challenge/ipv6` | host | `challenge_ack_delta` | `0` | `1` |" in md


def test_target_dir_and_run_dir_are_both_accepted(tmp_path):
    run = tmp_path / "run"
    old = write_target(run, "old", "6.6.0", standard_results())
    write_target(run, "new", "6.12.3", standard_results())
    html, _, _ = render(tmp_path, old, run)  # old is found twice and reported once
    assert html.count('<tr class="group">') == 3
    assert html.count("<th>old <span") == 4 and html.count("<th>new <span") == 4  # a detail table per result


def test_long_arrays_and_strings_are_shortened():
    assert short_text(list(range(10))) == "[0, 1, 2, …, 8, 9] (10 items)"
    assert short_text([1, 2]) == "[1, 2]"
    assert short_text("x" * 100).endswith("…") and len(short_text("x" * 100)) == 60
    assert short_text(True) == "true" and short_text(None) == "null"


def test_markdown_table_rows_stay_on_one_line(two_kernels):
    _, md, _ = two_kernels
    rows = [line for line in md.splitlines() if line.startswith("| ") and "S1a" in line]
    assert len(rows) == 1 and rows[0].count(" | ") >= 3


def test_the_summary_line_counts_the_rows_that_differ(tmp_path):
    run = tmp_path / "run"
    write_target(run, "new", "6.12.3", standard_results(**CHANGED_S1A))
    write_target(run, "old", "6.6.0", standard_results())
    assert render_report([run], tmp_path / "out").summary == "1 of 4 rows differ between 2 kernels"


def test_numbers_print_as_numbers():
    from reports.values import range_text
    assert range_text([999.4, 1000.2]) == "999.4–1000" and short_text(123456.7) == "123457"


def test_a_failed_shard_stays_in_its_kernels_column_and_run_lines_stay_apart(tmp_path):
    """Two jobs of `--kernel debian:sid --shard K/2`, the second's guest dead before it came up:
    one column for the kernel, with the error in it; each run on its own line of report.md."""
    import json
    good = [result("S1a/ipv4_loopback", "S1a")]
    failed = [result("S1b/ipv4_loopback", "S1b", outcome="error")]
    kernel = {"release": "7.2.13+deb14-amd64", "upstream": "7.2.13", "machine": "x86_64"}
    first = write_target(tmp_path / "job1", "debian:sid", "7.2.13", good, run_id="run-1", accelerator="tcg")
    second = write_target(tmp_path / "job2", "debian:sid", "7.2.13", failed, run_id="run-2", accelerator="tcg",
                            error="QEMU ended before the guest came up",
                            failed_boots=[{"attempt": n, "error": "oops", "console_log": "console.log"} for n in (1, 2, 3)])
    for folder, version in ((first, "#1 SMP PREEMPT_DYNAMIC Debian 7.2.13-1 (2026-11-20)"), (second, "Debian 7.2.13-1")):
        doc = json.loads((folder / "results.json").read_text())
        doc["target"]["kernel"] = {**kernel, "version": version}
        (folder / "results.json").write_text(json.dumps(doc))
    write_target(tmp_path / "job3", "host", "6.18.4", [result("S1a/ipv4_loopback", "S1a")], run_id="run-3")
    written = render_report([tmp_path / "job1", tmp_path / "job2", tmp_path / "job3"], tmp_path / "out")
    md = written.md.read_text()
    assert "debian:sid ·" not in md
    assert "guest did not finish: QEMU ended before the guest came up" in md
    assert "3 boots died before the guest came up" in md and "3 boots died" in written.html.read_text()
    run_lines = [line for line in md.splitlines() if line.startswith("- Run ")]
    assert len(run_lines) == 2 and all(line.count("Run ") == 1 for line in run_lines)
    table = md.index("| Target |")
    assert md[:table].endswith("\n\n")  # a blank line: the table is not glued to the run list
