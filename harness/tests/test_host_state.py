"""ci/host_state.sh: what ci/test.sh diffs before and after the tests.

It must see state (a rule, link, qdisc, sysctl or named namespace left behind)
and must not see traffic (iptables chain counters, nft counters move whenever
the host sends anything). Every check runs in a throwaway network and mount
namespace made here, never in the host's own: the legacy `filter` table,
the rules and the traffic all live and die with it.
"""
import os
import pathlib
import subprocess

import pytest

REPO = pathlib.Path(__file__).resolve().parents[2]
HOST_STATE = REPO / "ci" / "host_state.sh"

pytestmark = pytest.mark.skipif(os.geteuid() != 0, reason="needs root (namespaces)")

# A namespace as a firewalled CI host looks: a legacy filter table (IPv4 and
# IPv6) and an nftables table, each with a counting rule, and a listener on lo.
FIREWALLED = """
set -e
mount --make-rprivate /
mount -t tmpfs tmpfs /run          # a private /run: `ip netns` names stay in here
ip link set lo up
iptables-legacy -A INPUT -i lo -j ACCEPT
ip6tables-legacy -A INPUT -i lo -j ACCEPT
nft add table inet ci_firewall
nft add chain inet ci_firewall input '{ type filter hook input priority 0; }'
nft add rule inet ci_firewall input counter
"""

TRAFFIC = """
/usr/bin/python3 - <<'PY'
import socket
for family, address in ((socket.AF_INET, "127.0.0.1"), (socket.AF_INET6, "::1")):
    with socket.socket(family) as listener:
        listener.bind((address, 0))
        listener.listen()
        for _ in range(20):
            with socket.create_connection(listener.getsockname()[:2]) as c:
                c.sendall(b"x" * 1000)
                listener.accept()[0].close()
PY
"""


def state_changed(action):
    """Runs the host-state check before and after `action` in a fresh
    firewalled namespace with traffic flowing; returns the diff ('' if none)."""
    script = f"""{FIREWALLED}
{TRAFFIC}
{HOST_STATE} > /run/before
{TRAFFIC}
{action}
{TRAFFIC}
{HOST_STATE} > /run/after
diff -u /run/before /run/after || true
"""
    result = subprocess.run(["unshare", "--net", "--mount", "sh", "-c", script],
                            capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr
    return result.stdout


def test_the_namespace_is_firewalled_and_counting():
    """The premise: the legacy filter table exists and its counters do move."""
    script = f"""{FIREWALLED}
iptables-legacy-save -c -t filter > /run/before
{TRAFFIC}
iptables-legacy-save -c -t filter > /run/after
nft list ruleset
cat /run/after
cmp -s /run/before /run/after || echo "iptables counters moved"
"""
    out = subprocess.run(["unshare", "--net", "--mount", "sh", "-c", script],
                         capture_output=True, text=True, timeout=60).stdout
    assert ":INPUT ACCEPT [" in out and "iptables counters moved" in out
    assert "counter packets" in out and "counter packets 0 bytes 0" not in out


def test_traffic_alone_is_no_change():
    assert state_changed("") == ""


@pytest.mark.parametrize("left_behind", [
    "iptables-legacy -A INPUT -p tcp --dport 9 -j DROP",
    "ip6tables-legacy -A INPUT -p tcp --dport 9 -j DROP",
    "iptables-nft -A OUTPUT -p tcp --dport 9 -j DROP",
    "nft add rule inet ci_firewall input tcp dport 9 drop",
    "ip link add tcprepro0 type veth peer name tcprepro1",
    "tc qdisc add dev lo root pfifo",
    "sysctl -qw net.ipv4.tcp_syn_retries=2",
    "sysctl -qw net.ipv4.ip_local_port_range='40000 40010'",
    "ip netns add tcprepro-left-behind",
])
def test_what_the_lab_leaves_behind_is_a_change(left_behind):
    assert state_changed(left_behind) != ""
