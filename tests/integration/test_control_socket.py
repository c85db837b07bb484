#!/usr/bin/python3
"""The control socket and ringcastctl, against a running cluster.

  * the socket file is a socket with mode 0660;
  * every command through `ringcastctl` (tables/summaries, exit 0) and `--json` (one JSON
    line, "ok": true): status, workers, stats, probes, channels, restart N, set, drain,
    shutdown;
  * `channels` (channels off, no channel traffic): mode "off", a row per worker and a total,
    both top lists empty; `--top 48` (16 per shard) is accepted, `--top 49` refused naming
    "top" (exit 1), `--top 0` a usage error (exit 2); `set channels path` is refused as not
    a run-time key;
  * `workers` lists 3 workers (indexes 0..2, state running) whose pids are exactly the
    supervisor's children, in the table and in JSON;
  * `stats` counters move by the right amounts after traffic: 5 clients, 40 messages ->
    messages_in +40 and deliveries +160 (cluster totals), bytes in/out grow; `status` and
    `workers` agree with it;
  * `set log_level debug` and `set max_buffered_bytes 1048576` are ok; `set ring 4096` and
    an unknown key exit 1 with an error naming the key and "run time"; a bad value for a
    run-time key is refused naming the key; the admission keys are run-time settings too
    (`set allowed_origins '[...]'`, `set rate_limit '{...}'`, `set max_connections 100`), and
    `set auth '{"required": true}'` without a key file is refused naming auth.required;
  * a raw AF_UNIX client: unknown command, malformed JSON (connection kept: the next
    request on it is answered), JSON that is not an object, missing "cmd", "cmd" not a
    string -- each answered {"ok":false,"error":...} with the documented text; blank lines
    ignored; several requests in one write answered in order; a last request without its
    newline answered after the client shuts down its writing side; a line over 64 KiB gets
    "request too long" and the connection is closed;
  * clients that vanish (mid-request, before reading an answer, with RST, and one that
    asked for a restart and left before it was answered) do not hurt the next client; the
    orphaned restart still completes;
  * ringcastctl exits 2 for a usage error and for a socket path nobody serves;
  * `drain` -> status shows draining, clients get Close 1001, the workers exit and are not
    restarted (the supervisor stays), `restart` is refused; `shutdown` is answered, the
    supervisor exits 0 and the socket file is gone.
"""
import asyncio
import os
import re
import socket
import stat
import struct
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ringcast_harness as h  # noqa: E402

N_CLIENTS = 5
N_MSGS = 40


def totals_of(ans):
    return ans["totals"]


async def main():
    h.import_websockets()
    srv = h.Server("control-socket").start()
    ctl = h.ctl_socket_of(srv)
    loop = asyncio.get_running_loop()

    # --- the socket file
    st = os.stat(ctl)
    h.check(stat.S_ISSOCK(st.st_mode), f"{ctl} is not a socket: mode {oct(st.st_mode)}")
    h.check(stat.S_IMODE(st.st_mode) == 0o660, f"{ctl} has mode {oct(stat.S_IMODE(st.st_mode))}, expected 0o660")
    h.log(f"control socket {ctl}: socket, mode 0660")

    # --- every read-only command, human and --json
    kids = srv.worker_pids()
    rc, out, err = await h.actl(ctl, "status")
    h.check(rc == 0, f"status: rc={rc} {err!r}")
    h.check(re.match(r"ringcast \S+, up \S+, serving\n", out), f"status first line: {out[:200]!r}")
    h.check(re.search(r"^workers\s+3: 3 running, 0 starting, 0 restarting, 0 dead$", out, re.M),
            f"status should show 3 running workers:\n{out}")
    h.check(re.search(r"^shards\s+3: 3 live", out, re.M), f"status should show 3 live shards:\n{out}")
    h.log("status:\n" + out.rstrip())
    _, status = await h.actl_json(ctl, "status")
    h.check(status["draining"] is False and status["workers"]["running"] == 3, f"status --json: {status}")
    h.check(isinstance(status["uptime_ms"], int) and isinstance(status["version"], str), f"status --json: {status}")
    h.check(status["config"]["listen"] == f"127.0.0.1:{srv.port}", f"status config.listen: {status['config']}")

    rc, out, err = await h.actl(ctl, "workers")
    h.check(rc == 0, f"workers: rc={rc} {err!r}")
    lines = out.strip().splitlines()
    h.check(lines[0].split()[:9] == ["INDEX", "PID", "STATE", "INCARNATION", "SHARDS", "CONNS", "MSGS_IN",
                                     "MSGS_OUT", "RESTARTS"], f"workers table header: {lines[0]!r}")
    rows = [l.split() for l in lines[1:]]
    h.check(len(rows) == 3, f"workers table should have 3 rows:\n{out}")
    h.check(sorted(int(r[1]) for r in rows) == kids, f"workers table pids {[r[1] for r in rows]} vs children {kids}")
    h.check([r[0] for r in rows] == ["0", "1", "2"] and all(r[2] == "running" for r in rows), f"workers table:\n{out}")
    h.log("workers:\n" + out.rstrip())
    _, wj = await h.actl_json(ctl, "workers")
    h.check(len(wj["workers"]) == 3 and sorted(w["pid"] for w in wj["workers"]) == kids,
            f"workers --json pids vs children {kids}: {wj}")
    for w in wj["workers"]:
        for k in ("index", "pid", "state", "incarnation", "shards", "members", "connections", "messages_in",
                  "messages_out", "restarts", "numa_node"):
            h.check(k in w, f"workers --json entry lacks {k!r}: {w}")

    rc, out, err = await h.actl(ctl, "stats")
    h.check(rc == 0, f"stats: rc={rc} {err!r}")
    lines = out.strip().splitlines()
    h.check(lines[0].split()[:4] == ["WORKER", "SHARD", "CPU", "STATE"] and "RING" in lines[0].split(),
            f"stats header: {lines[0]!r}")
    h.check(len(lines) == 5 and lines[-1].startswith("total"), f"stats: 3 shard rows and a total row:\n{out}")
    _, sj = await h.actl_json(ctl, "stats")
    h.check(len(sj["shards"]) == 3 and all(s["state"] == "live" for s in sj["shards"]), f"stats --json: {sj}")

    rc, out, err = await h.actl(ctl, "probes")
    h.check(rc == 0 and out.strip(), f"probes: rc={rc} {out!r} {err!r}")
    _, pj = await h.actl_json(ctl, "probes")
    h.check(pj.get("healthy") is True and pj.get("ready") is True, f"probes --json: {pj}")
    h.log(f"stats, probes: ok (probes healthy={pj['healthy']} ready={pj['ready']})")

    rc, out, err = await h.actl(ctl, "channels")
    h.check(rc == 0 and out.startswith("channels off "), f"channels: rc={rc} out={out!r} err={err!r}")
    lines = out.splitlines()
    h.check(lines[1].split() == ["WORKER", "CHANNELS", "MESSAGES"] and lines[5].startswith("total"),
            f"channels table: a header, 3 workers and a total:\n{out}")
    h.check(out.count("(none)") == 2, f"channels without channel traffic should list no busiest channels:\n{out}")
    _, cj = await h.actl_json(ctl, "channels")
    h.check(cj["mode"] == "off" and [w["index"] for w in cj["workers"]] == [0, 1, 2]
            and isinstance(cj["channels"], int) and isinstance(cj["channel_messages"], int)
            and cj["top"] == {"by_subscribers": [], "by_messages": []}, f"channels --json: {cj}")
    _, cj = await h.actl_json(ctl, "channels", "--top", "48")
    h.check(cj.get("ok") is True, f"channels --top 48 (16 per shard, 3 shards): {cj}")
    rc, out, err = await h.actl(ctl, "channels", "--top", "49")
    h.check(rc == 1 and "top" in err and "48" in err, f"channels --top 49: rc={rc} err={err!r}")
    rc, out, err = await h.actl(ctl, "channels", "--top", "0")
    h.check(rc == 2 and "--top" in err, f"channels --top 0: rc={rc} err={err!r}")
    rc, out, err = await h.actl(ctl, "set", "channels", "path")
    h.check(rc == 1 and "channels" in err and "run time" in err, f"set channels path: rc={rc} err={err!r}")
    _, sj = await h.actl_json(ctl, "stats")
    h.check(sj["channel_top"] == {"by_subscribers": [], "by_messages": []} and "channels" in sj["totals"],
            f"stats --json channel figures: {sj.get('channel_top')} {sj['totals']}")
    h.log("channels: counts per worker, empty top lists, --top bounds, not a run-time key")

    # --- counters move after traffic
    clients = await h.ws_connect_many(srv.uri(), N_CLIENTS)
    receivers = [h.Receiver(f"c{i}", c, own_sid=0 if i == 0 else None).start() for i, c in enumerate(clients)]
    await h.sync_barrier(clients[0], receivers, "x")
    _, s0 = await h.actl_json(ctl, "stats")
    t0 = totals_of(s0)
    h.check(t0["connections"] == N_CLIENTS, f"stats totals.connections {t0['connections']}, expected {N_CLIENTS}")
    for seq in range(N_MSGS):
        await clients[0].send(h.make_msg(0, seq))
    await h.wait_for(lambda: all(r.got(0) >= N_MSGS for r in receivers[1:]), 10, "the 40 messages to arrive")
    want_in, want_del = t0["messages_in"] + N_MSGS, t0["deliveries"] + N_MSGS * (N_CLIENTS - 1)
    t1 = None
    for _ in range(100):
        _, s1 = await h.actl_json(ctl, "stats")
        t1 = totals_of(s1)
        if t1["messages_in"] >= want_in and t1["deliveries"] >= want_del:
            break
        await asyncio.sleep(0.05)
    h.check(t1["messages_in"] == want_in and t1["deliveries"] == want_del,
            f"after {N_MSGS} messages to {N_CLIENTS - 1} others: messages_in {t0['messages_in']} -> "
            f"{t1['messages_in']} (want {want_in}), deliveries {t0['deliveries']} -> {t1['deliveries']} (want {want_del})")
    h.check(t1["bytes_in"] > t0["bytes_in"] and t1["bytes_out"] > t0["bytes_out"],
            f"bytes counters did not grow: {t0} -> {t1}")
    h.check(sum(s["messages_in"] for s in s1["shards"]) == t1["messages_in"],
            f"stats shards do not sum to the totals: {s1}")
    _, wj = await h.actl_json(ctl, "workers")
    h.check(sum(w["messages_in"] for w in wj["workers"]) == t1["messages_in"] and
            sum(w["connections"] for w in wj["workers"]) == N_CLIENTS,
            f"workers --json disagrees with stats totals {t1}: {wj}")
    _, status = await h.actl_json(ctl, "status")
    h.check(status["totals"]["messages_in"] == t1["messages_in"], f"status totals {status['totals']} vs stats {t1}")
    h.log(f"counters after {N_MSGS} messages: messages_in {t0['messages_in']} -> {t1['messages_in']}, deliveries "
          f"{t0['deliveries']} -> {t1['deliveries']}, bytes_out {t0['bytes_out']} -> {t1['bytes_out']}")

    # --- set
    for key, val in (("log_level", "debug"), ("max_buffered_bytes", "1048576"), ("log_level", "info")):
        rc, out, err = await h.actl(ctl, "set", key, val)
        h.check(rc == 0 and key in out, f"set {key} {val}: rc={rc} out={out!r} err={err!r}")
    _, a = await h.actl_json(ctl, "set", "max_buffered_bytes", "1048576")
    h.check(a["value"] == 1048576 and a["key"] == "max_buffered_bytes", f"set answer: {a}")
    _, status = await h.actl_json(ctl, "status")
    h.check(status["config"]["max_buffered_bytes"] == 1048576, f"status after set: {status['config']}")
    for key, val, words in (("ring", "4096", ("ring", "run time")), ("listen", "127.0.0.1:1", ("listen", "run time")),
                            ("no_such_key", "1", ("no_such_key",)), ("log_level", "loud", ("log_level",)),
                            ("max_buffered_bytes", "5", ("max_buffered_bytes",))):
        rc, out, err = await h.actl(ctl, "set", key, val)
        h.check(rc == 1 and all(w in err for w in words),
                f"set {key} {val} should be refused naming {words}: rc={rc} err={err!r}")
        h.log(f"set {key} {val}: refused: {err.strip()!r}")
    _, status = await h.actl_json(ctl, "status")
    h.check(status["config"]["ring"] == 2048, f"ring changed after a refused set: {status['config']}")
    # Admission keys change at run time; each set is put back so the rest of the test is unaffected.
    for key, val in (("allowed_origins", '["https://app.example.com", "https://*.example.org"]'),
                     ("allow_missing_origin", "true"), ("max_connections", "100000"),
                     ("rate_limit", '{"messages_per_s": 100000, "policy": "drop"}'),
                     ("allowed_origins", "[]"), ("max_connections", "0"),
                     ("rate_limit", '{"messages_per_s": 0, "policy": "close"}')):
        _, a = await h.actl_json(ctl, "set", key, val)
        h.check(a.get("ok") is True and a["key"] == key, f"set {key} {val}: {a}")
    for key, val, words in (("auth", '{"required": true}', ("auth.required",)),
                            ("allowed_origins", '["https://a.example/app"]', ("allowed_origins[0]", "path")),
                            ("auth", '{"jwt": {"hmac_secret_file": "/nonexistent/rc-secret"}}',
                             ("auth.jwt.hmac_secret_file", "/nonexistent/rc-secret"))):
        rc, out, err = await h.actl(ctl, "set", key, val)
        h.check(rc == 1 and all(w in err for w in words),
                f"set {key} {val} should be refused naming {words}: rc={rc} err={err!r}")
    h.log("admission keys set at run time; a bad origin, auth.required without a key and a missing key file refused")

    # --- raw protocol
    def raw_checks():
        cc = h.ControlClient(ctl)
        try:
            a = cc.request('{"cmd":"foo"}')
            h.check(a == {"ok": False, "error": "unknown command: foo"}, f"unknown command: {a}")
            a = cc.request('{"cmd": "status",')
            h.check(not a["ok"] and a["error"].startswith("malformed JSON"), f"malformed JSON: {a}")
            a = cc.request('{"cmd":"status"}')
            h.check(a["ok"] and "uptime_ms" in a, f"after malformed JSON the connection should still serve: {a}")
            a = cc.request('[1,2]')
            h.check(not a["ok"] and "must be a JSON object" in a["error"], f"not an object: {a}")
            a = cc.request('{"worker":1}')
            h.check(not a["ok"] and 'missing "cmd"' in a["error"], f"missing cmd: {a}")
            a = cc.request('{"cmd":5}')
            h.check(not a["ok"] and '"cmd" must be a string' in a["error"], f"cmd not a string: {a}")
            a = cc.request('\n\r\n{"cmd":"workers"}\r')  # blank lines, then a CRLF-ended request
            h.check(a["ok"] and len(a["workers"]) == 3, f"blank lines + CRLF request: {a}")
            cc.send('{"cmd":"status"}\n{"cmd":"bar"}\n{"cmd":"workers"}\n')  # pipelined
            a1, a2, a3 = cc.read_line(), cc.read_line(), cc.read_line()
            h.check(a1["ok"] and "uptime_ms" in a1 and a2 == {"ok": False, "error": "unknown command: bar"}
                    and a3["ok"] and "workers" in a3, f"pipelined answers out of order: {a1} {a2} {a3}")
            cc.send('{"cmd":"probes"}')  # no newline, then half-close
            cc.sock.shutdown(socket.SHUT_WR)
            a = cc.read_line()
            h.check(a["ok"] and "healthy" in a, f"last request without newline after SHUT_WR: {a}")
            h.check(cc.expect_eof() in ("EOF", "RST"), "no EOF after the last answer")
        finally:
            cc.close()
        cc = h.ControlClient(ctl)
        try:
            big = '{"cmd":"status","pad":"' + "x" * (70 * 1024) + '"}\n'
            try:
                cc.send(big)
            except (BrokenPipeError, ConnectionResetError):
                pass  # the server may close before it read it all; the answer is still expected
            a = cc.read_line()
            h.check(a == {"ok": False, "error": "request too long"}, f"oversized line: {a}")
            kind = cc.expect_eof()
            h.log(f"oversized line: {a['error']!r}, then {kind}")
        finally:
            cc.close()

        # vanishing clients
        for how in ("mid-request", "rst-mid-request", "before-answer"):
            v = h.ControlClient(ctl)
            if how == "mid-request":
                v.send('{"cmd":"sta')
            elif how == "rst-mid-request":
                v.send('{"cmd":"workers"')
                v.sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            else:
                v.send('{"cmd":"stats"}\n' * 50)
            v.close()
            cc = h.ControlClient(ctl)
            try:
                a = cc.request('{"cmd":"status"}')
                h.check(a["ok"], f"after a client vanished ({how}) the next got {a}")
            finally:
                cc.close()
        h.log("raw protocol: unknown/malformed/not-object/missing/non-string cmd, blank lines, pipelining, "
              "half-close, oversized line, vanished clients: all as documented")

    await loop.run_in_executor(None, raw_checks)

    # a client asks for a restart and leaves before the answer: the restart completes anyway
    before = await h.workers_by_index(ctl)
    stderr = h.LogTail(srv.stderr_path)
    v = h.ControlClient(ctl)
    v.send('{"cmd":"restart","worker":0}\n')
    v.close()
    await stderr.wait_for("event=restart_done", timeout=20)
    after = await h.workers_by_index(ctl)
    h.check(after[0] != before[0] and after[1] == before[1] and after[2] == before[2],
            f"orphaned restart 0: workers {before} -> {after}")
    h.check(sorted(after.values()) == srv.worker_pids(), f"children {srv.worker_pids()} vs {after}")
    h.check(srv.alive(), "supervisor died after a restart whose client vanished")
    h.log(f"restart requested by a vanished client completed: worker 0 {before[0]} -> {after[0]}")
    await h.sync_barrier(clients[1], receivers, "after-orphan-restart")

    # restart through ringcastctl (human output)
    rc, out, err = await h.actl(ctl, "restart", "2", timeout=40)
    h.check(rc == 0 and re.search(rf"restarted\s+worker 2: pid {after[2]} -> \d+", out),
            f"ringcastctl restart 2: rc={rc} out={out!r} err={err!r}")
    h.log(f"ringcastctl restart 2: {out.strip()!r}")
    closed = [(r.name, r.closed) for r in receivers if r.closed]
    h.check(not closed, f"clients closed by the restarts: {closed}")
    await h.sync_barrier(clients[2], receivers, "after-restart-2")

    # ringcastctl usage and connection errors
    for args in (["restart"], ["restart", "x"], ["frobnicate"], ["set", "log_level"], []):
        rc, out, err = await h.actl(ctl, *args)
        h.check(rc == 2 and err.strip(), f"ringcastctl {args}: exit {rc}, expected 2 with a message ({err!r})")
    nowhere = os.path.join(srv.tmp, "nobody.sock")
    rc, out, err = await h.actl(nowhere, "status")
    h.check(rc == 2 and nowhere in err, f"ringcastctl on a missing socket: exit {rc} {err!r}")
    dead = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    dead_path = os.path.join(srv.tmp, "dead.sock")
    dead.bind(dead_path)
    dead.close()  # a socket file nobody listens on
    rc, out, err = await h.actl(dead_path, "status")
    h.check(rc == 2 and "refused" in err.lower(), f"ringcastctl on a dead socket: exit {rc} {err!r}")
    h.log("ringcastctl exits 2 on usage errors, a missing socket and a dead socket")

    # --- drain, then shutdown
    rc, out, err = await h.actl(ctl, "drain")
    h.check(rc == 0 and "draining" in out, f"drain: rc={rc} {out!r} {err!r}")
    await h.wait_for(lambda: all(r.closed for r in receivers), 8, "clients to be closed by drain")
    codes = sorted(set(r.closed for r in receivers))
    h.check(all(c[0] == 1001 for c in codes), f"drain should close clients with 1001: {codes}")
    _, status = await h.actl_json(ctl, "status")
    h.check(status["draining"] is True, f"status after drain: {status}")
    rc, out, err = await h.actl(ctl, "status")
    h.check(rc == 0 and "DRAINING" in out.splitlines()[0], f"status (human) after drain: {out!r}")
    rc, out, err = await h.actl(ctl, "restart", "1")
    h.check(rc == 1 and "draining" in err, f"restart while draining should be refused: rc={rc} {err!r}")
    h.check(srv.alive(), "the supervisor exited on drain (it should stay until shutdown)")
    await h.wait_for(lambda: not srv.worker_pids(), 8, lambda: f"workers to exit after drain (children {srv.worker_pids()})")
    await asyncio.sleep(1.0)
    h.check(not srv.worker_pids() and srv.alive(),
            f"after drain: workers restarted {srv.worker_pids()} or supervisor gone (alive={srv.alive()})")
    _, wj = await h.actl_json(ctl, "workers")
    h.log(f"after drain: no worker processes; `workers` states {[w['state'] for w in wj['workers']]}")
    h.log(f"drain: clients closed with {codes}, status draining, restart refused: {err.strip()!r}")
    rc, ans = await h.actl_json(ctl, "shutdown")
    h.check(ans.get("shutting_down") is True, f"shutdown answer: {ans}")
    t0 = time.monotonic()
    code = await loop.run_in_executor(None, srv.wait_exit, 10)
    h.check(code == 0, f"supervisor exit status after shutdown: {code} (None = still running after 10 s)")
    h.log(f"shutdown: answered, supervisor exited 0 after {time.monotonic() - t0:.2f}s")
    h.check(not os.path.exists(ctl), f"control socket {ctl} left behind after shutdown")
    rc, out, err = await h.actl(ctl, "status")
    h.check(rc == 2, f"ringcastctl after shutdown: exit {rc}, expected 2 ({err!r})")
    await h.close_all(clients)


if __name__ == "__main__":
    h.run_test(main, timeout=90)
