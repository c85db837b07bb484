#!/bin/sh
# Installs everything ringcast needs to build, test and benchmark, from Debian's archive
# (and npm's `ws`/`wscat` for the integration tests). Idempotent; run as root.
# chromium-headless-shell drives the status page and chat example tests; python3-yaml reads
# the Prometheus rules in theirs; python3-cryptography signs RS256/ES256 tokens in the
# admission tests.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
pkgs="build-essential cmake pkg-config liburing-dev libboost-dev libhwloc-dev
  nlohmann-json3-dev doctest-dev libssl-dev zlib1g-dev libbenchmark-dev clang libclang-rt-14-dev
  python3 python3-websockets python3-prometheus-client iproute2 procps libsystemd-dev systemd
  libhiredis-dev redis-server chromium-headless-shell python3-yaml python3-cryptography"
# `--bench` adds what the benchmark peers need (Go gorilla/websocket, matplotlib for the chart).
if [ "${1:-}" = "--bench" ]; then
  pkgs="$pkgs golang-go golang-github-gorilla-websocket-dev python3-matplotlib"
fi
missing=""
for p in $pkgs; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
if [ -n "$missing" ]; then
  echo "install-deps: installing$missing"
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y --no-install-recommends $missing
fi
# Node.js may come from elsewhere on the machine; only take Debian's when there is none.
if ! command -v node >/dev/null 2>&1 || ! command -v npm >/dev/null 2>&1; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update
  apt-get install -y --no-install-recommends nodejs npm
fi
if [ ! -d "$here/tests/integration/node_modules/ws" ]; then
  (cd "$here/tests/integration" && npm ci --no-audit --no-fund)
fi
