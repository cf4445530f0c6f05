#!/bin/sh
# Lab readiness under load: N copies of the S1 veth stories at once, R rounds
# (default 16 x 3 = 48 program runs of 12 stories each); prints how many
# program runs had a failure. Before veth pairs waited for usable addresses,
# 16 at once made the IPv6 ones fail with "captured SYNs to port 40008: 0"
# (the SYN left through the veth: the address's local route was not there yet).
# Usage: ci/stress_lab.sh [N] [R] [program]   (as root, after ci/setup.sh)
set -u
cd "$(dirname "$0")/.."
N=${1:-16} R=${2:-3} BIN=${3:-build/cases/self_connect_stories}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
failed=0 total=0
for r in $(seq "$R"); do
  for i in $(seq "$N"); do
    mkdir -p "$work/$r-$i"
    TCPREPRO_EVIDENCE_ROOT="$work/$r-$i" "$BIN" --gtest_filter='*_veth' >"$work/$r-$i/log" 2>&1 &
  done
  wait
  for i in $(seq "$N"); do
    total=$((total + 1))
    if grep -q "FAILED" "$work/$r-$i/log"; then
      failed=$((failed + 1))
      grep -h -A6 "Failure" "$work/$r-$i/log" | head -8
    fi
  done
done
echo "ci/stress_lab.sh: $N at once x $R rounds: $failed of $total program runs failed"
[ "$failed" -eq 0 ]
