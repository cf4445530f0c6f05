"""tcprepro's -k: words over result ids, joined by and/or/not and parentheses."""
import pytest

from harness.run import selection

IDS = ["S1a/ipv4_loopback", "S1a/ipv6_veth", "S2a/ipv4", "S2b-one/ipv6", "S3b-reuse1-loopback/ipv4",
       "S3b-reuse1-veth/ipv4", "S4d-retries2/ipv4_veth", "S5-tcp_timestamps", "S10a/ipv4"]


def chosen(expression):
    selected = selection.parse(expression)
    return [rid for rid in IDS if selected(rid)]


@pytest.mark.parametrize("expression,expected", [
    ("S3b-reuse1-loopback", ["S3b-reuse1-loopback/ipv4"]),  # a scenario id as `list` prints it
    ("S1a/ipv6_veth", ["S1a/ipv6_veth"]),  # a result id as `list --variants` prints it
    ("S2", ["S2a/ipv4", "S2b-one/ipv6"]),  # not S4d-retries2
    ("S1", ["S1a/ipv4_loopback", "S1a/ipv6_veth"]),  # not S10a
    ("S3b-reuse1", ["S3b-reuse1-loopback/ipv4", "S3b-reuse1-veth/ipv4"]),
    ("ipv6", ["S1a/ipv6_veth", "S2b-one/ipv6"]),
    ("veth", ["S1a/ipv6_veth", "S4d-retries2/ipv4_veth"]),
    ("S1a and ipv4_loopback", ["S1a/ipv4_loopback"]),
    ("S1a and not ipv6", ["S1a/ipv4_loopback"]),
    ("(S2 or S5) and not ipv6", ["S2a/ipv4", "S5-tcp_timestamps"]),
    ("not (S1 or S2 or S3 or S4 or S10)", ["S5-tcp_timestamps"]),
    ("S5-tcp_timestamps", ["S5-tcp_timestamps"]),
    ("nothing", []),
])
def test_words_select_by_result_id(expression, expected):
    assert chosen(expression) == expected


def test_no_expression_selects_everything():
    assert chosen(None) == IDS


@pytest.mark.parametrize("expression,message", [
    ("", "empty expression"),
    ("S1a and", "ends too early"),
    ("(S1a or S2", "ends too early"),
    ("S1a S2", "unexpected 'S2'"),
    ("S1a)", "unexpected ')'"),
    ("and S1a", "unexpected 'and'"),
])
def test_a_malformed_expression_says_what_is_wrong(expression, message):
    with pytest.raises(selection.SelectionError) as error:
        selection.parse(expression)
    assert message in str(error.value)
    assert "\n" not in str(error.value) and "./tcprepro list --variants" in str(error.value)
