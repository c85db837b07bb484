#!/usr/bin/env python3
"""Cross-node benchmark behind bench/bridge/run.sh: two ringcast nodes joined through one
Redis stream, one ringcast-bench connected to both (`--url A --url B`: connection i goes to
node i mod 2, senders alternate between the nodes), so every delivery is either local (the
receiver is on the sender's node) or remote (it went sender -> node -> bridge -> Redis ->
other bridge -> other node -> receiver).

Runs, once each (the ratios come from these single runs):
  bridge-lat  200 connections, 2 senders at 100 msg/s each: p50/p99 local vs remote and the
              latency the bridge adds (remote - local);
  bridge-max  200 connections, 10 senders, max mode (--window 8, the window's observer is
              on the other node): messages/s that crossed the bridge, CPU of each node (its
              bridge process included), of each bridge and of Redis, bridge counters;
  local-max   the bridge-max load against node a alone (its bridge still relays to Redis):
              the one-node baseline for bridge-max;
  plain-max   the same against a fresh node without a bridge.

In the max runs nodes and Redis are pinned to --server-cpus, the generator to --gen-cpus
(taskset), as in bench/run.sh; bridge-lat spreads them over --lat-server-cpus and
--lat-gen-cpus (default every CPU): on one shared CPU the bridge a message wakes preempts
its node's local fan-out, and local latency would pay for the remote path. Before each run
the machine must be quiet (bounded wait, noted otherwise).
Writes OUT/bridge.json and OUT/bridge.md (a Markdown section, "## Cross-node (Redis
bridge)"); with --report FILE it also puts that section into FILE (replacing the one there),
leaving the rest of FILE as it was. The last stdout line is one JSON summary.

Exit 0 when every run completed with no loss and no duplicates, 1 otherwise, 77 when a binary
or redis-server is missing. Only processes this script started are signalled, by PID.
"""
from __future__ import annotations

import argparse
import datetime as dt
import json
import os
import re
import shlex
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
sys.path.insert(0, str(REPO / "bench" / "peers"))
import suite  # noqa: E402  (bench/peers/suite.py: machine, quiet wait, Server, helpers)

SECTION = "## Cross-node (Redis bridge)"
MAX_FLAGS = "--conns 200 --senders 10 --size 64 --window 8"
# pin: "lat" runs with --lat-server-cpus/--lat-gen-cpus, "max" with --server-cpus/--gen-cpus.
SCENARIOS = {
    "bridge-lat": {"nodes": "ab", "flags": "--conns 200 --senders 2 --size 64 --rate 100",
                   "pin": "lat", "what": "2 nodes, 2 senders (one per node) at 100 msg/s each"},
    "bridge-max": {"nodes": "ab", "flags": MAX_FLAGS, "pin": "max",
                   "what": "2 nodes, 10 senders (5 per node), max rate"},
    "local-max": {"nodes": "a", "flags": MAX_FLAGS, "pin": "max",
                  "what": "node a alone (its bridge still relays), same load"},
    "plain-max": {"nodes": "p", "flags": MAX_FLAGS, "pin": "max",
                  "what": "one node without a bridge, same load"},
}
ORDER = list(SCENARIOS)
BRIDGE_KEYS = ("sent", "received", "duplicates", "own_skipped", "replayed", "dropped", "refused",
               "bad_entries")


def log(msg: str) -> None:
    print(f"[bridge-bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


def free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Redis:
    """A redis-server of our own on a free loopback port: no persistence, stopped by PID."""

    def __init__(self, binary: str, rundir: Path, cpus: str):
        self.port = free_port()
        self.dir = rundir / "redis"
        self.dir.mkdir()
        self.argv = ["taskset", "-c", cpus, binary, "--port", str(self.port), "--bind",
                     "127.0.0.1", "--save", "", "--appendonly", "no", "--daemonize", "no",
                     "--dir", str(self.dir), "--logfile", str(self.dir / "redis.log")]
        self.proc: subprocess.Popen | None = None

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def command(self, *args: str) -> bytes:
        req = f"*{len(args)}\r\n" + "".join(f"${len(a)}\r\n{a}\r\n" for a in args)
        with socket.create_connection(("127.0.0.1", self.port), timeout=2) as s:
            s.sendall(req.encode())
            return s.recv(65536)

    def start(self, timeout: float = 10.0) -> str:
        self.proc = subprocess.Popen(self.argv, stdin=subprocess.DEVNULL,
                                     stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return f"redis-server exited with {self.proc.returncode}; see {self.dir}"
            try:
                if self.command("PING").startswith(b"+PONG"):
                    return ""
            except OSError:
                pass
            time.sleep(0.05)
        return f"redis-server did not answer on {self.address} within {timeout:.0f} s"

    def stop(self) -> None:
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()


class Node:
    """One ringcast (1 worker process x 1 shard), optionally with its bridge."""

    def __init__(self, name: str, tools: suite.Tools, rundir: Path, logdir: Path, cpus: str,
                 redis: Redis | None, stream: str):
        self.name = name
        self.port = free_port()
        self.ctl = rundir / f"{name}.ctl.sock"
        cfg = {"listen": f"127.0.0.1:{self.port}", "worker_processes": 1, "shards": 1,
               "control_socket": str(self.ctl)}
        if redis:
            cfg["bridge"] = {"enabled": True, "redis": redis.address, "stream": stream,
                             "node_id": name}
        self.config = rundir / f"{name}.ringcast.json"
        self.config.write_text(json.dumps(cfg) + "\n")
        self.bridged = redis is not None
        self.tools = tools
        argv = ["taskset", "-c", cpus, str(tools.ringcast), "--config", str(self.config)]
        self.server = suite.Server("ringcast", argv, None, logdir, f"node-{name}", self.port,
                                   "event=ready", "err")

    @property
    def url(self) -> str:
        return f"ws://127.0.0.1:{self.port}/"

    @property
    def pid(self) -> int:
        return self.server.pid

    def status(self) -> dict:
        r = subprocess.run([str(self.tools.ctl), "--socket", str(self.ctl), "--json", "status"],
                           capture_output=True, text=True, timeout=10, stdin=subprocess.DEVNULL)
        lines = [ln for ln in r.stdout.splitlines() if ln.strip()]
        try:
            return json.loads(lines[-1]) if lines else {}
        except ValueError:
            return {}

    def bridge(self) -> dict:
        return self.status().get("bridge") or {}

    def wait_connected(self, timeout: float = 20.0) -> dict:
        deadline = time.monotonic() + timeout
        st: dict = {}
        while time.monotonic() < deadline:
            st = self.bridge()
            if st.get("connected") and st.get("last_id"):
                return st
            time.sleep(0.1)
        raise RuntimeError(f"node {self.name}: bridge not connected within {timeout:.0f} s: {st}")


def pin(pids: list[int], cpus: str) -> None:
    """Moves every thread of these processes of ours and of their descendants onto `cpus`
    (children forked later inherit it)."""
    for root in pids:
        for pid in [root] + suite.descendants(root):
            subprocess.run(["taskset", "-a", "-p", "-c", cpus, str(pid)],
                           stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def bridge_delta(before: dict, after: dict) -> dict:
    d = {k: (after.get(k) or 0) - (before.get(k) or 0) for k in BRIDGE_KEYS}
    for k in ("connected", "lag_ms", "buffered", "in_flight", "pid", "restarts", "state"):
        d[k + "_after"] = after.get(k)
    return d


class Bench:
    def __init__(self, a, tools: suite.Tools, rundir: Path, logdir: Path):
        self.a, self.t, self.rundir, self.logdir = a, tools, rundir, logdir
        self.runs: dict[str, dict] = {}
        self.bridged_nodes: list[Node] = []  # every bridged node up during the runs

    def run(self, name: str, nodes: list[Node], redis: Redis | None) -> dict:
        sc = SCENARIOS[name]
        quiet = suite.wait_for_quiet(self.a.quiet_cores, self.a.quiet_wait)
        if quiet["quiet"] is False:
            log(f"{name}: machine still busy ({quiet['busy_cores']} cores) after "
                f"{quiet['waited_sec']} s; running anyway")
        bridged = [n for n in nodes if n.bridged]
        # Every bridged node runs during a run, even one without clients (local-max).
        all_bridged = self.bridged_nodes if bridged else []
        lat = sc["pin"] == "lat"
        server_cpus = self.a.lat_server_cpus if lat else self.a.server_cpus
        gen_cpus = self.a.lat_gen_cpus if lat else self.a.gen_cpus
        pin([n.pid for n in set(nodes) | set(all_bridged)] +
            ([redis.proc.pid] if redis and bridged else []), server_cpus)
        pids = [n.pid for n in nodes]
        extra_nodes = [n for n in all_bridged if n not in nodes]
        pids += [n.pid for n in extra_nodes]
        roots = [f"node {n.name}" for n in nodes] + [f"node {n.name}" for n in extra_nodes]
        before = {n.name: n.bridge() for n in all_bridged}
        for n in all_bridged:
            if before[n.name].get("pid"):
                pids.append(before[n.name]["pid"])
                roots.append(f"bridge {n.name}")
        if redis and bridged:
            pids.append(redis.proc.pid)
            roots.append("redis")
        gen = ["taskset", "-c", gen_cpus, str(self.t.bench)]
        for n in nodes:
            gen += ["--url", n.url]
        gen += [*shlex.split(sc["flags"]), "--warmup", str(self.a.warmup), "--duration",
                str(self.a.duration), "--label", name]
        for p in pids:
            gen += ["--server-pid", str(p)]
        gen += shlex.split(self.a.gen_flags)
        rec: dict = {"scenario": name, "what": sc["what"], "flags": sc["flags"],
                     "nodes": [n.name for n in nodes], "roots": roots, "quiet": quiet,
                     "server_cpus": server_cpus, "gen_cpus": gen_cpus,
                     "loadavg": suite.loadavg(),
                     "time": dt.datetime.now().isoformat(timespec="seconds"),
                     "gen_cmd": shlex.join(gen)}
        log(f"{name}: {' + '.join(n.url for n in nodes)}")
        out_path, err_path = self.logdir / f"{name}.json", self.logdir / f"{name}.log"
        peak = {n.name: {"lag_ms": 0, "buffered": 0, "in_flight": 0} for n in all_bridged}
        timeout = self.a.warmup + self.a.duration + 60
        with open(out_path, "wb") as fo, open(err_path, "wb") as fe:
            gp = subprocess.Popen(gen, stdout=fo, stderr=fe, stdin=subprocess.DEVNULL)
            try:
                t0 = time.monotonic()
                next_poll = t0 + 1.0
                while gp.poll() is None:
                    for n in nodes:
                        n.server.note_children()
                    now = time.monotonic()
                    if now - t0 > timeout:
                        gp.kill()
                        break
                    if now >= next_poll:  # bridge lag and backlog while the load runs, 1/s
                        next_poll = now + 1.0
                        for n in all_bridged:
                            st = n.bridge()
                            for k in peak[n.name]:
                                peak[n.name][k] = max(peak[n.name][k], st.get(k) or 0)
                    time.sleep(0.05)
                rec["gen_exit"] = gp.wait()
            except BaseException:
                if gp.poll() is None:
                    gp.kill()
                    gp.wait()
                raise
        time.sleep(0.6)  # the bridges report every 250 ms: let the last counts arrive
        rec["bridges"] = {}
        for n in all_bridged:
            rec["bridges"][n.name] = dict(bridge_delta(before[n.name], n.bridge()),
                                          **{f"max_{k}": v for k, v in peak[n.name].items()})
        j = suite.last_json_line(out_path)
        rec["json"] = j
        problems = []
        if j is None:
            problems.append(f"no JSON from ringcast-bench (exit {rec['gen_exit']}); "
                            f"see {err_path}")
        elif j.get("status") != "completed":
            problems.append(f"status {j.get('status')}: {'; '.join(j.get('error_samples', []))}")
        else:
            if j["loss"] or j["duplicates"]:
                problems.append(f"loss {j['loss']}, duplicates {j['duplicates']}")
            if j.get("errors"):
                problems.append(f"{j['errors']} error(s): {'; '.join(j['error_samples'][:3])}")
        for n in nodes:
            if n.server.proc.poll() is not None:
                problems.append(f"node {n.name} exited; see {n.server.err_path}")
        rec["ok"] = not problems
        if problems:
            rec["error"] = "; ".join(problems)
            log(f"{name}: FAILED: {rec['error']}")
        else:
            s = summarize_run(rec)
            log(f"{name}: {s['msgs_per_sec']:,.0f} msg/s, {s['deliveries_per_sec']:,.0f} "
                f"deliveries/s, p99 local {suite.fmt(s['local_p99_us'])} remote "
                f"{suite.fmt(s['remote_p99_us'])} us")
        self.runs[name] = rec
        return rec


def summarize_run(rec: dict) -> dict:
    j = rec.get("json") or {}
    if not j or j.get("status") != "completed":
        return {"scenario": rec["scenario"], "ok": False, "error": rec.get("error")}
    m, sec = j["measured"], j["duration_sec"] or 1.0
    servers = {name: s for name, s in zip(rec["roots"], j.get("servers") or [])}

    def lat(key: str, p: str):
        obj = j.get(key) or {}
        return obj.get(p)
    return {
        "scenario": rec["scenario"], "ok": rec["ok"], "error": rec.get("error"),
        "msgs_per_sec": m["messages_sent"] / sec,
        "deliveries_per_sec": j["deliveries_per_sec"],
        "remote_deliveries_per_sec": m.get("deliveries_remote", 0) / sec,
        "local_p50_us": lat("latency_local", "p50"), "local_p99_us": lat("latency_local", "p99"),
        "remote_p50_us": lat("latency_remote", "p50"),
        "remote_p99_us": lat("latency_remote", "p99"),
        "remote_max_us": lat("latency_remote", "max"),
        "loss": j["loss"], "duplicates": j["duplicates"], "reordered": j["reordered"],
        "server_cpu_cores": j.get("server_cpu_cores"),
        "cpu_cores": {k: v["cpu_cores"] for k, v in servers.items()},
        "client_cpu_cores": j.get("client_cpu_cores"),
        "host_other_cores": j.get("host_other_cores"),
        "bridges": rec.get("bridges", {}),
    }


def render(meta: dict, rows: dict[str, dict], runs: dict[str, dict]) -> str:
    f = suite.fmt
    L = [SECTION, ""]
    L.append(f"Generated by `{meta['command']}` "
             f"on {meta['date']} (source {meta['source']}; {meta['cpu_model']} × "
             f"{meta['cpus']}; {meta['redis_version']}). Two ringcast nodes a and b "
             f"(1 worker process × 1 shard each, bridge on, one stream) and their redis-server; "
             f"ringcast-bench is given both URLs: connection i goes to node i mod 2, senders "
             f"alternate between the nodes, a sender's window observer is on the other node. "
             f"**Local**: the receiver is on the sender's node; **remote**: the message went "
             f"through both bridges and Redis. Pinning: in the max runs the nodes (bridges "
             f"included) and Redis on `taskset -c {meta['server_cpus']}`, ringcast-bench on "
             f"`taskset -c {meta['gen_cpus']}`, as in the suite; in bridge-lat servers on "
             f"`{meta['lat_server_cpus']}` and ringcast-bench on `{meta['lat_gen_cpus']}`, "
             f"because with every server process on one CPU the bridge woken by a message "
             f"preempts its node's fan-out to the local clients, and local latency then pays "
             f"for the remote path (in trial runs local came out above remote). One run "
             f"per row, {meta['duration']:g} s measured after {meta['warmup']:g} s warmup; "
             f"ratios are from these single runs.\n")
    L.append("| run | msgs/s | deliveries/s | local p50/p99 µs | remote p50/p99 µs | loss/dup "
             "| server CPU cores: node (its bridge) | gen/other |")
    L.append("| --- | ---: | ---: | ---: | ---: | ---: | --- | --- |")
    for name in ORDER:
        if name not in rows:
            continue
        r = rows[name]
        what = f"**{name}**: {SCENARIOS[name]['what']}"
        if "msgs_per_sec" not in r:
            L.append(f"| {what} | failed: {r.get('error')} | | | | | | |")
            continue
        c = r["cpu_cores"]
        parts = []
        for n, v in c.items():
            if n.startswith("node "):
                b = c.get("bridge " + n[5:])
                parts.append(f"{n[5:]} {f(v, 2)}" + (f" ({f(b, 2)})" if b is not None else ""))
        if "redis" in c:
            parts.append(f"Redis {f(c['redis'], 2)}")
        cpu = ", ".join(parts)
        remote = (f"{f(r['remote_p50_us'])}/{f(r['remote_p99_us'])}"
                  if r["remote_p99_us"] is not None else "–")
        L.append(f"| {what} | {f(r['msgs_per_sec'])} | {f(r['deliveries_per_sec'])} | "
                 f"{f(r['local_p50_us'])}/{f(r['local_p99_us'])} | {remote} | "
                 f"{r['loss']}/{r['duplicates']} | {cpu} | "
                 f"{f(r['client_cpu_cores'], 2)}/{f(r['host_other_cores'], 2)} |")
    L.append("")
    s = meta["summary"]
    notes = []
    if s.get("added_p99_us") is not None:
        notes.append(f"Latency the bridge adds (bridge-lat, remote − local): p50 "
                     f"{s['added_p50_us']:+,.0f} µs, p99 {s['added_p99_us']:+,.0f} µs.")
    if s.get("cross_node_msgs_per_sec") is not None:
        t = (f"Through the bridge (bridge-max): {f(s['cross_node_msgs_per_sec'])} messages/s "
             f"crossed from each sender's node to the other ("
             f"{f(s['cross_node_deliveries_per_sec'])} remote deliveries/s)")
        if s.get("ratio_bridge_local") is not None:
            t += f", {s['ratio_bridge_local']:.2f} × the one-node rate (local-max)"
        if s.get("ratio_bridge_plain") is not None:
            t += f" and {s['ratio_bridge_plain']:.2f} × a node without a bridge (plain-max)"
        notes.append(t + ".")
    mx = rows.get("bridge-max") or {}
    for n, b in (mx.get("bridges") or {}).items():
        notes.append(f"Bridge {n} during bridge-max (warmup and drain included): sent "
                     f"{f(b['sent'])}, received "
                     f"{f(b['received'])}, duplicates {b['duplicates']}, dropped {b['dropped']}, "
                     f"lag max {f(b['max_lag_ms'])} ms (sampled 1/s), outbox max "
                     f"{f(b['max_buffered'])}, in flight max {f(b['max_in_flight'])}.")
    disturbed = [f"{k} {v['host_other_cores']:.2f}" for k, v in rows.items()
                 if (v.get("host_other_cores") or 0) > 0.3]
    if disturbed:
        notes.append("Disturbed by other work on the machine (cores it took during the "
                     "measured window): " + ", ".join(disturbed) + ".")
    nq = [k for k, v in runs.items() if v["quiet"]["quiet"] is False]
    if nq:
        notes.append("Started on a busy machine (quiet wait ran out): " + ", ".join(nq) + ".")
    L.extend(f"- {x}" for x in notes)
    L.append("")
    L.append("<details><summary>command lines</summary>\n")
    L.append("```")
    for k, v in meta["server_cmds"].items():
        L.append(f"# {k}")
        L.append(v)
    for name in ORDER:
        if name in runs:
            L.append(f"# {name}")
            L.append(runs[name]["gen_cmd"])
    L.append("```\n</details>\n")
    L.append(f"Every run's generator JSON, the bridge counters and the summary: "
             f"`{meta['results_json']}`.\n")
    return "\n".join(L)


def splice(report: Path, section: str) -> None:
    """Puts `section` into `report`: in place of an existing one, else before the closing
    "Raw JSON of every run" line, else at the end. Everything else is kept as it was."""
    text = report.read_text() if report.exists() else "# ringcast benchmark results\n\n"
    lines = text.split("\n")
    body = section.rstrip("\n").split("\n") + [""]
    if SECTION in lines:
        i = lines.index(SECTION)
        j = i + 1
        while j < len(lines) and not lines[j].startswith("## ") and \
                not lines[j].startswith("Raw JSON of every run"):
            j += 1
        lines[i:j] = body
    else:
        at = next((k for k, ln in enumerate(lines) if ln.startswith("Raw JSON of every run")),
                  None)
        if at is None:
            if lines and lines[-1] != "":
                lines.append("")
            lines.extend(body)
        else:
            lines[at:at] = body
    report.write_text("\n".join(lines))


def scrub(text: str, rundir: Path) -> str:
    """No machine paths in what may be committed: the repository's become relative, the run
    directory's (config files, control sockets) become $RUNDIR."""
    return text.replace(str(REPO) + "/", "").replace(str(rundir), "$RUNDIR")


def main() -> int:
    ap = argparse.ArgumentParser(
        prog="bench/bridge/run.sh",
        description="Cross-node benchmark: two ringcast nodes joined through a Redis stream. "
                    "Runs bridge-lat, bridge-max, local-max and plain-max once each (~1 min).")
    ap.add_argument("--bin-dir", default=str(REPO / "build" / "bin"),
                    help="ringcast, ringcastctl, ringcast-bench (default build/bin)")
    ap.add_argument("--out", default=None,
                    help="where bridge.json and bridge.md go (default: a new temp dir)")
    ap.add_argument("--report", default=None,
                    help="also put the section into this Markdown file (e.g. bench/RESULTS.md), "
                         "replacing the one there; the rest of the file is kept")
    ap.add_argument("--logs", default=None,
                    help="server, Redis and generator logs (default: OUT/logs)")
    ap.add_argument("--scenarios", default=",".join(ORDER),
                    help=f"comma list of {','.join(ORDER)} (default all)")
    ap.add_argument("--duration", type=float, default=8.0, help="measured seconds (8)")
    ap.add_argument("--warmup", type=float, default=1.0, help="warmup seconds (1)")
    ap.add_argument("--server-cpus", default="0",
                    help="nodes and Redis in the max runs (taskset; 0)")
    ap.add_argument("--gen-cpus", default="1", help="ringcast-bench in the max runs (taskset; 1)")
    every = ",".join(str(c) for c in sorted(os.sched_getaffinity(0)))
    ap.add_argument("--lat-server-cpus", default=every,
                    help="nodes and Redis in bridge-lat (default: every CPU we may use; with "
                         "all of them on one CPU, a woken bridge preempts its node's own "
                         "fan-out, so local latency pays for the remote path)")
    ap.add_argument("--lat-gen-cpus", default=every,
                    help="ringcast-bench in bridge-lat (default: every CPU we may use)")
    ap.add_argument("--max-load", type=float, default=1.0,
                    help="wait for the 1-min loadavg below this before starting (1.0)")
    ap.add_argument("--load-wait", type=float, default=0,
                    help="... but at most this many seconds (0: do not wait, only note it)")
    ap.add_argument("--quiet-cores", type=float, default=0.5,
                    help="before each run wait until busy CPU over 1 s is below this (0.5)")
    ap.add_argument("--quiet-wait", type=float, default=15,
                    help="... but at most this many seconds (15)")
    ap.add_argument("--gen-flags", default="", help="extra ringcast-bench flags")
    argv_text = shlex.join(sys.argv[1:])
    a = ap.parse_args()
    wanted = [s for s in a.scenarios.split(",") if s]
    for s in wanted:
        if s not in SCENARIOS:
            ap.error(f"--scenarios: unknown {s!r} (want {', '.join(ORDER)})")

    a.build_dir = None
    tools = suite.Tools(a)
    for p in (tools.bench, tools.ringcast, tools.ctl):
        if not os.access(p, os.X_OK):
            log(f"no {p}: build ringcast, ringcastctl and ringcast-bench first")
            return 77
    redis_bin = shutil.which("redis-server")
    if not redis_bin:
        log("redis-server not found (Debian package redis-server)")
        return 77
    suite.raise_nofile()

    out = Path(a.out).resolve() if a.out else Path(tempfile.mkdtemp(prefix="ringcast-bridge."))
    out.mkdir(parents=True, exist_ok=True)
    logdir = Path(a.logs).resolve() if a.logs else out / "logs"
    if a.out and not a.logs and out == REPO / "bench" / "results":
        # Logs stay outside the source tree, as bench/run.sh keeps them.
        logdir = tools.bin_dir.parent / "bench-logs" / ("bridge-" + time.strftime("%Y%m%d-%H%M%S"))
    logdir.mkdir(parents=True, exist_ok=True)
    rundir = Path(tempfile.mkdtemp(prefix="rc-bridge."))  # short: control socket paths

    load = {"loadavg_1m_first": suite.loadavg()[0], "loadavg_1m": suite.loadavg()[0],
            "waited_sec": 0, "quiet": None}
    if a.load_wait > 0:
        load = suite.wait_for_load(a.max_load, a.load_wait)
    rv = subprocess.run([redis_bin, "--version"], capture_output=True, text=True).stdout
    m = re.search(r"v=(\S+)", rv)
    meta = {
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "uname": subprocess.run(["uname", "-a"], capture_output=True, text=True).stdout.strip(),
        "cpu_model": suite.cpu_model(), "cpus": os.cpu_count(), "argv": argv_text,
        # bench/run.sh --bridge names itself (it calls us with --out and --report).
        "command": os.environ.get("RINGCAST_BENCH_COMMAND") or
        ("bench/bridge/run.sh" + (" " + argv_text if argv_text else "")),
        "source": suite.git_state(), "redis_version": f"Redis {m.group(1) if m else '?'}",
        "server_cpus": a.server_cpus, "gen_cpus": a.gen_cpus,
        "lat_server_cpus": a.lat_server_cpus, "lat_gen_cpus": a.lat_gen_cpus,
        "duration": a.duration,
        "warmup": a.warmup, "load_wait": load, "quiet_cores": a.quiet_cores,
        "quiet_wait": a.quiet_wait, "scenarios": wanted, "server_cmds": {},
    }
    bench = Bench(a, tools, rundir, logdir)
    stream = f"ringcast-bench-{os.getpid()}"
    redis: Redis | None = None
    nodes: list[Node] = []
    interrupted = False
    failure = ""

    def on_term(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)
    t_start = time.monotonic()
    try:
        if any(SCENARIOS[s]["nodes"] != "p" for s in wanted):
            redis = Redis(redis_bin, rundir, a.server_cpus)
            meta["server_cmds"]["redis"] = shlex.join(redis.argv)
            why = redis.start()
            if why:
                raise RuntimeError(why)
            for name in "ab":
                n = Node(name, tools, rundir, logdir, a.server_cpus, redis, stream)
                nodes.append(n)
                meta["server_cmds"][f"node {name}"] = shlex.join(n.server.argv) + \
                    "   # " + n.config.read_text().strip()
                why = n.server.start()
                if why:
                    raise RuntimeError(f"node {name}: {why}")
            for n in nodes:
                st = n.wait_connected()
                log(f"node {n.name}: bridge connected to {st.get('redis')}, pid {st.get('pid')}")
            bench.bridged_nodes = nodes
            by = {n.name: n for n in nodes}
            for s in wanted:
                if SCENARIOS[s]["nodes"] != "p":
                    bench.run(s, [by[c] for c in SCENARIOS[s]["nodes"]], redis)
            for n in nodes:
                n.server.stop()
            redis.stop()
        if "plain-max" in wanted:
            p = Node("p", tools, rundir, logdir, a.server_cpus, None, stream)
            nodes.append(p)
            meta["server_cmds"]["node p (no bridge)"] = shlex.join(p.server.argv) + \
                "   # " + p.config.read_text().strip()
            why = p.server.start()
            if why:
                raise RuntimeError(f"node p: {why}")
            bench.bridged_nodes = []
            bench.run("plain-max", [p], None)
            p.server.stop()
    except KeyboardInterrupt:
        interrupted = True
        log("interrupted; writing what ran")
    except (RuntimeError, OSError, subprocess.SubprocessError) as e:
        failure = str(e)
        log(f"FAILED: {failure}")
    finally:
        for n in nodes:
            n.server.stop()
        if redis:
            redis.stop()
        shutil.rmtree(rundir, ignore_errors=True)

    rows = {k: summarize_run(v) for k, v in bench.runs.items()}
    s: dict = {}
    lat, mx = rows.get("bridge-lat") or {}, rows.get("bridge-max") or {}
    if lat.get("remote_p99_us") is not None and lat.get("local_p99_us") is not None:
        s["added_p50_us"] = lat["remote_p50_us"] - lat["local_p50_us"]
        s["added_p99_us"] = lat["remote_p99_us"] - lat["local_p99_us"]
    if mx.get("msgs_per_sec"):
        s["cross_node_msgs_per_sec"] = mx["msgs_per_sec"]
        s["cross_node_deliveries_per_sec"] = mx["remote_deliveries_per_sec"]
        for base, key in (("local-max", "ratio_bridge_local"), ("plain-max", "ratio_bridge_plain")):
            b = rows.get(base) or {}
            if b.get("msgs_per_sec"):
                s[key] = mx["msgs_per_sec"] / b["msgs_per_sec"]
    meta["summary"] = s
    meta["elapsed_sec"] = round(time.monotonic() - t_start, 1)
    meta["results_json"] = str(out / "bridge.json")  # relative to the repository, scrubbed
    # Where the logs were, without naming the machine's directories.
    meta["logdir"] = os.path.relpath(logdir, REPO) if logdir.is_relative_to(REPO) else \
        f"{logdir.name} (outside the source tree)"
    doc = {"meta": meta, "summary": s, "rows": rows, "runs": bench.runs}
    (out / "bridge.json").write_text(scrub(json.dumps(doc, indent=1), rundir) + "\n")
    section = scrub(render(meta, rows, bench.runs), rundir)
    (out / "bridge.md").write_text(section)
    if a.report and bench.runs:
        splice(Path(a.report).resolve(), section)
        log(f"section written into {a.report}")

    # The table on stderr.
    f = suite.fmt
    print(f"\n{'run':<11} {'msgs/s':>9} {'deliv/s':>10} {'local p50/p99 us':>17} "
          f"{'remote p50/p99 us':>18} {'loss/dup':>8}  cpu cores", file=sys.stderr)
    for name in ORDER:
        r = rows.get(name)
        if not r:
            continue
        if r.get("msgs_per_sec") is None:
            print(f"{name:<11} failed: {r.get('error')}", file=sys.stderr)
            continue
        cpu = " ".join(f"{k.replace(' ', ':')}={v:.2f}" for k, v in r["cpu_cores"].items())
        print(f"{name:<11} {f(r['msgs_per_sec']):>9} {f(r['deliveries_per_sec']):>10} "
              f"{f(r['local_p50_us']) + '/' + f(r['local_p99_us']):>17} "
              f"{f(r['remote_p50_us']) + '/' + f(r['remote_p99_us']):>18} "
              f"{str(r['loss']) + '/' + str(r['duplicates']):>8}  {cpu}", file=sys.stderr)
    if s:
        print("summary: " + ", ".join(f"{k} {v:,.2f}" for k, v in s.items()), file=sys.stderr)
    log(f"results: {out / 'bridge.json'}, {out / 'bridge.md'}; logs: {logdir}")

    failed = [k for k, v in bench.runs.items() if not v.get("ok")]
    ok = not failed and not interrupted and not failure and len(bench.runs) == len(wanted)
    print(json.dumps({"status": "ok" if ok else "failed", "runs": len(bench.runs),
                      "failed_runs": failed, "error": failure or None, "summary": s,
                      "results_json": str(out / "bridge.json"),
                      "fragment": str(out / "bridge.md")}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
