#!/bin/sh
# CTest entry for bench/alloc/allocs_per_message.py: a short run (1 and 2 worker processes,
# 64-byte messages) against the given build tree, then checks that its last stdout line is
# a JSON object with every case run and its figures present. It does not assert the count
# (a connection's send queue reaching a new peak depth allocates once, whenever that is).
# Exit 77 (skip) when the binaries or the preload library are not built.
#
#   bench/alloc/alloc_test.sh BUILD_DIR
set -u
here=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:?usage: alloc_test.sh BUILD_DIR}
out=$(mktemp -d /tmp/ringcast-alloc-test.XXXXXX)
/usr/bin/python3 "$here/bench/alloc/allocs_per_message.py" "$build" --quick --cases 1p-64,2p-64 \
  > "$out/stdout" 2> "$out/stderr"
rc=$?
if [ "$rc" = 77 ]; then cat "$out/stderr"; rm -rf "$out"; exit 77; fi
tail -n 1 "$out/stdout" | /usr/bin/python3 -c '
import json, sys
d = json.loads(sys.stdin.read())
assert isinstance(d, dict), "last line is not a JSON object"
assert d["status"] == "ok", "status " + str(d["status"])
assert [c["name"] for c in d["cases"]] == ["1p-64", "2p-64"], "cases missing"
num = (int, float)
for c in d["cases"]:
    assert c["ok"], c["name"] + ": " + c.get("error", "?")
    assert c["messages"] > 0 and c["deliveries"] > 0, c["name"] + ": no traffic in the window"
    assert isinstance(c["worker_allocs"], int), c["name"] + ": no allocation count"
    for k in ("allocs_per_message", "allocs_per_delivery"):
        assert isinstance(c[k], num), c["name"] + ": " + k + " missing"
    assert len(c["workers"]) == c["procs"], c["name"] + ": not every worker counted"
    for w in c["workers"]:
        assert isinstance(w["allocs"], int) and w["connect_allocs"] > 0, \
            c["name"] + ": worker " + str(w["pid"]) + ": counters not read (no setup allocations)"
    print("allocs:", c["name"], c["worker_allocs"], "worker allocations,", c["messages"],
          "messages:", c["allocs_per_message"], "per message")
' || { echo "allocs test failed (exit $rc); output in $out" >&2; tail -n 30 "$out/stderr" >&2; exit 1; }
[ "$rc" = 0 ] || { echo "allocs_per_message.py exited $rc; output in $out" >&2; exit 1; }
rm -rf "$out"
