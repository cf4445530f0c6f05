#!/bin/sh
# Installs every dependency from Debian packages (only what is missing) and
# builds the case programs. Idempotent: a second run installs nothing and
# rebuilds only what changed. Run as root on Debian 12 (bookworm) or later.
# chromium and python3-pil are for the report's browser test (reports/tests/test_browser.py).
# QEMU, busybox-static, cpio and kmod are for kernels booted in QEMU
# (--kernel debian:...); the kernels themselves are fetched by the run that
# asks for them, into /var/cache/tcprepro. rsync, patch, flex, bison, bc,
# libelf-dev and ccache are for `./tcprepro kernel build`. python3-sqlalchemy and
# python3-psycopg2 are for the history store (SQLite or PostgreSQL); postgresql is the
# server its tests start in a temp folder (harness/tests/postgres.py).
set -eu
cd "$(dirname "$0")/.."

packages="
  cmake g++ make pkg-config
  googletest libgtest-dev nlohmann-json3-dev libpcap-dev libnetfilter-queue-dev
  libnl-route-3-dev
  iproute2 iptables nftables util-linux
  python3-pytest python3-jinja2 python3-jsonschema python3-yaml
  python3-pil chromium
  python3-sqlalchemy python3-psycopg2 postgresql
  qemu-system-x86 busybox-static cpio kmod xz-utils zstd
  rsync patch flex bison bc libelf-dev ccache
"

if [ "$(id -u)" -ne 0 ]; then
  echo "ci/setup.sh: error: run as root (it installs Debian packages; the suite needs namespaces)" >&2
  exit 2
fi

missing=""
for p in $packages; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "ci/setup.sh: installing:$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  # shellcheck disable=SC2086
  apt-get install -y -qq --no-install-recommends $missing >/dev/null
fi

cmake -S . -B build -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build -j "$(nproc)" >/dev/null
echo "ci/setup.sh: ready (build in build/)"
