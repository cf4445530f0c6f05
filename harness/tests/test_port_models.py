"""The port-selection models reproduce what the kernels (and the claims about 2.6 and 3.10) say they do, and the fit finds them."""
import random

import pytest

from harness.judge.port_models import derive_observations
from harness.judge.port_models.algorithms import MODELS
from harness.judge.port_models.fit import fit
from harness.judge.port_models.simulate import Conditions, simulate
from harness.judge.port_models.steps import steps, summary

DEFAULT = (32768, 60999)


def run(model, schedule, low=DEFAULT[0], high=DEFAULT[1], hold=False, seed=1, **extra):
    return simulate(model, Conditions(low, high, schedule, hold=hold, **extra), random.Random(seed))


def deltas(ports, schedule, low=DEFAULT[0], high=DEFAULT[1], gap=None):
    return [s.delta for s in steps(ports, schedule, low, high) if gap is None or s.gap == gap]


# --- the claim (docs/scenarios.md, S2): "2.6 starts at a random port; 3.10 walks sequentially from a hint" ---

def test_claim_26_random_start_scatters_retries_over_the_range():
    ports = run("random_start", ["zmq"] * 200)
    d = deltas(ports, ["zmq"] * 200)
    assert len(set(ports)) > 190  # a fresh random start each time
    assert sum(d) / len(d) > 5000  # steps are range-sized, not small
    assert not all(1 <= x <= 16 for x in d)


def test_claim_310_hint_sequential_retries_walk_consecutive_ports():
    # A client reconnecting to a service that is down: connect() to a closed port, again and again.
    ports = run("hint_sequential", ["zmq"] * 200)
    assert deltas(ports, ["zmq"] * 200) == [1] * 199
    assert {p % 2 for p in ports} == {0, 1}  # no parity preference before 4.6


def test_claim_310_hint_is_shared_by_all_destinations():
    schedule = ["A", "B"] * 50
    ports = run("hint_sequential", schedule)
    # A's next port moved by A's own step plus B's: one global hint.
    assert set(deltas(ports, schedule, gap=1)) == {2}


def test_claim_310_sequential_walk_reaches_a_given_port_within_one_sweep():
    # Why self-connect (S1) happens there: a retrying client visits every port of a narrow range in turn.
    ports = run("hint_sequential", ["svc"] * 16, low=40000, high=40015)
    assert sorted(ports) == list(range(40000, 40016))


# --- the kernels after 3.10 ---

def test_parity_split_uses_even_ports_and_steps_by_two():
    ports = run("parity_split", ["A"] * 100)
    assert all(p % 2 == 0 for p in ports)
    assert set(deltas(ports, ["A"] * 100)) == {2}


def test_parity_split_hint_is_still_global():
    schedule = ["A", "B", "C", "D"] * 25
    assert set(deltas(run("parity_split", schedule), schedule, gap=3)) == {8}


def test_perturb_table_keeps_destinations_apart():
    schedule = ["A"] * 20 + ["A", "B", "C", "D"] * 25
    ports = run("perturb_table", schedule)
    assert set(deltas(ports, schedule)) == {2, 4}  # +2 (+4 one time in 16) whatever happens in between


def test_perturb_table_skips_a_candidate_one_time_in_16():
    # c579bd1b4021 (v5.12): if (!i && !(prandom_u32() % 16)) i = 2; so 15 steps in 16 are exactly +2.
    schedule = ["A"] * 16001
    d = deltas(run("perturb_table", schedule), schedule)
    assert set(d) == {2, 4}
    assert d.count(2) / len(d) == pytest.approx(15 / 16, abs=0.01)


def test_random_increment_steps_are_even_2_to_16_and_per_destination():
    schedule = ["A"] * 500 + ["A", "B"] * 500
    ports = run("random_increment", schedule)
    alone, mixed = deltas(ports, schedule, gap=0), deltas(ports, schedule, gap=1)
    assert set(alone) == set(mixed) == {2, 4, 6, 8, 10, 12, 14, 16}
    assert abs(sum(alone) / len(alone) - sum(mixed) / len(mixed)) < 1.5  # B does not move A


def test_exhaustion_is_per_destination_for_connect_models():
    schedule = ["A"] * 11 + ["B"]
    for model in ("hint_sequential", "parity_split", "perturb_table", "random_increment"):
        ports = run(model, schedule, low=40000, high=40009, hold=True)
        assert sorted(ports[:10]) == list(range(40000, 40010)), model
        assert ports[10] is None, model  # EADDRNOTAVAIL towards A
        assert ports[11] is not None, model  # B still gets a port
    # A bind-style search has no 4-tuple: B is refused too.
    assert run("random_start", schedule, low=40000, high=40009, hold=True)[11] is None


def test_reserved_ports_are_never_chosen():
    for model in MODELS:
        ports = run(model, ["A"] * 15, low=40000, high=40015, hold=True, reserved=frozenset({40008}))
        assert 40008 not in ports and None not in ports, model


# --- steps and statistics ---

def test_steps_measure_forward_distance_across_the_wrap():
    found = steps([40250, 40004], ["A", "A"], 40000, 40255)
    assert [(s.delta, s.wrapped) for s in found] == [(10, True)]


def test_summary_reports_the_interleaving_ratio():
    schedule = ["A", "A", "A", "B", "A", "B", "A"]
    ports = [40000, 40002, 40004, 40100, 40008, 40104, 40012]
    stats = summary(ports, schedule, 40000, 40255)
    assert stats["mean_delta_back_to_back"] == 2 and stats["mean_delta_interleaved"] == 4
    assert stats["interleaving_ratio"] == 2


# --- the fit ---

@pytest.mark.parametrize("model", list(MODELS))
def test_fit_recognises_each_model_from_its_own_output(model):
    low, high = 40000, 40255
    schedule = [0] * 100 + [0, 1, 2, 3] * 50
    ports = run(model, schedule, low, high, seed=99)
    result = fit(ports, schedule, low, high)
    assert result["best"] == model
    assert result["margin"] > 0.5
    assert result["steps"] == len(schedule) - 4


def test_fit_tells_the_2022_change_from_its_predecessor():
    # The two per-destination tables differ only in the increment: +2, or random 2..16.
    schedule = [0] * 200
    fixed = fit(run("perturb_table", schedule, seed=5), schedule, *DEFAULT)
    hardened = fit(run("random_increment", schedule, seed=5), schedule, *DEFAULT)
    assert hardened["best"] == "random_increment" and hardened["tied"] == ["random_increment"]
    # One destination alone: 4.6's global hint steps by +2 every time; 5.12's table by +4 one time in 16.
    assert fixed["best"] == "perturb_table" and fixed["tied"] == ["perturb_table"]
    always_two = fit([40000 + 2 * n for n in range(200)], schedule, *DEFAULT)
    assert always_two["best"] == "parity_split"


def test_derive_observations_leaves_other_results_alone():
    assert derive_observations({"connect_errno": "0"}) == {"connect_errno": "0"}


def test_derive_observations_adds_statistics_and_the_fit():
    ports = run("random_increment", [0] * 50, 40000, 40255)
    derived = derive_observations({"sequence": ports, "port_range": [40000, 40255]})
    assert derived["fitted_model"] == "random_increment"
    assert derived["share_deltas_even_2_to_16"] == 1.0
    assert derived["model_fit"]["steps"] == 49


def test_derive_observations_computes_parity_shares_from_recorded_ports():
    derived = derive_observations({"connect_ports": [40000, 40002, 40004, 40005], "bind0_ports": [40001, 40003],
                                   "outgoing_ports_head": [40000 + i for i in range(20)]})
    assert derived["connect_even_share"] == 0.75
    assert derived["bind0_odd_share"] == 1.0
    assert derived["outgoing_odd_share_first_16"] == 0.5  # only the first 16 ports count
    assert "bind_no_port_connect_even_share" not in derived  # not recorded: not derived
