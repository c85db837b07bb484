#!/bin/sh
# CTest entry for the benchmark suite: `bench/run.sh --quick` against the given build tree,
# then checks that its last stdout line is a JSON object with status "ok" and that the
# results JSON and the report it names exist. Exit 77 (skip) when the binaries are not built.
#
#   bench/peers/quick_test.sh BUILD_DIR
set -u
here=$(cd "$(dirname "$0")/../.." && pwd)
build=${1:?usage: quick_test.sh BUILD_DIR}
out=$(mktemp -d /tmp/ringcast-bench-quick.XXXXXX)
"$here/bench/run.sh" --quick --bin-dir "$build/bin" --build-dir "$build" --out "$out" \
  > "$out/stdout" 2> "$out/stderr"
rc=$?
if [ "$rc" = 77 ]; then cat "$out/stderr"; exit 77; fi
tail -n 1 "$out/stdout" | /usr/bin/python3 -c '
import json, os, sys
d = json.loads(sys.stdin.read())
assert isinstance(d, dict), "last line is not a JSON object"
for k in ("results_json", "report"):
    assert os.path.exists(d[k]), k + " missing: " + d[k]
doc = json.load(open(d["results_json"]))
assert doc["runs"] and all(r.get("json") for r in doc["runs"]), "a run left no JSON"
print("bench quick:", d["status"], "-", d["runs"], "runs,", d["failed_runs"], "failed")
sys.exit(0 if d["status"] == "ok" else 1)
' || { echo "bench quick failed (run.sh exit $rc); output in $out" >&2; tail -n 30 "$out/stderr" >&2; exit 1; }
[ "$rc" = 0 ] || { echo "run.sh exited $rc; output in $out" >&2; exit 1; }
rm -rf "$out"
