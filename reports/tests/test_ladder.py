"""Ladder diagrams from the lab's exchange files: what is drawn, what is marked, what is escaped."""
import json
import shutil
import xml.etree.ElementTree as ET
from pathlib import Path

import pytest

from contract import ladder
from reports import render_report

from .builders import SCRIPT, result, write_target

FIXTURES = Path(__file__).parent / "fixtures"
SVG = "{http://www.w3.org/2000/svg}"
CRAFTED = FIXTURES / "s3c_crafted.client.exchange.json"
SELF = FIXTURES / "s1a_self.host.exchange.json"
HELD = FIXTURES / "s3c_held.client.exchange.json"


def groups(svg_text: str) -> list[ET.Element]:
    return ET.fromstring(svg_text).findall(f"{SVG}g")


def test_one_arrow_per_segment_with_its_label_and_time():
    exchange = ladder.load(CRAFTED)
    drawn = groups(ladder.svg(exchange))
    assert len(drawn) == len(exchange.segments) == 12
    texts = ["".join(g.itertext()) for g in drawn]
    assert "S. seq 0 ack 1 len 0 TS 9000/4000" in texts[1] and "1.3 ms" in texts[1]
    assert "1003.5 ms" in texts[6]  # time since the story started, in one unit


def test_crafted_held_dropped_delayed_come_from_the_record():
    crafted = groups(ladder.svg(ladder.load(CRAFTED)))
    assert [g.get("class") for g in crafted].count("crafted") == 2
    held = groups(ladder.svg(ladder.load(HELD)))
    assert [g.get("class") for g in held] == [None, "held", "dropped", "delayed"]
    dropped = held[2]
    assert dropped.find(f"{SVG}path[@class='x']") is not None  # it stops at a cross
    assert dropped.find(f"{SVG}path[@class='ah']") is None  # and never arrives


def test_a_self_connect_has_one_lane_and_loops():
    svg = ET.fromstring(ladder.svg(ladder.load(SELF)))
    assert len(svg.findall(f"{SVG}line[@class='lane']")) == 1
    assert all(g.find(f"{SVG}path[@class='a']") is not None for g in svg.findall(f"{SVG}g"))
    assert "socket ↺" in ladder.text(ladder.load(SELF))


def test_text_from_the_capture_is_escaped():
    svg = ladder.svg(ladder.load(CRAFTED))
    assert SCRIPT not in svg and "&lt;script&gt;" in svg
    ET.fromstring(svg)  # well-formed


def test_a_long_exchange_keeps_head_and_tail(tmp_path):
    doc = json.loads(CRAFTED.read_text())
    doc["segments"] = [dict(doc["segments"][2], t=i / 1000) for i in range(100)]
    path = tmp_path / "long.exchange.json"
    path.write_text(json.dumps(doc))
    exchange = ladder.load(path)
    assert len(groups(ladder.svg(exchange))) == ladder.MAX_DRAWN
    assert "60 segments not drawn" in ladder.svg(exchange) and "60 segments not shown" in ladder.text(exchange)


@pytest.mark.parametrize("change,message", [
    (lambda d: d.update(schema="tcprepro-exchange/2"), "schema 'tcprepro-exchange/2'"),
    (lambda d: d["segments"][0].update({"from": "router"}), "not a lane"),
    (lambda d: d["segments"][0].update(mark="lost"), "mark 'lost'"),
    (lambda d: d.pop("lanes"), "does not follow"),
])
def test_a_broken_exchange_file_is_named_with_what_is_wrong(tmp_path, change, message):
    doc = json.loads(CRAFTED.read_text())
    change(doc)
    path = tmp_path / "client.exchange.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(ladder.ExchangeError, match=str(path)) as error:
        ladder.load(path)
    assert message in str(error.value)


def _with_exchange(run: Path, name: str, upstream: str, fixture: Path, drop_answer: bool = False) -> Path:
    rid = "S3/TimeWait.S3c_CraftedStaleRst/ipv4"
    target = write_target(run, name, upstream, [result(
        rid, "S3c-crafted-rst", observations={"stale_old_ack_TcpOutSegs_delta": 0 if drop_answer else 1},
        key_observations=["stale_old_ack_TcpOutSegs_delta"],
        applied=[{"kernels": ">=6.14" if drop_answer else "<6.14", "source": "124c4c32e9f3 tcp: PAWS old ACK (v6.14)",
                  "observations": ["stale_old_ack_TcpOutSegs_delta"]}])])
    doc = json.loads(fixture.read_text())
    if drop_answer:
        doc["segments"] = [s for s in doc["segments"] if s["tsval"] != 5010]
    (target / "evidence" / rid / "client.exchange.json").write_text(json.dumps(doc))
    return target


def test_the_report_shows_each_behaviour_s_ladder_side_by_side(tmp_path):
    run = tmp_path / "run"
    _with_exchange(run, "debian:trixie", "6.12.107", CRAFTED)
    _with_exchange(run, "host", "6.18.44", CRAFTED, drop_answer=True)
    html = render_report([run], tmp_path / "out").html.read_text()
    differences = html.split('<h2 id="differences">')[1].split('<h2 id="results">')[0]
    assert differences.count('<svg class="ladder"') == 2
    assert "debian:trixie (6.12.107)" in differences and "host (6.18.44)" in differences
    assert "124c4c32e9f3 tcp: PAWS old ACK (v6.14)" in differences
    assert "client.pcap: 12 segments, 2 marked" in differences and "client.pcap: 11 segments, 2 marked" in differences
    assert SCRIPT not in html
    matrix = html.split('<h2 id="results">')[1].split("<h2>Details</h2>")[0]
    assert matrix.count('<details class="ladder">') == 2  # in each kernel's cell


def test_identical_kernels_share_a_cell_and_one_ladder(tmp_path):
    run = tmp_path / "run"
    for name, upstream in (("a", "6.1.1"), ("b", "6.6.1"), ("c", "6.12.1")):
        _with_exchange(run, name, upstream, CRAFTED)
    html = render_report([run], tmp_path / "out").html.read_text()
    assert '<td class="cell" colspan="3">' in html and "all 3 kernels" in html
    assert html.count('<svg class="ladder"') == 1


def test_the_harness_draws_the_svg_beside_the_pcap(tmp_path):
    from harness.judge import results
    pcap = tmp_path / "evidence" / "x" / "client.pcap"
    pcap.parent.mkdir(parents=True)
    pcap.write_bytes(b"")
    shutil.copy(CRAFTED, ladder.exchange_path(pcap))
    drawn = results._ladders([{"kind": "pcap", "path": "evidence/x/client.pcap", "namespace": "client"}], tmp_path)
    assert drawn == [{"kind": "ladder", "path": "evidence/x/client.ladder.svg", "namespace": "client",
                      "description": "ladder diagram of client.pcap, 12 segments"}]
    svg = ET.parse(ladder.ladder_path(pcap)).getroot()
    assert svg.tag == f"{SVG}svg" and svg.find(f"{SVG}style") is not None  # a standalone file


def test_a_segment_to_its_own_lane_loops_in_a_two_lane_exchange(tmp_path):
    doc = json.loads(CRAFTED.read_text())
    doc["segments"][0].update({"to": "client"})
    doc["segments"][1].update({"from": "server", "to": "server"})
    path = tmp_path / "client.exchange.json"
    path.write_text(json.dumps(doc))
    exchange = ladder.load(path)
    drawn = groups(ladder.svg(exchange))
    assert drawn[0].find(f"{SVG}path[@class='a']").get("d").startswith("M78 ")  # out of the client lane, rightwards
    assert "h-26" in drawn[1].find(f"{SVG}path[@class='a']").get("d")  # out of the server lane, leftwards
    assert "client ↺" in ladder.text(exchange).splitlines()[1]


def test_a_capture_without_tcp_segments_says_so(tmp_path):
    path = tmp_path / "server.exchange.json"
    path.write_text(json.dumps({"schema": ladder.SCHEMA, "capture": "server.pcap", "lanes": [], "segments": []}))
    exchange = ladder.load(path)
    assert "server.pcap: no TCP segment captured" in ladder.svg(exchange)
    assert ladder.text(exchange) == "server.pcap: no TCP segment captured"


def test_kernels_whose_measurement_different_expectations_judge_do_not_share_a_cell(tmp_path):
    run = tmp_path / "run"
    for name, upstream, wait, kernels in (("a", "6.1.1", 640.5, "<6.14"), ("b", "6.12.1", 120.25, "<6.14"),
                                          ("c", "6.18.1", 1001.5, ">=6.14")):
        write_target(run, name, upstream, [result(
            "S3/TimeWait.S3b/ipv4", "S3b", observations={"reuse_wait_ms": wait}, key_observations=["reuse_wait_ms"],
            applied=[{"kernels": kernels, "source": f"delay {kernels}", "observations": ["reuse_wait_ms"]}])])
    html = render_report([run], tmp_path / "out").html.read_text()
    matrix = html.split('<h2 id="results">')[1].split("<h2>Details</h2>")[0]
    assert '<td class="cell" colspan="2">' in matrix and "120.2–640.5" in matrix  # a and b: one range
    assert "1002" in matrix and "120.2–1002" not in matrix  # c on its own


def test_a_long_note_is_shortened_with_the_whole_on_hover(tmp_path):
    doc = json.loads(HELD.read_text())
    long_note = "held by the nfqueue rule on s0 egress (ipv4 tcp sport 5000 flags RST/RST every match) until released"
    doc["segments"][1]["note"] = long_note
    path = tmp_path / "client.exchange.json"
    path.write_text(json.dumps(doc))
    held = groups(ladder.svg(ladder.load(path)))[1]
    note = held.find(f"{SVG}text[@class='n c']")
    assert len(note.text) == ladder.MAX_NOTE and note.text.endswith("…")
    assert note.find(f"{SVG}title").text == long_note
    assert long_note in ladder.text(ladder.load(path))  # the terminal has the room


def test_a_lane_with_many_endpoints_names_the_first_and_counts_the_rest(tmp_path):
    doc = json.loads(CRAFTED.read_text())
    doc["lanes"][0]["endpoints"] = [f"10.0.0.1:{port}" for port in range(40000, 40048)]
    path = tmp_path / "client.exchange.json"
    path.write_text(json.dumps(doc))
    exchange = ladder.load(path)
    assert "10.0.0.1:40000 (+47 more)" in ladder.svg(exchange) and "40047" not in ladder.svg(exchange)
    assert ladder.text(exchange).startswith("client.pcap: client 10.0.0.1:40000 (+47 more)  ⇄  server")
