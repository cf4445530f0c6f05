import pytest

from harness.kernels import kernel


def test_debian_point_release_comes_from_uname_v():
    info = kernel.KernelInfo("6.1.0-50-amd64", "#1 SMP PREEMPT_DYNAMIC Debian 6.1.153-1 (2025-09-20)", "x86_64")
    assert info.upstream == (6, 1, 153)


def test_plain_release_is_parsed_from_uname_r():
    info = kernel.KernelInfo("6.18.44-fc-v669", "#1 SMP PREEMPT_DYNAMIC @0", "x86_64")
    assert info.upstream == (6, 18, 44)
    assert info.to_json()["upstream"] == "6.18.44"


@pytest.mark.parametrize("version,expected", [
    ((6, 10, 9), False), ((6, 10, 10), True), ((6, 11, 0), True), ((6, 1, 109), False),
    ((6, 1, 110), True), ((6, 2, 0), False), ((5, 10, 240), False), ((7, 2, 13), True),
])
def test_backport_ranges(version, expected):
    expr = ">=6.11 | >=6.1.110,<6.2 | >=6.6.51,<6.7 | >=6.10.10,<6.11"
    assert kernel.in_range(expr, version) is expected


def test_negation_and_conjunction_are_complements_of_the_backport_range():
    fixed = ">=6.11 | >=6.1.110,<6.2 | >=6.6.51,<6.7 | >=6.10.10,<6.11"
    unfixed = ">=3.6,<6.11 & !>=6.1.110,<6.2 & !>=6.6.51,<6.7 & !>=6.10.10,<6.11"
    for version in [(5, 10, 240), (6, 1, 109), (6, 1, 110), (6, 6, 50), (6, 6, 51), (6, 12, 0), (6, 18, 44)]:
        assert kernel.in_range(fixed, version) != kernel.in_range(unfixed, version), version


@pytest.mark.parametrize("bad", ["", "6.1", "=>6.1", ">=six"])
def test_malformed_ranges_are_rejected(bad):
    with pytest.raises(kernel.RangeError):
        kernel.validate_range(bad)
