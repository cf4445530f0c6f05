"""Configurations beside kernels, and the kernel surface section."""
from reports.load import load_result_sets
from reports.model import build_report

from .builders import result, write_target

NO_TS = {"kernels": ">=4.18", "source": "tcp_twsk_unique(): reuse needs a recorded timestamp.",
         "observations": ["reused"], "when": {"net.ipv4.tcp_timestamps": "0"}}
WITH_TS = {"kernels": ">=4.18", "source": "tcp_twsk_unique(): the reused socket gets write_seq + 65537.",
           "observations": ["reused"]}


def _reuse(reused: bool, applied: dict, pinned=None) -> dict:
    entry = result("S3/TimeWait.S3c_HeldRst/ipv4", "S3c-held-rst", observations={"reused": reused},
                   key_observations=["reused"], applied=[applied])
    entry["configuration"] = {"name": "x", "pinned": pinned or {}, "suspended": False}
    return entry


def test_a_configuration_is_a_column_and_a_difference_names_its_sysctls(tmp_path):
    run = tmp_path / "run"
    write_target(run, "host", "6.18.44", [_reuse(True, WITH_TS)],
                 configuration={"name": "defaults", "sysctls": {}})
    write_target(run, "host", "6.18.44", [_reuse(False, NO_TS)], dir_name="host@proposed",
                 configuration={"name": "proposed", "sysctls": {"net.ipv4.tcp_timestamps": "0"}})
    report = build_report(load_result_sets([run]), tmp_path / "out")
    assert [c.label for c in report.columns] == ["host", "host @ proposed"]
    assert report.columns[1].configuration == "net.ipv4.tcp_timestamps=0"
    (row,) = report.rows
    assert row.differs
    assert row.configurations == ["between configurations on 6.18.44-test: host ran with kernel defaults; "
                                  "host @ proposed ran with net.ipv4.tcp_timestamps=0"]
    cited = [c.expectation.headline for g in row.annotation.groups for c in g.cited]
    assert "with net.ipv4.tcp_timestamps=0: tcp_twsk_unique(): reuse needs a recorded timestamp." in cited
    assert not row.annotation.unexplained


def test_a_pinned_sysctl_is_labelled_in_the_cell(tmp_path):
    run = tmp_path / "run"
    pin = {"net.ipv4.tcp_tw_reuse": {"proposed": "1", "scenario": "0", "namespaces": ["client"]}}
    write_target(run, "host", "6.18.44", [_reuse(True, WITH_TS, pin)], dir_name="host@proposed",
                 configuration={"name": "proposed", "sysctls": {"net.ipv4.tcp_tw_reuse": "1"}})
    report = build_report(load_result_sets([run]), tmp_path / "out")
    (cell,) = report.rows[0].cells
    assert cell.notes == ["net.ipv4.tcp_tw_reuse=0 pinned by the scenario in client (proposed 1)"]


def _surface(table: dict, verdicts: dict) -> dict:
    return result("KernelSurfaceTable.S5_Surface", "S5-surface",
                  observations={"surface": table, "knob_verdicts": verdicts, "knobs_new": []})


def test_the_surface_section_lists_knobs_that_differ_and_new_ones(tmp_path):
    run = tmp_path / "run"
    knob = {"default": "1000", "per_netns": True, "global": False, "in_namespace": True}
    same = {"default": "1", "per_netns": True, "global": False, "in_namespace": True}
    cited = {"verdict": "as_expected", "source": "ca6a6f93867a (v6.14)"}
    write_target(run, "old", "6.1.176", [_surface({"net.ipv4.tcp_same": same}, {"net.ipv4.tcp_same": cited})])
    write_target(run, "new", "6.18.44", [_surface(
        {"net.ipv4.tcp_same": same, "net.ipv4.tcp_tw_reuse_delay": knob, "net.ipv4.tcp_unknown": same},
        {"net.ipv4.tcp_same": cited, "net.ipv4.tcp_tw_reuse_delay": cited,
         "net.ipv4.tcp_unknown": {"verdict": "new", "source": None}})])
    report = build_report(load_result_sets([run]), tmp_path / "out")
    rows = {k.name: k for k in report.knobs}
    assert set(rows) == {"net.ipv4.tcp_tw_reuse_delay", "net.ipv4.tcp_unknown"}
    assert rows["net.ipv4.tcp_tw_reuse_delay"].cells == ["absent", "1000"]
    assert rows["net.ipv4.tcp_tw_reuse_delay"].sources == ["ca6a6f93867a (v6.14)"]
    assert rows["net.ipv4.tcp_unknown"].flagged


def test_both_formats_render_configurations_and_the_surface(tmp_path):
    from reports import render_report
    run = tmp_path / "run"
    write_target(run, "host", "6.18.44", [_reuse(True, WITH_TS), _surface({}, {})],
                 configuration={"name": "defaults", "sysctls": {}})
    write_target(run, "host", "6.18.44", [_reuse(False, NO_TS), _surface(
        {"net.ipv4.tcp_x": {"default": "1", "in_namespace": True}}, {"net.ipv4.tcp_x": {"verdict": "new"}})],
        dir_name="host@proposed", configuration={"name": "proposed", "sysctls": {"net.ipv4.tcp_timestamps": "0"}})
    paths = render_report([run], tmp_path / "out")
    md, html = paths.md.read_text(), paths.html.read_text()
    assert "host @ proposed" in md and "between configurations on 6.18.44-test" in md
    assert "Kernel surface" in md and "new: not in the catalogue" in md
    assert "between configurations on 6.18.44-test" in html and "new: not in the catalogue" in html
