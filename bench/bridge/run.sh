#!/bin/sh
# Cross-node benchmark: two ringcast nodes joined through a Redis stream (the bridge), driven
# by one ringcast-bench connected to both. Messages/s through the bridge, the latency it adds
# over local delivery, and the same load against one node as the baseline. ~1 minute.
#
#   bench/bridge/run.sh                          # results in a new temp dir, table on stderr
#   bench/bridge/run.sh --out bench/results --report bench/RESULTS.md
#                                                # what `bench/run.sh --bridge` does
#   bench/bridge/run.sh --help                   # every option
#
# Needs build/bin/{ringcast,ringcastctl,ringcast-bench} and redis-server; exit 77 without them.
here=$(cd "$(dirname "$0")" && pwd)
py=/usr/bin/python3
[ -x "$py" ] || py=python3
exec "$py" "$here/cross_node.py" "$@"
