"""Fingerprints of Linux's ephemeral port selection (scenario family S2).

    algorithms  executable models of the historical connect() algorithms
    simulate    running a model under a scenario's conditions
    steps       the per-destination steps of a sequence, and statistics of them
    fit         which model an observed sequence fits, with a measure of fit

derive_observations() is the harness's entry point: for a result whose case
program recorded a port `sequence`, it adds the derived statistics and the
fit, and for recorded port lists their parity shares, to the observations
before they are judged (documented in harness/RESULTS.md).
"""
from __future__ import annotations

from harness.judge.port_models.fit import fit
from harness.judge.port_models.steps import parity_shares, summary


def derive_observations(observations: dict) -> dict:
    """The observations plus what the harness derives from recorded ports; unchanged without any."""
    observations = {**observations, **parity_shares(observations)}
    ports = observations.get("sequence")
    port_range = observations.get("port_range")
    if not ports or not port_range:
        return observations
    low, high = port_range
    schedule = observations.get("destination_of") or [0] * len(ports)
    model_fit = fit(ports, schedule, low, high)
    return {**observations, **summary(ports, schedule, low, high),
            "fitted_model": model_fit["best"], "model_fit": model_fit}
