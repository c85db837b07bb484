#!/usr/bin/env bash
# The benchmark suite: ringcast against uWebSockets (built from ../shared/peers/ under the
# build tree), npm ws, Boost.Beast and Go gorilla/websocket (bench/peers/), scenarios s1
# s1w16 s2 s3 s3lo for every server, with the kernel's softirq CPU on the server's CPU
# counted beside each server's own; z1 (permessage-deflate,
# 512 B JSON) against uWebSockets' shared compressor (built from ../shared/peers/ under the
# build tree) and npm ws with perMessageDeflate; plus ringcast-only `s1auth` (s1 with auth
# off, then on with a JWT per client: the ratio), `scale` (1-3 worker processes) and
# `restart` (hot restart under load). Each run: a fresh
# server pinned to CPU 0, ringcast-bench pinned to CPU 1, 3 repeats, the median kept.
# Writes bench/RESULTS.md, bench/results/results.json, bench/results/chart.png.
#
#   bench/run.sh                      # everything (~25 min); `make bench` runs this
#   bench/run.sh --quick              # smoke run for tests: ringcast + Beast, ~1 min,
#                                     # into a temp dir; last stdout line is JSON
#   bench/run.sh --peers ws --scenarios s1,s2 --repeat 1
#   bench/run.sh --bridge             # only the cross-node part (bench/bridge/run.sh, two
#                                     # nodes through Redis, ~1 min): its section is put
#                                     # into bench/RESULTS.md, the rest of it kept
#   bench/run.sh --help               # every option
#
# Needs: build/bin/{ringcast,ringcastctl,ringcast-bench,bench-peer-beast} (make build),
# node+npm (ws is installed with `npm ci` into BUILD/bench-peers/ws), golang-go and
# golang-github-gorilla-websocket-dev (built offline into BUILD/bench-peers/),
# python3-matplotlib for the chart; redis-server for the cross-node part (a full run
# includes it when redis-server is installed).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
py=/usr/bin/python3   # Debian's, which has python3-matplotlib
[[ -x $py ]] || py=python3
exec "$py" "$here/peers/suite.py" "$@"
