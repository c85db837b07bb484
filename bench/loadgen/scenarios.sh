#!/usr/bin/env bash
# Runs the named ringcast-bench scenarios, each against a fresh ringcast (1 worker process,
# 1 shard) on 127.0.0.1, the server pinned to --server-cpus and the generator to --gen-cpus.
# Prints each scenario's JSON line on stdout; keeps every output in --out DIR.
#
#   bench/loadgen/scenarios.sh [options] SCENARIO... [-- extra ringcast-bench flags]
#
# Scenarios:
#   s1     1000 conns, 10 senders, 64 B, window 4, 10 s
#   s1w16  as s1 with window 16
#   s2     100 conns, 1 sender, 16 KiB, window 4, 10 s
#   s3     10,000 conns, idle 3 s (server RSS per connection), then 1 sender at 100 msg/s, 10 s
#   s3lo   as s3 at 2 msg/s
#   all    all of the above
# Options:
#   --bin-dir DIR      where ringcast and ringcast-bench are (default: build/bin)
#   --port PORT        server port (default 19400)
#   --server-cpus L    taskset list for the server (default 0)
#   --gen-cpus L       taskset list for the generator (default 1)
#   --duration SEC     override every scenario's measured duration
#   --external PID     use the ringcast already listening on --port (PID: its supervisor)
#   --out DIR          where JSON and logs go (default: a new directory under /tmp)
#   --nice N           run server and generator at this nice level, each in its own
#                      session whose autogroup gets the same nice (with autogroups, a plain
#                      nice only ranks processes of one session); e.g. -10 on a machine
#                      shared with other work. Negative values need root.
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
bin_dir="$here/../../build/bin"
port=19400
server_cpus=0
gen_cpus=1
duration=""
external=""
out=""
nice_level=0
scenarios=()
extra=()
while [[ $# -gt 0 ]]; do
  case "$1" in
    --bin-dir) bin_dir=$2; shift 2 ;;
    --port) port=$2; shift 2 ;;
    --server-cpus) server_cpus=$2; shift 2 ;;
    --gen-cpus) gen_cpus=$2; shift 2 ;;
    --duration) duration=$2; shift 2 ;;
    --external) external=$2; shift 2 ;;
    --out) out=$2; shift 2 ;;
    --nice) nice_level=$2; shift 2 ;;
    --) shift; extra=("$@"); break ;;
    -h|--help) awk 'NR > 1 && !/^#/ { exit } NR > 1 { sub(/^# ?/, ""); print }' "$0"; exit 0 ;;
    all) scenarios+=(s1 s1w16 s2 s3 s3lo); shift ;;
    -*) echo "scenarios.sh: unknown option $1" >&2; exit 1 ;;
    *) scenarios+=("$1"); shift ;;
  esac
done
[[ ${#scenarios[@]} -gt 0 ]] || { echo "scenarios.sh: name at least one scenario (see --help)" >&2; exit 1; }
[[ -n "$out" ]] || out=$(mktemp -d /tmp/ringcast-bench.XXXXXX)
mkdir -p "$out"
bench="$bin_dir/ringcast-bench"
server="$bin_dir/ringcast"
[[ -x "$bench" ]] || { echo "scenarios.sh: no $bench (build the ringcast-bench target)" >&2; exit 1; }

# Flags of each scenario; the measured duration comes last so --duration can replace it.
flags_of() {
  case "$1" in
    s1)    echo "--conns 1000 --senders 10 --size 64 --window 4" ;;
    s1w16) echo "--conns 1000 --senders 10 --size 64 --window 16" ;;
    s2)    echo "--conns 100 --senders 1 --size 16384 --window 4" ;;
    s3)    echo "--conns 10000 --senders 1 --size 64 --rate 100 --idle-hold 3" ;;
    s3lo)  echo "--conns 10000 --senders 1 --size 64 --rate 2 --idle-hold 3" ;;
    *) return 1 ;;
  esac
}

# Prefix that runs a command at --nice: a new session (so a new autogroup), the autogroup's
# nice set, then exec all the way down, so a background job's $! is the command's own pid
# (setsid does not fork: a script's jobs are not process-group leaders). Used inline, never
# through a function: `func &` would fork a subshell and $! would be that subshell.
prio=()
if [[ "$nice_level" != 0 ]]; then
  prio=(setsid bash -c 'echo "$0" > /proc/self/autogroup 2>/dev/null; exec nice -n "$0" "$@"'
        "$nice_level")
fi

port_in_use() { ss -Htln "sport = :$port" | grep -q .; }

server_pid=""
stop_server() {
  if [[ -n "$server_pid" ]] && kill -0 "$server_pid" 2>/dev/null; then
    kill -TERM "$server_pid" 2>/dev/null || true
    for _ in $(seq 50); do kill -0 "$server_pid" 2>/dev/null || break; sleep 0.1; done
    kill -0 "$server_pid" 2>/dev/null && kill -KILL "$server_pid" 2>/dev/null || true
    wait "$server_pid" 2>/dev/null || true
    for _ in $(seq 50); do port_in_use || break; sleep 0.1; done
    port_in_use && echo "scenarios.sh: port $port still held after stopping pid $server_pid" >&2
  fi
  server_pid=""
}
trap stop_server EXIT

start_server() {  # $1: scenario name
  local cfg="$out/$1.server.json" ctl="$out/$1.ctl.sock"
  printf '{"listen":"127.0.0.1:%s","worker_processes":1,"shards":1,"control_socket":"%s"}\n' \
    "$port" "$ctl" > "$cfg"
  # ringcast listens with SO_REUSEPORT: a second server on a busy port would start and
  # silently take a share of the connections, so refuse a port someone holds.
  if port_in_use; then
    echo "scenarios.sh: 127.0.0.1:$port is already in use; pick another --port" >&2
    return 1
  fi
  "${prio[@]}" taskset -c "$server_cpus" "$server" --config "$cfg" \
    > "$out/$1.server.out" 2> "$out/$1.server.log" &
  server_pid=$!
  for _ in $(seq 100); do
    if grep -q "event=ready" "$out/$1.server.log" 2>/dev/null; then
      # The listener must be ours (the supervisor holds it), not some other process's.
      ss -Htlnp "sport = :$port" | grep -q "pid=$server_pid," && return 0
      echo "scenarios.sh: port $port is not held by ringcast pid $server_pid" >&2
      return 1
    fi
    kill -0 "$server_pid" 2>/dev/null || break
    sleep 0.1
  done
  echo "scenarios.sh: ringcast did not become ready; see $out/$1.server.log" >&2
  return 1
}

status=0
for sc in "${scenarios[@]}"; do
  flags=$(flags_of "$sc") || { echo "scenarios.sh: unknown scenario $sc" >&2; status=1; continue; }
  d=${duration:-10}
  if [[ -n "$external" ]]; then pid=$external; else start_server "$sc" || { status=1; continue; }; pid=$server_pid; fi
  echo "== $sc: ringcast-bench $flags --duration $d (server pid $pid, out $out)" >&2
  # shellcheck disable=SC2086
  "${prio[@]}" timeout $((d + 200)) taskset -c "$gen_cpus" "$bench" --url "ws://127.0.0.1:$port/" $flags \
    --duration "$d" --server-pid "$pid" --label "$sc" "${extra[@]}" \
    > "$out/$sc.json" 2> "$out/$sc.log" || status=$?
  cat "$out/$sc.log" >&2
  tail -n 1 "$out/$sc.json"
  if [[ -z "$external" ]]; then
    kill -0 "$server_pid" 2>/dev/null || echo "scenarios.sh: ringcast exited during $sc; see $out/$sc.server.log" >&2
    stop_server
  fi
done
exit $status
