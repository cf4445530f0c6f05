"""Names both halves use for results.json: its schema, and a result's id.

A result id is the one name of a result everywhere ("S1a/ipv4_loopback", or "S5-tcp_timestamps"
for a test without variants): the run writes it, -k selects by it, readers pair by it.
"""
from __future__ import annotations

RESULTS_SCHEMA = "tcprepro-results/2"


def result_id(scenario_id: str, variant: str) -> str:
    return f"{scenario_id}/{variant}" if variant else scenario_id


def split_gtest_name(full_name: str) -> tuple[str, str]:
    """(test, variant) of a full GoogleTest name: "S1/SelfConnect.S1a/ipv4_loopback" ->
    ("S1a", "ipv4_loopback"); "KernelSurface.S5_tcp_timestamps" -> ("S5_tcp_timestamps", "")."""
    method = full_name.split(".", 1)[1] if "." in full_name else full_name
    test, _, variant = method.partition("/")
    return test, variant
