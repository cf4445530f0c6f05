"""The comparison across kernels: rows, differences, annotations, columns (reports/model.py and below)."""

from pathlib import Path

from reports import render_report
from reports.differences import CLAIM, OUTCOME, VERDICT
from reports.load import load_result_sets
from reports.model import build_report

from .builders import ALWAYS, COMMIT, NEW_CHALLENGE, OLD_CHALLENGE, result, variants, write_target

S1A_KEYS = ["connect_errno", "state", "handshake", "TcpExtTCPChallengeACK_delta"]
FOUR = variants(family=["ipv4", "ipv6"], address=["loopback", "veth"])


def s1a(variant: dict, challenge: int, applied: list | None, **extra) -> dict:
    """An S1a result as the harness writes it: all observations, the catalogue's key pick."""
    name = "_".join(variant.values())
    observations = {"connect_errno": "0", "state": "ESTABLISHED", "local": f"{name}:40008",
                    "handshake": ["S", "S.", "."] + ["."] * challenge,
                    "TcpExtTCPChallengeACK_delta": challenge, "TcpExtTCPSYNChallenge_delta": challenge,
                    **extra.pop("observations", {})}
    return result(f"S1a/{name}", "S1a", observations=observations, variant=variant,
                  key_observations=extra.pop("key_observations", S1A_KEYS), applied=applied, **extra)


def old_kernel(**extra) -> list[dict]:
    return [s1a(v, 1, [ALWAYS, OLD_CHALLENGE], **extra) for v in FOUR]


def new_kernel(**extra) -> list[dict]:
    return [s1a(v, 0, [ALWAYS, NEW_CHALLENGE], **extra) for v in FOUR]


def build(tmp_path: Path, *dirs: Path):
    return build_report(load_result_sets(list(dirs)), tmp_path / "report")


def five_kernels(tmp_path: Path) -> Path:
    run = tmp_path / "run"
    write_target(run, "debian:sid", "7.2.13", new_kernel(), accelerator="tcg")
    write_target(run, "debian:bullseye", "5.10.223", old_kernel(), accelerator="tcg")
    write_target(run, "host", "6.18.44", new_kernel())
    write_target(run, "debian:trixie", "6.12.107", new_kernel(), accelerator="tcg")
    write_target(run, "debian:bookworm", "6.1.176", new_kernel(), accelerator="tcg")
    return run


# Columns


def test_columns_read_oldest_to_newest_with_the_host_where_its_version_falls(tmp_path):
    report = build(tmp_path, five_kernels(tmp_path))
    assert [c.label for c in report.columns] == [
        "debian:bullseye", "debian:bookworm", "debian:trixie", "host", "debian:sid"]


def test_one_run_is_listed_once_with_its_targets(tmp_path):
    report = build(tmp_path, five_kernels(tmp_path))
    assert len(report.runs) == 1
    assert report.runs[0].targets == tuple(c.label for c in report.columns)


def test_same_target_from_two_runs_appears_twice_told_apart_by_run_id(tmp_path):
    first = write_target(tmp_path / "monday", "host", "6.18.44", new_kernel(), run_id="20261122-010000")
    second = write_target(tmp_path / "tuesday", "host", "6.18.44", old_kernel(), run_id="20261123-010000")
    report = build(tmp_path, first, second)
    assert [c.label for c in report.columns] == ["host · 20261122-010000", "host · 20261123-010000"]
    assert [run.id for run in report.runs] == ["20261122-010000", "20261123-010000"]
    # Same upstream version twice: annotations name the columns by label instead.
    assert report.rows[0].annotation.groups[0].kernels == ["host · 20261122-010000"]


def test_same_target_and_run_id_from_two_machines_told_apart_by_directory(tmp_path):
    a = write_target(tmp_path / "machine-a", "host", "6.18.44", new_kernel())
    b = write_target(tmp_path / "machine-b", "host", "6.18.44", new_kernel())
    report = build(tmp_path, a, b)
    assert len({c.label for c in report.columns}) == 2
    assert all(str(tmp_path / "machine-") in c.label for c in report.columns)
    assert len(report.runs) == 2


# Key observations and variants


def test_a_cell_shows_the_key_observations_only_and_details_keep_the_rest(tmp_path):
    report = build(tmp_path, write_target(tmp_path / "run", "host", "6.18.44", new_kernel()))
    cell = report.rows[0].cells[0]
    assert [v.key for v in cell.values] == S1A_KEYS
    view = cell.views[0]
    assert {o.key for o in view.observations} >= {"local", "TcpExtTCPSYNChallenge_delta"}
    assert [o.key for o in view.observations if o.is_key] == S1A_KEYS  # key observations first


def test_variants_identical_on_every_kernel_share_one_row(tmp_path):
    report = build(tmp_path, five_kernels(tmp_path))
    assert len(report.rows) == 1
    assert report.rows[0].variants == "all 4 (ipv4/ipv6 × loopback/veth)"
    assert [d.variant for d in report.rows[0].details] == [
        "ipv4 loopback", "ipv4 veth", "ipv6 loopback", "ipv6 veth"]


def test_a_variant_that_differs_on_one_kernel_gets_its_own_row(tmp_path):
    run = tmp_path / "run"
    odd = new_kernel()
    odd[3]["observations"]["state"] = "SYN_SENT"  # ipv6 veth
    write_target(run, "old", "6.6.0", new_kernel())
    write_target(run, "new", "6.12.3", odd)
    rows = build(tmp_path, run).rows
    assert [row.variants for row in rows] == ["ipv4 loopback, ipv4 veth, ipv6 loopback", "ipv6 veth"]
    assert [row.differences for row in rows] == [[], ["state"]]


def test_measured_values_do_not_keep_variants_apart_and_show_their_range(tmp_path):
    retries = [result(f"S1b/{'_'.join(v.values())}", "S1b", variant=v,
                      observations={"self_connected": True, "attempts": n, "elapsed_ms": n / 3},
                      key_observations=["self_connected", "attempts", "elapsed_ms"])
               for v, n in zip(FOUR, [3, 17, 6, 3])]
    report = build(tmp_path, write_target(tmp_path / "run", "host", "6.18.44", retries))
    (row,) = report.rows
    values = {v.key: v for v in row.cells[0].values}
    assert values["attempts"].text == "3–17" and values["attempts"].measured
    assert values["elapsed_ms"].measured and not values["self_connected"].measured


# Differences


def test_a_behaviour_key_observation_that_differs_marks_the_row_and_its_values(tmp_path):
    row = build(tmp_path, five_kernels(tmp_path)).rows[0]
    assert row.differences == ["handshake", "TcpExtTCPChallengeACK_delta"]
    for cell in row.cells:
        assert [v.key for v in cell.values if v.differs] == ["handshake", "TcpExtTCPChallengeACK_delta"]


def test_timings_and_run_to_run_counts_are_not_differences(tmp_path):
    run = tmp_path / "run"
    keys = S1A_KEYS + ["elapsed_ms", "attempts"]
    for name, version, elapsed, attempts in [("a", "6.6.0", 0.2, [3, 3, 17, 6]), ("b", "6.12.3", 41.0, [9, 1, 1, 1])]:
        write_target(run, name, version, [
            s1a(v, 0, [ALWAYS, NEW_CHALLENGE], key_observations=keys,
                observations={"elapsed_ms": elapsed, "attempts": n})
            for v, n in zip(FOUR, attempts)])
    (row,) = build(tmp_path, run).rows
    assert row.differences == []
    assert {v.key for v in row.cells[0].values if v.measured} == {"elapsed_ms", "attempts"}


def test_a_measurement_judged_by_different_expectations_on_two_kernels_is_a_cited_difference(tmp_path):
    # Reuse waits vary from run to run, but before and after a change they are judged by
    # different expectations: that is a change the catalogue knows, so the row differs.
    whole_second = {"kernels": "<6.14", "source": "before 19ce8cd30465: the next whole second",
                    "observations": ["reuse_wait_ms"]}
    exact_delay = {"kernels": ">=6.14", "source": "19ce8cd30465 tcp: Measure TIME-WAIT reuse delay (v6.14)",
                   "observations": ["reuse_wait_ms"]}
    run = tmp_path / "run"
    keys = S1A_KEYS + ["reuse_wait_ms"]
    for name, version, waits, expectation in [("a", "6.12.3", [366.8, 892.8, 211.7, 500.1], whole_second),
                                              ("b", "6.18.4", [990.9, 992.7, 991.2, 995.0], exact_delay),
                                              ("c", "7.2.1", [993.3, 990.2, 991.0, 999.9], exact_delay)]:
        write_target(run, name, version, [
            s1a(v, 0, [ALWAYS, NEW_CHALLENGE, expectation], key_observations=keys,
                observations={"reuse_wait_ms": wait})
            for v, wait in zip(FOUR, waits)])
    (row,) = build(tmp_path, run).rows
    assert row.differences == ["reuse_wait_ms"]
    groups = row.annotation.groups
    assert [g.kernels for g in groups] == [["6.12.3"], ["6.18.4", "7.2.1"]]
    assert [c.expectation.source for c in groups[1].cited] == [exact_delay["source"]]
    # Each kernel's first variant stands for the row's.
    assert [g.shown for g in groups] == [[("reuse_wait_ms", "366.8")], [("reuse_wait_ms", "990.9, 993.3")]]


def test_new_behaviour_without_mismatch_is_not_a_difference_with_one_it_is(tmp_path):
    run = tmp_path / "run"
    write_target(run, "debian:trixie", "6.12.107", new_kernel())
    write_target(run, "debian:sid", "7.2.13", new_kernel(verdict="new_behaviour"))
    assert build(tmp_path, run).rows[0].differences == []
    sid = new_kernel(verdict="new_behaviour", mismatches=[{"observation": "state", "expected": "ESTABLISHED",
                                                           "observed": "ESTABLISHED"}])
    other = tmp_path / "other"
    write_target(other, "debian:trixie", "6.12.107", new_kernel())
    write_target(other, "debian:sid", "7.2.13", sid)
    assert build(tmp_path, other).rows[0].differences == [VERDICT]


def test_outcome_and_claim_differences_are_named(tmp_path):
    run = tmp_path / "run"
    write_target(run, "a", "6.6.0", new_kernel())
    write_target(run, "b", "6.12.3", new_kernel(claim="refuted"))
    write_target(run, "c", "6.18.1", [s1a(v, 0, [ALWAYS, NEW_CHALLENGE], outcome="skipped", reason="no veth")
                                      for v in FOUR])
    row = build(tmp_path, run).rows[0]
    assert row.differences == [OUTCOME, CLAIM]
    shown = {tuple(g.kernels): g.shown for g in row.annotation.groups}
    assert shown[("6.18.1",)] == [(OUTCOME, "skipped: no veth")]


# Annotations


def test_each_kernel_group_cites_the_expectation_that_applies_to_it_alone(tmp_path):
    annotation = build(tmp_path, five_kernels(tmp_path)).rows[0].annotation
    assert not annotation.unexplained
    old, new = annotation.groups
    assert old.kernels == ["5.10.223"] and new.kernels == ["6.1.176", "6.12.107", "6.18.44", "7.2.13"]
    assert ("TcpExtTCPChallengeACK_delta", "1") in old.shown and ("handshake", "[S, S., ., .]") in old.shown
    assert [c.expectation.kernels for c in old.cited] == [">=3.6,<6.11"]
    assert [c.expectation.headline for c in new.cited] == [COMMIT]
    # The expectation every kernel had cannot explain a difference.
    assert all(c.expectation.kernels != ">=3.6" for g in annotation.groups for c in g.cited)


def test_an_expectation_that_constrains_no_differing_observation_is_not_cited(tmp_path):
    run = tmp_path / "run"
    unrelated = {"kernels": ">=6.12", "source": "abcdef123456 tcp: something else (v6.12): why",
                 "observations": ["echo_to_self"]}
    write_target(run, "a", "6.6.0", [s1a(v, 1, [ALWAYS, OLD_CHALLENGE]) for v in FOUR])
    write_target(run, "b", "6.12.3", [s1a(v, 0, [ALWAYS, NEW_CHALLENGE, unrelated]) for v in FOUR])
    annotation = build(tmp_path, run).rows[0].annotation
    cited = [c.expectation.kernels for g in annotation.groups for c in g.cited]
    assert cited == [">=3.6,<6.11", ">=6.11"]


def test_a_difference_no_expectation_explains_is_flagged(tmp_path):
    run = tmp_path / "run"
    write_target(run, "a", "6.6.0", [s1a(v, 1, [ALWAYS]) for v in FOUR])
    write_target(run, "b", "6.12.3", [s1a(v, 0, [ALWAYS]) for v in FOUR])
    annotation = build(tmp_path, run).rows[0].annotation
    assert annotation.unexplained and all(not g.cited for g in annotation.groups)


def test_results_older_than_applied_are_split_from_the_joined_strings(tmp_path):
    run = tmp_path / "run"
    legacy_old = [s1a(v, 1, None) for v in FOUR]
    legacy_new = [s1a(v, 0, None) for v in FOUR]
    for item, entries in [(r, [ALWAYS, OLD_CHALLENGE]) for r in legacy_old] + [(r, [ALWAYS, NEW_CHALLENGE])
                                                                               for r in legacy_new]:
        item["expectation"]["kernels"] = " ; ".join(e["kernels"] for e in entries)
        item["expectation"]["source"] = " | ".join(e["source"] for e in entries)
    write_target(run, "a", "5.10.223", legacy_old)
    write_target(run, "b", "6.12.3", legacy_new)
    annotation = build(tmp_path, run).rows[0].annotation
    assert [[c.expectation.kernels for c in g.cited] for g in annotation.groups] == [[">=3.6,<6.11"], [">=6.11"]]


# TCG and failed guests


def test_tcg_columns_and_their_timings_are_flagged(tmp_path):
    run = tmp_path / "run"
    write_target(run, "host", "6.18.44", new_kernel(observations={"elapsed_ms": 0.2}))
    write_target(run, "debian:bookworm", "6.1.176", new_kernel(observations={"elapsed_ms": 9.0}), accelerator="tcg")
    report = build(tmp_path, run)
    assert [c.emulated for c in report.columns] == [True, False]
    details = report.rows[0].details[0]
    flagged = [[o.key for o in view.observations if o.emulated] for view in details.views]
    assert flagged == [["elapsed_ms"], []]
    html = render_report([run], tmp_path / "out").html.read_text()
    assert html.count("TCG: timings emulated</span>") >= 2  # kernels table and results header


def test_a_failed_guest_shows_its_error_and_console_log_and_is_left_out_of_the_comparison(tmp_path):
    run = tmp_path / "run"
    write_target(run, "host", "6.18.44", new_kernel())
    failed = [s1a(v, 0, [ALWAYS, NEW_CHALLENGE], outcome="error",
                  reason="guest did not finish: boot timed out after 120 s") for v in FOUR]
    target = write_target(run, "debian:sid", "7.2.13", failed, accelerator="tcg",
                          error="boot timed out after 120 s", console_log="console.log")
    (target / "console.log").write_text("Booting from ROM..\n")
    report = build(tmp_path, run)
    sid = report.columns[1]
    assert sid.error == "boot timed out after 120 s" and sid.console_log.exists
    assert sid.console_log.href == "../run/debian-sid/console.log"
    (row,) = report.rows
    assert row.differences == [] and row.cells[1].guest_failed
    html = render_report([run], tmp_path / "report").html.read_text()
    assert "guest did not finish: boot timed out after 120 s" in html
    assert 'href="../run/debian-sid/console.log"' in html


# Markdown


def test_markdown_lists_the_differences_first_with_their_full_citation(tmp_path):
    md = render_report([five_kernels(tmp_path)], tmp_path / "report").md.read_text()
    table_row = next(line for line in md.splitlines() if line.startswith("| ◆ Δ1 **S1a**"))
    assert "**`TcpExtTCPChallengeACK_delta=1`**" in table_row and "`local=" not in table_row
    listing = md.split("## Differences between kernels")[1].split("## All results")[0]
    assert md.index("## Differences between kernels") < md.index("## All results")
    assert "### Δ1 S1a" in listing and "Variants: all 4 (ipv4/ipv6 × loopback/veth)" in listing
    assert "- **debian:bullseye (5.10.223)**: " in listing and "0c24604b68fc tcp: implement RFC 5961 4.2 (v3.6)" in listing
    assert "- **debian:bookworm (6.1.176), debian:trixie (6.12.107), host (6.18.44), debian:sid (7.2.13)**: " in listing
    assert COMMIT in listing
    assert "⏱ timings emulated" in md
