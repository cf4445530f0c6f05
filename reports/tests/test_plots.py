import xml.etree.ElementTree as ET

from reports import render_report
from reports.plots import forward_steps, sequence_plots

from .builders import result, write_target

SVG = "{http://www.w3.org/2000/svg}"
FIT = {"best": "random_increment", "log_likelihood_per_step": {"random_increment": -2.09}, "margin": 3.4,
       "tied": ["random_increment"], "best_expected": -2.08, "steps": 5}


def s2_observations(**extra):
    return {"sequence": [40250, 40252, 40254, 40000, 40004, 40010], "port_range": [40000, 40255],
            "model_fit": FIT, **extra}


def test_no_sequence_no_plot():
    assert sequence_plots({"connect_errno": "0"}) == []


def test_steps_are_forward_within_the_range_and_per_destination():
    assert forward_steps([40254, 40000, 40100, 40004], [0, 0, 1, 0], 40000, 40255) == [2, 4]


def test_sequence_plot_has_one_point_per_connect_and_histogram_one_count_per_step():
    sequence, histogram = sequence_plots(s2_observations())
    paths = ET.fromstring(str(sequence.svg)).findall(f"{SVG}path")
    assert sum(path.get("d").count("M") for path in paths) == 6  # a dot per connect
    bars = ET.fromstring(str(histogram.svg)).findall(f"{SVG}rect")[1:]  # the first is the frame
    counts = [int(bar.find(f"{SVG}title").text.rsplit(": ", 1)[1]) for bar in bars]
    assert sum(counts) == 5
    assert "random_increment" in histogram.caption


def test_wide_steps_are_binned():
    observations = {"sequence": [32768 + (i * 7919) % 28232 for i in range(300)], "port_range": [32768, 60999]}
    histogram = sequence_plots(observations)[1]
    assert len(ET.fromstring(str(histogram.svg)).findall(f"{SVG}rect")) <= 41


def test_destinations_get_their_own_colour():
    sequence = sequence_plots(s2_observations(destination_of=[0, 1, 0, 1, 0, 1]))[0]
    colours = {p.get("stroke") for p in ET.fromstring(str(sequence.svg)).findall(f"{SVG}path")}
    assert len(colours) == 2


def test_report_embeds_the_plots_of_an_s2_result(tmp_path):
    results = [result("S2b-one/ipv4", "S2b-one", observations=s2_observations())]
    target = write_target(tmp_path / "run", "host", "6.18.0", results)
    html = render_report([target], tmp_path / "out").html.read_text()
    # The sequence and its step histogram, in the comparison cell and again in the result's details.
    assert html.count("<svg") == 4
    assert "fitted model: random_increment" in html
