"""Which model fits an observed sequence, and how well.

Each model is simulated many times under the observed conditions (range and
order of destinations). The simulated steps give, per model, an estimate of
P(delta | gap): the chance that a destination's next port lies `delta` ports
further on, given `gap` connects to other destinations in between. The
observed steps are scored by their mean log-likelihood per step (nats) under
each model's estimate, with add-half (Jeffreys) smoothing over the range so a
step a model never produced costs a lot but is not impossible (a 10 s re-salt
of the hash, 4dfa9b438ee3, makes one such jump now and then).

Reported per result (results.json, observation `model_fit`):
    best                      the model with the highest mean log-likelihood
    log_likelihood_per_step   every model's score; 0 is certainty, -ln(size) is a coin over the range
    margin                    best minus runner-up: how decisively the data pick the best
    tied                      the models scoring within TIE of the best (best included): data
                              that cannot tell them apart (one destination alone cannot tell a
                              global hint from a per-destination table when both step by 2)
    best_expected             the best model's score on its own simulated output of the same
                              length: an observed score close to it means a typical output
    steps                     how many observed steps were scored
"""
from __future__ import annotations

import collections
import math
import random
from typing import Hashable, Sequence

from harness.judge.port_models.algorithms import MODELS
from harness.judge.port_models.simulate import Conditions, simulate
from harness.judge.port_models.steps import steps

# Simulated steps per model: enough to resolve the narrow models exactly and
# to estimate the diffuse ones well enough to rank them.
SIMULATED_STEPS = 20000
SMOOTHING = 0.5
SEED = 2022  # a fixed seed: the same observation always gets the same fit
TIE = 0.05  # nats per step


class StepDistribution:
    """P(delta | gap) estimated from a model's simulated steps."""

    def __init__(self, model: str, conditions: Conditions, rng: random.Random, target: int = SIMULATED_STEPS):
        self.size = conditions.size
        self.counts: dict[int, collections.Counter] = collections.defaultdict(collections.Counter)
        self.totals: collections.Counter = collections.Counter()
        produced = 0
        while produced < target:
            run = steps(simulate(model, conditions, rng), conditions.schedule, conditions.low, conditions.high)
            if not run:
                break
            for step in run:
                self.counts[step.gap][step.delta] += 1
                self.totals[step.gap] += 1
            produced += len(run)

    def log_probability(self, delta: int, gap: int) -> float:
        count = self.counts[gap][delta] if gap in self.counts else 0
        return math.log((count + SMOOTHING) / (self.totals[gap] + SMOOTHING * self.size))


def fit(ports: Sequence[int], schedule: Sequence[Hashable], low: int, high: int,
        models: Sequence[str] = tuple(MODELS)) -> dict:
    conditions = Conditions(low, high, list(schedule))
    observed = steps(ports, schedule, low, high)
    if not observed:
        return {"best": None, "log_likelihood_per_step": {}, "margin": None, "tied": [], "best_expected": None,
                "steps": 0}
    rng = random.Random(SEED)
    distributions = {name: StepDistribution(name, conditions, rng) for name in models}
    scores = {name: _mean_log_likelihood(dist, observed) for name, dist in distributions.items()}
    ranked = sorted(scores, key=scores.get, reverse=True)
    best = ranked[0]
    reference = steps(simulate(best, conditions, rng), schedule, low, high)
    return {
        "best": best,
        "log_likelihood_per_step": {name: round(score, 3) for name, score in scores.items()},
        "margin": round(scores[best] - scores[ranked[1]], 3) if len(ranked) > 1 else None,
        "tied": [name for name in ranked if scores[best] - scores[name] <= TIE],
        "best_expected": round(_mean_log_likelihood(distributions[best], reference), 3) if reference else None,
        "steps": len(observed),
    }


def _mean_log_likelihood(distribution: StepDistribution, observed) -> float:
    return sum(distribution.log_probability(s.delta, s.gap) for s in observed) / len(observed)
