#!/usr/bin/python3
"""Signals to the supervisor: SIGHUP reloads the config file, SIGQUIT drains, SIGTERM stops.

One server (metrics on), 15 clients that count the server's pings, 3 senders at 100 msg/s
through the SIGHUP steps:

  1. HUP after stats_interval_ms 500 -> 200 in the file: logged event=reload with
     rolling_restart=0, the stats lines' median gap goes from ~0.5 s to ~0.2 s, the worker
     pids stay;
  2. HUP after an INVALID file ({"ring": 1000} in it, then a truncated JSON file): each
     logged as event=reload_refused naming the problem (the key "ring" / the JSON error);
     nothing changes: same workers, same stats cadence, clients keep chatting;
  2b. HUP after admission keys change (max_connections, handshake_timeout_ms, an HMAC key
     file): logged event=reload with admission=1 rolling_restart=0, same workers; the key file
     then removed and HUP: event=reload_refused naming auth.jwt.hmac_secret_file; put back
     (a rotated key) and HUP: admission=1 again, with nothing else changed;
  3. HUP after ping_interval_ms 30000 -> 300: logged rolling_restart=1, then every worker is
     replaced through a handoff (3 new pids, event=restart_done); no client sees a close
     (checked 1.5 s later, the clients answering pings all along), and the handed-over
     connections that send nothing now get pings (none before, >= 2 in the 1.5 s after);
  through steps 1-3 every client gets every message of every other sender exactly once, in
  order;
  4. SIGQUIT: every client gets Close 1001, /readyz answers 503 and `status` says draining,
     the workers exit and are not restarted, the supervisor stays; SIGTERM then ends it
     with exit status 0 and no process of ours is left.
"""
import asyncio
import json
import os
import re
import signal
import statistics
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ringcast_harness as h  # noqa: E402

N_CLIENTS = 15
RATE_HZ = 100
MAX_TRAFFIC_S = 40
STATS_RE = re.compile(r"^\[\d\d:\d\d:\d\d\] Conns: \d+, Msgs: \d+$")


class StatsCadence:
    """Arrival times of stats lines on the server's stdout (polled every 20 ms)."""

    def __init__(self, srv):
        self.tail = h.LogTail(srv.stdout_path, from_end=True)
        self.arrivals = []

    def poll(self):
        now = time.monotonic()
        for line in self.tail.poll():
            if STATS_RE.match(line):
                self.arrivals.append(now)

    async def median_gap(self, n_gaps, timeout):
        """Median of the next n_gaps gaps between stats lines."""
        self.poll()
        start = len(self.arrivals)
        deadline = time.monotonic() + timeout
        while len(self.arrivals) < start + n_gaps + 1:
            if time.monotonic() > deadline:
                raise h.TestFailure(f"only {len(self.arrivals) - start} stats lines within {timeout}s")
            await asyncio.sleep(0.02)
            self.poll()
        a = self.arrivals[start:start + n_gaps + 1]
        gaps = [y - x for x, y in zip(a, a[1:])]
        return statistics.median(gaps), gaps


async def main():
    h.import_websockets()
    import websockets
    from websockets.legacy.client import WebSocketClientProtocol
    h.require_ss()

    class PingCounter(WebSocketClientProtocol):
        def __init__(self, *a, **kw):
            super().__init__(*a, **kw)
            self.ping_times = []

        async def pong(self, data=b""):  # called for every ping the server sends
            self.ping_times.append(time.monotonic())
            await super().pong(data)

    mport = h.free_port()
    srv = h.Server("signals", overrides={"stats_interval_ms": 500, "metrics_listen": f"127.0.0.1:{mport}",
                                         "ping_interval_ms": 30000, "shutdown_timeout_ms": 3000}).start()
    ctl = h.ctl_socket_of(srv)
    log = h.LogTail(srv.stderr_path, from_end=False)
    cadence = StatsCadence(srv)
    base_cfg = dict(srv.config)
    deferred = []

    def write_config(cfg=None, text=None):
        with open(srv.config_path + ".new", "w") as f:
            f.write(text if text is not None else json.dumps(cfg, indent=2))
        os.rename(srv.config_path + ".new", srv.config_path)

    def hup():
        os.kill(srv.pid, signal.SIGHUP)

    clients = []
    for _ in range(N_CLIENTS):
        clients.append(await h.ws_connect(srv.uri(), create_protocol=PingCounter))
    by_index = await h.workers_by_index(ctl)
    workers0 = dict(by_index)
    owner = h.owner_of_client_ports(srv.port, [h.ws_local_port(c) for c in clients], list(by_index.values()))
    idx_of_pid = {p: i for i, p in by_index.items()}
    index_of_client = [idx_of_pid.get(owner.get(h.ws_local_port(c))) for c in clients]
    h.log(f"{N_CLIENTS} clients on worker indexes {sorted(index_of_client, key=str)}")
    senders = []
    for i in sorted(by_index):
        senders += [ci for ci, w in enumerate(index_of_client) if w == i][:1]
    sid_of = {ci: s for s, ci in enumerate(senders)}
    receivers = [h.Receiver(f"c{i}", c, own_sid=sid_of.get(i)).start() for i, c in enumerate(clients)]
    for ci in senders:
        await h.sync_barrier(clients[ci], receivers, f"pre{ci}")
    sent = {s: 0 for s in sid_of.values()}
    stop = asyncio.Event()

    async def sender(ci):
        ws, sid = clients[ci], sid_of[ci]
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        for seq in range(MAX_TRAFFIC_S * RATE_HZ):
            if stop.is_set():
                return
            delay = t0 + seq / RATE_HZ - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            try:
                await ws.send(h.make_msg(sid, seq))
            except websockets.ConnectionClosed:
                return
            sent[sid] = seq + 1

    sender_tasks = [asyncio.get_running_loop().create_task(sender(ci)) for ci in senders]

    def no_closes(when):
        closed = [(r.name, r.closed) for r in receivers if r.closed]
        h.check(not closed, f"{when}: clients saw a close: {closed[:10]}")

    async def same_workers(when):
        now = await h.workers_by_index(ctl)
        h.check(now == by_index, f"{when}: workers changed {by_index} -> {now}")
        h.check(sorted(now.values()) == srv.worker_pids(), f"{when}: children {srv.worker_pids()} vs {now}")

    # 1. run-time key: stats_interval_ms 500 -> 200
    med0, gaps0 = await cadence.median_gap(4, 6)
    h.log(f"stats lines at 500 ms: median gap {med0:.3f}s {['%.2f' % g for g in gaps0]}")
    h.check(0.35 <= med0 <= 0.7, f"stats cadence before the reload: median gap {med0:.3f}s, expected ~0.5")
    cfg = dict(base_cfg, stats_interval_ms=200)
    write_config(cfg)
    hup()
    line = await log.wait_for("event=reload ", timeout=5)
    h.check("rolling_restart=0" in line[-1], f"a run-time-only reload should not roll the workers: {line[-1]}")
    await asyncio.sleep(0.5)
    med1, gaps1 = await cadence.median_gap(8, 6)
    h.log(f"after HUP (stats_interval_ms 200): {line[-1].split('supervisor ')[-1]}; median gap {med1:.3f}s "
          f"{['%.2f' % g for g in gaps1]}")
    h.check(0.12 <= med1 <= 0.3, f"stats cadence after the reload: median gap {med1:.3f}s, expected ~0.2")
    await same_workers("after the stats_interval_ms reload")
    no_closes("after the stats_interval_ms reload")

    # 2. invalid files change nothing
    for what, kw, needle in (("ring 1000", {"cfg": dict(cfg, ring=1000)}, "ring"),
                             ("truncated JSON", {"text": json.dumps(cfg)[:-10]}, None)):
        n_refused = len(log.find("event=reload_refused"))
        write_config(**kw)
        hup()
        deadline = time.monotonic() + 5
        while len(log.find("event=reload_refused")) <= n_refused:
            h.check(time.monotonic() < deadline, f"HUP with an invalid file ({what}): no event=reload_refused "
                                                 f"within 5 s; log: {log.lines[-5:]}")
            await asyncio.sleep(0.05)
        refused = log.find("event=reload_refused")[-1]
        h.log(f"HUP with {what}: {refused.split('supervisor ')[-1]}")
        if needle:
            h.check(needle in refused, f"reload_refused should name the key {needle!r}: {refused}")
        h.check(srv.alive(), f"supervisor died after a HUP with {what}")
        await same_workers(f"after HUP with {what}")
        for ci in senders:
            await h.sync_barrier(clients[ci], receivers, f"after-{what}-{ci}")
        no_closes(f"after HUP with {what}")
    med2, gaps2 = await cadence.median_gap(5, 5)
    h.check(0.12 <= med2 <= 0.3, f"stats cadence changed after refused reloads: median {med2:.3f}s")
    _, st = await h.actl_json(ctl, "status")
    h.check(st["config"]["ring"] == 2048, f"ring changed after a refused reload: {st['config']}")
    h.log(f"refused reloads changed nothing: same workers, ring 2048, stats median gap {med2:.3f}s")

    # 2b. admission keys change at run time; a key file is proven on every reload
    secret = os.path.join(srv.tmp, "jwt.secret")
    with open(secret, "w") as f:
        f.write("k" * 48 + "\n")
    adm_cfg = dict(cfg, max_connections=100000, handshake_timeout_ms=5000,
                   auth={"jwt": {"hmac_secret_file": secret}})

    async def reload_line(after):
        deadline = time.monotonic() + 5
        while len(log.find("event=reload ")) <= after:
            h.check(time.monotonic() < deadline, f"no event=reload within 5 s; log: {log.lines[-5:]}")
            await asyncio.sleep(0.05)
        return log.find("event=reload ")[-1]

    n_reload = len(log.find("event=reload "))
    write_config(adm_cfg)
    hup()
    line2 = await reload_line(n_reload)
    h.check("admission=1" in line2 and "rolling_restart=0" in line2,
            f"admission keys should reach the workers without a restart: {line2}")
    os.rename(secret, secret + ".away")
    n_refused = len(log.find("event=reload_refused"))
    hup()
    deadline = time.monotonic() + 5
    while len(log.find("event=reload_refused")) <= n_refused:
        h.check(time.monotonic() < deadline, f"HUP with the key file gone: no event=reload_refused; {log.lines[-5:]}")
        await asyncio.sleep(0.05)
    refused = log.find("event=reload_refused")[-1]
    h.check("auth.jwt.hmac_secret_file" in refused and "jwt.secret" in refused,
            f"reload_refused should name the key file: {refused}")
    os.rename(secret + ".away", secret)
    n_reload = len(log.find("event=reload "))
    hup()
    line2 = await reload_line(n_reload)
    h.check("admission=1" in line2 and "rolling_restart=0" in line2,
            f"a reload with a key file should send it again, without a restart: {line2}")
    await same_workers("after the admission reloads")
    no_closes("after the admission reloads")
    h.log(f"admission reloads: applied without a restart, a missing key file refused ({refused.split('error=')[-1]})")

    # 3. ping_interval_ms needs the workers restarted: rolling handoff
    pings_before = sum(len(c.ping_times) for c in clients)
    n_done = len(log.find("event=restart_done"))
    write_config(dict(cfg, ping_interval_ms=300))
    t_hup = time.monotonic()
    hup()
    deadline = time.monotonic() + 30
    while len(log.find("event=restart_done")) <= n_done:
        bad = log.find("event=restart_failed") + log.find("event=reload_restart_refused")
        h.check(not bad, f"rolling restart after HUP failed: {bad}")
        h.check(time.monotonic() < deadline, f"no event=restart_done within 30 s of the HUP; log: {log.lines[-8:]}")
        await asyncio.sleep(0.02)
    rolled = time.monotonic() - t_hup
    reload_line = log.find("event=reload ")[-1]
    h.check("rolling_restart=1" in reload_line, f"ping_interval_ms change should roll the workers: {reload_line}")
    done = log.find("event=restart_done")[-1]
    pairs = re.findall(r"worker (\d+): pid (\d+) -> (\d+)", done)
    h.check(sorted(int(p[0]) for p in pairs) == [0, 1, 2], f"rolling restart should hand over workers 0..2: {done}")
    h.log(f"HUP (ping_interval_ms 300): rolled in {rolled * 1000:.0f} ms: {done.split('supervisor ')[-1]}")
    t_ping = time.monotonic()
    await asyncio.sleep(1.5)  # the clients stay responsive (answer pings) meanwhile
    closed = [(r.name, r.closed, f"sender={r.own_sid is not None}", f"pings received={len(clients[i].ping_times)}")
              for i, r in enumerate(receivers) if r.closed]
    dropped = {r for r in receivers if r.closed}
    if closed:  # reported at the end; the rest of the test still runs on the clients that are left
        deferred.append(f"HUP changing ping_interval_ms 30000 -> 300: {len(closed)} of {len(clients)} clients were "
                        f"closed after the rolling handoff restart (clients must see nothing): {closed}")
        h.log("FAILURE (reported at the end): " + deferred[-1])
    now = await h.workers_by_index(ctl)
    h.check(all(now[i] != workers0[i] for i in now), f"not every worker replaced: {workers0} -> {now}")
    h.check(sorted(now.values()) == srv.worker_pids(), f"children {srv.worker_pids()} vs {now}")
    # (owner_of_client_ports blocks the event loop: with 300 ms pings, only ask about clients that are there)
    live = [ci for ci in range(len(clients)) if receivers[ci] not in dropped]
    owners = h.owner_of_client_ports(srv.port, [h.ws_local_port(clients[ci]) for ci in live], list(now.values()),
                                     timeout=0.5)
    moved = [ci for ci in live if owners.get(h.ws_local_port(clients[ci])) != now.get(index_of_client[ci])]
    h.check(not moved, f"clients not owned by their worker's new pid after the rolling restart: {moved}; "
                       f"ss says {[owners.get(h.ws_local_port(clients[ci])) for ci in moved]}")
    by_index = now
    # (the server pings a connection that has been silent for ping_interval_ms: the senders never are)
    pinged = [len([t for t in c.ping_times if t >= t_ping]) for ci, c in enumerate(clients)
              if ci not in sid_of and receivers[ci] not in dropped]
    h.log(f"pings before the HUP: {pings_before}; per silent client in the 1.5 s after the rolling restart: {pinged}")
    h.check(pings_before == 0, f"pings arrived with ping_interval_ms 30000 in a short test: {pings_before}")
    h.check(pinged or dropped, "no silent client to check pings on")
    h.check(all(n >= 2 for n in pinged),
            f"handed-over silent connections should get pings every 300 ms after the reload; got {pinged} in 1.5 s")

    stop.set()
    await asyncio.gather(*sender_tasks)

    def complete():
        return all(r.got(s) >= sent[s] for r in receivers if r not in dropped for s in sent if s != r.own_sid)
    try:
        await h.wait_for(complete, 15, "every message to arrive")
    except h.TestFailure:
        pass
    await asyncio.sleep(0.4)
    problems = []
    for r in receivers:
        for s in sent:
            if s == r.own_sid:
                continue
            if r in dropped:  # already reported: an in-order prefix is all it can have
                if r.got(s) > sent[s]:
                    problems.append(f"{r.name}: from sender {s} got {r.got(s)}, more than the {sent[s]} sent")
            elif r.got(s) != sent[s]:
                problems.append(f"{r.name}: from sender {s} got {r.got(s)} of {sent[s]}")
        if r.errors:
            problems.append(f"{r.name}: {r.errors[:3]}")
        if r.closed and r not in dropped:
            problems.append(f"{r.name}: closed {r.closed}")
    h.check(not problems, "delivery problems across the reloads:\n  " + "\n  ".join(problems[:30]))
    h.log(f"every client {'still connected ' if dropped else ''}got all of {sent} exactly once, in order, "
          f"through the three reloads")

    # 4. SIGQUIT drains
    st_, _, body = await h.ahttp_request(mport, "/readyz")
    h.check(st_ == 200, f"/readyz before SIGQUIT: {st_} {body!r}")
    os.kill(srv.pid, signal.SIGQUIT)
    t_quit = time.monotonic()
    await h.wait_for(lambda: all(r.closed for r in receivers), 5, "clients to be closed after SIGQUIT")
    codes = sorted(set(r.closed for r in receivers if r not in dropped))
    h.check(all(c[0] == 1001 for c in codes), f"SIGQUIT should close clients with 1001: {codes}")
    st_, _, body = await h.ahttp_request(mport, "/readyz")
    h.check(st_ == 503 and b"draining" in body, f"/readyz after SIGQUIT: {st_} {body!r}")
    _, status = await h.actl_json(ctl, "status")
    h.check(status["draining"] is True, f"status after SIGQUIT: draining={status['draining']}")
    await h.wait_for(lambda: not srv.worker_pids(), 8, lambda: f"workers to exit after SIGQUIT ({srv.worker_pids()})")
    await asyncio.sleep(1.0)
    h.check(srv.alive(), "the supervisor exited after SIGQUIT; it should wait for shutdown")
    h.check(not srv.worker_pids(), f"workers were restarted while draining: {srv.worker_pids()}")
    h.log(f"SIGQUIT: clients closed with {codes}, /readyz 503 draining, workers gone and not restarted, "
          f"supervisor alive ({time.monotonic() - t_quit:.1f}s)")
    os.kill(srv.pid, signal.SIGTERM)
    loop = asyncio.get_running_loop()
    code = await loop.run_in_executor(None, srv.wait_exit, 8)
    h.check(code == 0, f"exit status after SIGTERM while drained: {code} (None = still running after 8 s)")
    left = [p for p in srv.seen_workers | {srv.pid} if h.pid_alive(p)]
    h.check(not left, f"processes left: {left}")
    h.log("SIGTERM after the drain: exit 0, nothing left")
    await h.close_all(clients)
    h.check(not deferred, "\n".join(deferred))


if __name__ == "__main__":
    h.run_test(main, timeout=90)
