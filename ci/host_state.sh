#!/bin/sh
# Prints the state of the current network namespace that the suite must leave
# as it found it: links, qdiscs, netfilter rules (iptables legacy and nft, and
# nftables), named namespaces and the TCP sysctls the lab sets. ci/test.sh
# prints it before and after the tests and diffs the two.
#
# State, not traffic: packet/byte counters move whenever the host sends or
# receives anything (the run's own kernel download does), so they are left
# out: iptables-save's chain counters "[packets:bytes]" are removed and nft is
# asked for its ruleset without stateful values (-s: counters, quotas, limits).
set -u

ip -o link show | sed -E 's/ qlen [0-9]+//'
tc qdisc show
for save in iptables-legacy-save ip6tables-legacy-save iptables-nft-save ip6tables-nft-save; do
  "$save" 2>/dev/null | grep -v '^#' | sed -E 's/\[[0-9]+:[0-9]+\]/[counters]/'
done
nft -s list ruleset 2>/dev/null
ip netns list
sysctl -a 2>/dev/null | grep -E '^net\.(ipv4\.(ip_local|tcp_)|ipv6\.conf\.[^.]+\.(disable_ipv6|accept_dad)|core\.somaxconn)'
exit 0
