#!/usr/bin/python3
"""/metrics read by a real Prometheus parser, and its counters checked against known traffic.

The exposition is parsed with prometheus_client.parser.text_string_to_metric_families
(Debian python3-prometheus-client), fully, so any line it cannot parse fails the test.
Checked on the first scrape: every family has HELP text and one of the documented types;
the documented families exist with their types (counters expose `<family>_total` samples);
per-worker families have exactly one series per worker 0..2, protocol errors one per
(worker, code) for 1002 1007 1008 1009 1011 other, ring gauges one per (worker, shard);
ringcast_build_info{version} is 1 and matches `status`.

Known traffic, with server pings off so nothing else is written to the clients:
  * N_CLIENTS websockets clients (`ss` tells which worker owns each), K senders (one per
    worker), M messages each, text and binary mixed: exactly
      messages_received_total += K*M          (per worker: M x its senders)
      deliveries_total        += K*M*(N-1)    (per worker: by the receiving connection's worker)
      ringcast_connections    == N            (per worker: what `ss` shows)
      bytes_sent_total        += at least the payload bytes delivered, at most the same
                                 framed (2/4/10-byte headers), and the same per worker;
      bytes_received_total    += at least the payload bytes sent;
  * a raw client sends an unmasked frame -> closed 1002 -> protocol_errors_total{code="1002"}
    += 1 (on its worker, no other code moves), connections back to N;
  * a raw client with a 4 KiB receive buffer that never reads, max_buffered_bytes 128 KiB,
    16 KiB messages paced by the normal readers -> closed as a slow client:
    slow_client_closes_total += 1 (on its worker), connections back to N, messages_received
    += the messages sent, every normal client got them all;
  * /healthz 200 `ok`, /readyz 200 `ready`; after `ringcastctl drain` /readyz 503 naming
    draining, ringcast_draining 1, /healthz still 200 (the drain also closes the clients, with
    1001, and the workers exit: test_control_socket checks that; here it is only logged).
"""
import asyncio
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ringcast_harness as h  # noqa: E402

N_CLIENTS = 9
M_MSGS = 40
MAX_BUFFERED = 128 * 1024
SLOW_MSG_BYTES = 16 * 1024
SLOW_MAX_MSGS = 600         # bound: 600 x 16 KiB = 9.6 MiB
SLOW_SID = 50
SETTLE_S = 0.3              # after the counters reached their target: nothing more may come

TYPES = {"counter", "gauge", "histogram", "summary", "untyped", "info", "stateset", "gaugehistogram"}
REQUIRED = {  # family (as the parser names it: counters without _total) -> type
    "ringcast_build_info": "gauge",
    "ringcast_uptime_seconds": "gauge",
    "ringcast_draining": "gauge",
    "ringcast_workers": "gauge",
    "ringcast_shards": "gauge",
    "ringcast_worker_restarts": "counter",
    "ringcast_connections": "gauge",
    "ringcast_connections_accepted": "counter",
    "ringcast_messages_received": "counter",
    "ringcast_deliveries": "counter",
    "ringcast_bytes_received": "counter",
    "ringcast_bytes_sent": "counter",
    "ringcast_slow_client_closes": "counter",
    "ringcast_protocol_errors": "counter",
    "ringcast_ring_full": "counter",
    "ringcast_ring_occupancy": "gauge",
    "ringcast_ring_capacity": "gauge",
    "ringcast_shard_heartbeat_age_seconds": "gauge",
}
PER_WORKER = ["ringcast_connections", "ringcast_connections_accepted", "ringcast_messages_received",
              "ringcast_deliveries", "ringcast_bytes_received", "ringcast_bytes_sent",
              "ringcast_slow_client_closes", "ringcast_ring_full"]
CODES = ["1002", "1007", "1008", "1009", "1011", "other"]


class Scrape:
    """One parsed /metrics: families by name, samples as {(sample name, frozen labels): value}."""

    def __init__(self, text):
        from prometheus_client.parser import text_string_to_metric_families
        try:
            fams = list(text_string_to_metric_families(text))
        except Exception as e:  # noqa: BLE001 - any parse error fails the test
            raise h.TestFailure(f"prometheus_client cannot parse /metrics: {e!r}\n{text[:3000]}")
        self.families = {}
        self.samples = {}
        for f in fams:
            h.check(f.name not in self.families, f"family {f.name} appears twice")
            self.families[f.name] = f
            for s in f.samples:
                key = (s.name, frozenset(s.labels.items()))
                h.check(key not in self.samples, f"duplicate series {s.name}{s.labels}")
                self.samples[key] = s.value

    def series(self, family, **match):
        """{frozen labels: value} of a family's samples (counters: the _total samples)."""
        f = self.families.get(family)
        h.check(f is not None, f"/metrics lacks {family}")
        name = family + "_total" if f.type == "counter" else family
        return {frozenset(s.labels.items()): s.value for s in f.samples
                if s.name == name and all(s.labels.get(k) == v for k, v in match.items())}

    def total(self, family, **match):
        return sum(self.series(family, **match).values())

    def by_worker(self, family, **match):
        out = {}
        for labels, v in self.series(family, **match).items():
            w = int(dict(labels)["worker"])
            out[w] = out.get(w, 0) + v
        return out


async def scrape(mport):
    status, headers, body = await h.ahttp_request(mport, "/metrics")
    h.check(status == 200, f"GET /metrics: {status} {body[:200]!r}")
    ct = headers.get("content-type", "")
    h.check(ct.startswith("text/plain") and "version=0.0.4" in ct, f"/metrics Content-Type {ct!r}")
    return Scrape(body.decode("utf-8"))


async def scrape_until(mport, pred, what, timeout=5.0):
    """Scrape until pred(scrape) holds (the workers publish their counters as they go), then
    once more after SETTLE_S: the returned scrape must still satisfy it (no overshoot later)."""
    deadline = time.monotonic() + timeout
    while True:
        s = await scrape(mport)
        if pred(s):
            break
        if time.monotonic() > deadline:
            return s
        await asyncio.sleep(0.05)
    await asyncio.sleep(SETTLE_S)
    return await scrape(mport)


def diff(a, b, family, **match):
    return b.total(family, **match) - a.total(family, **match)


def diff_by_worker(a, b, family, **match):
    x, y = a.by_worker(family, **match), b.by_worker(family, **match)
    return {w: y.get(w, 0) - x.get(w, 0) for w in sorted(set(x) | set(y))}


def socket_queues(port, peer_port):
    """((Recv-Q, Send-Q) of the server side, (Recv-Q, Send-Q) of the client side) of one connection."""
    srv_side = cli_side = None
    for line in h.ss_lines(["-tnH", "state", "established",
                            f"( ( sport = :{port} and dport = :{peer_port} ) or "
                            f"( sport = :{peer_port} and dport = :{port} ) )"]):
        f = line.split()
        if len(f) >= 4:
            q = (int(f[0]), int(f[1]))
            if int(f[2].rsplit(":", 1)[1]) == port:
                srv_side = q
            else:
                cli_side = q
    return srv_side, cli_side


def frame_header_len(n):
    return 2 if n < 126 else (4 if n < 65536 else 10)


def payload_len(m):
    return len(m.encode("utf-8")) if isinstance(m, str) else len(m)


async def main():
    h.import_websockets()
    try:
        import prometheus_client.parser  # noqa: F401
    except ImportError as e:
        raise h.TestFailure(f"prometheus_client not importable by {sys.executable}: {e} "
                            "(Debian package python3-prometheus-client)")
    h.require_ss()
    mport = h.free_port()
    srv = h.Server("metrics-prom", overrides={"metrics_listen": f"127.0.0.1:{mport}", "ping_interval_ms": 0,
                                              "max_buffered_bytes": MAX_BUFFERED}).start()
    ctl = h.ctl_socket_of(srv)
    loop = asyncio.get_running_loop()

    # ---- shape of the exposition
    s0 = await scrape(mport)
    for name, f in s0.families.items():
        h.check(f.type in TYPES and f.type != "untyped", f"{name}: type {f.type!r} (no # TYPE line?)")
        h.check(f.documentation.strip() != "", f"{name}: no HELP text")
        if f.type == "counter":
            h.check(all(s.name == name + "_total" for s in f.samples),
                    f"counter {name}: samples {[s.name for s in f.samples]} are not {name}_total")
    for name, typ in REQUIRED.items():
        h.check(name in s0.families, f"/metrics lacks {name} (families: {sorted(s0.families)})")
        h.check(s0.families[name].type == typ, f"{name}: type {s0.families[name].type}, want {typ}")
    for name in PER_WORKER:
        ws = sorted(dict(l)["worker"] for l in s0.series(name))
        h.check(ws == ["0", "1", "2"], f"{name}: series per worker {ws}, want one for each of 0..2")
    pe = sorted((dict(l)["worker"], dict(l)["code"]) for l in s0.series("ringcast_protocol_errors"))
    h.check(pe == sorted((w, c) for w in "012" for c in CODES), f"ringcast_protocol_errors series: {pe}")
    for name in ("ringcast_ring_occupancy", "ringcast_ring_capacity", "ringcast_shard_heartbeat_age_seconds"):
        ws = sorted((dict(l)["worker"], dict(l)["shard"]) for l in s0.series(name))
        h.check(len(ws) == 3 and sorted(w for w, _ in ws) == ["0", "1", "2"], f"{name}: series {ws}")
    _, status = await h.actl_json(ctl, "status")
    bi = s0.series("ringcast_build_info")
    h.check(bi == {frozenset({("version", status["version"])}): 1.0},
            f"ringcast_build_info {bi}, status version {status['version']}")
    h.check(s0.total("ringcast_workers", state="running") == 3, "ringcast_workers{state=running} != 3")
    h.log(f"/metrics parsed by prometheus_client: {len(s0.families)} families, {len(s0.samples)} samples; "
          f"types and series as documented; version {status['version']}")

    # ---- N clients, K senders (one per worker), M messages each
    _, wa = await h.actl_json(ctl, "workers")
    index_of_pid = {w["pid"]: w["index"] for w in wa["workers"]}
    clients = await h.ws_connect_many(srv.uri(), N_CLIENTS)
    ports = [h.ws_local_port(c) for c in clients]
    for _ in range(6):  # bounded top-up until every worker owns a client
        owner = h.owner_of_client_ports(srv.port, ports, list(index_of_pid))
        if len({index_of_pid.get(owner.get(p)) for p in ports} - {None}) == 3:
            break
        more = await h.ws_connect_many(srv.uri(), 3)
        clients += more
        ports += [h.ws_local_port(c) for c in more]
    owner = h.owner_of_client_ports(srv.port, ports, list(index_of_pid))
    h.check(len(owner) == len(ports), f"ss shows no owner for some clients: {set(ports) - set(owner)}")
    n = len(clients)
    widx = [index_of_pid[owner[p]] for p in ports]
    per_worker = {w: widx.count(w) for w in (0, 1, 2)}
    senders = [widx.index(w) for w in (0, 1, 2) if w in widx]
    k = len(senders)
    sid_of = {ci: s for s, ci in enumerate(senders)}
    h.log(f"{n} clients, per worker {per_worker}; {k} senders (client, worker): "
          f"{[(ci, widx[ci]) for ci in senders]}, {M_MSGS} messages each")
    receivers = [h.Receiver(f"c{i}", c, own_sid=sid_of.get(i)).start() for i, c in enumerate(clients)]
    await h.sync_barrier(clients[0], receivers, "start")

    def settled_gauge(s):
        return s.total("ringcast_connections") == n
    s1 = await scrape_until(mport, settled_gauge, "connections gauge")
    h.check(s1.total("ringcast_connections") == n,
            f"ringcast_connections {s1.by_worker('ringcast_connections')} sums to {s1.total('ringcast_connections')}, "
            f"want {n}")
    h.check(s1.by_worker("ringcast_connections") == per_worker,
            f"ringcast_connections per worker {s1.by_worker('ringcast_connections')}, ss shows {per_worker}")

    payload_in = framed_in = framed_out = payload_out = 0
    want_recv = {w: 0 for w in (0, 1, 2)}
    want_del = {w: 0 for w in (0, 1, 2)}
    want_framed = {w: 0 for w in (0, 1, 2)}    # bytes of the frames each worker writes
    want_payload = {w: 0 for w in (0, 1, 2)}   # their payload bytes

    async def send_all(ci):
        ws, sid = clients[ci], sid_of[ci]
        for seq in range(M_MSGS):
            await ws.send(h.make_msg(sid, seq, extra=(seq % 4) * 100))

    for ci in senders:
        sid = sid_of[ci]
        for seq in range(M_MSGS):
            m = h.make_msg(sid, seq, extra=(seq % 4) * 100)
            pl = payload_len(m)
            payload_in += pl
            framed_in += frame_header_len(pl) + 4 + pl  # client frames are masked
            want_recv[widx[ci]] += 1
            for r in range(n):
                if r != ci:
                    want_del[widx[r]] += 1
                    want_framed[widx[r]] += frame_header_len(pl) + pl
                    want_payload[widx[r]] += pl
                    payload_out += pl
                    framed_out += frame_header_len(pl) + pl
    for r in receivers:
        r.expect_fn = lambda sid, seq: h.make_msg(sid, seq, extra=(seq % 4) * 100)
    await asyncio.gather(*(send_all(ci) for ci in senders))
    await h.wait_for(lambda: all(r.got(s) >= M_MSGS for r in receivers for s in range(k) if s != r.own_sid), 10,
                     "every client to receive every message")
    want_in, want_dl = k * M_MSGS, k * M_MSGS * (n - 1)
    s2 = await scrape_until(mport, lambda s: diff(s1, s, "ringcast_messages_received") >= want_in
                            and diff(s1, s, "ringcast_deliveries") >= want_dl
                            and diff(s1, s, "ringcast_bytes_sent") >= payload_out, "traffic counters")
    errs = [f"{r.name}: {r.errors[:3]}" for r in receivers if r.errors]
    h.check(not errs, f"receivers saw errors: {errs}")
    d_in, d_dl = diff(s1, s2, "ringcast_messages_received"), diff(s1, s2, "ringcast_deliveries")
    d_out, d_bin = diff(s1, s2, "ringcast_bytes_sent"), diff(s1, s2, "ringcast_bytes_received")
    h.log(f"after {k}x{M_MSGS} messages to {n} clients: messages_received +{d_in:.0f} (want {want_in}), deliveries "
          f"+{d_dl:.0f} (want {want_dl}), bytes_sent +{d_out:.0f} (payload {payload_out}, framed {framed_out}), "
          f"bytes_received +{d_bin:.0f} (payload {payload_in}, framed {framed_in})")
    h.check(d_in == want_in, f"messages_received_total moved by {d_in}, want exactly {want_in}")
    h.check(d_dl == want_dl, f"deliveries_total moved by {d_dl}, want exactly K*M*(N-1) = {want_dl}")
    h.check(diff_by_worker(s1, s2, "ringcast_messages_received") == want_recv,
            f"messages_received_total per worker moved {diff_by_worker(s1, s2, 'ringcast_messages_received')}, "
            f"want {want_recv} (M x the senders on each worker)")
    h.check(diff_by_worker(s1, s2, "ringcast_deliveries") == want_del,
            f"deliveries_total per worker moved {diff_by_worker(s1, s2, 'ringcast_deliveries')}, want {want_del} "
            "(counted by the receiving connection's worker)")
    h.check(payload_out <= d_out <= framed_out,
            f"bytes_sent_total moved by {d_out}: want at least the {payload_out} payload bytes delivered and at "
            f"most the {framed_out} bytes of their frames (nothing else was sent)")
    out_w = diff_by_worker(s1, s2, "ringcast_bytes_sent")
    h.check(all(want_payload[w] <= out_w[w] <= want_framed[w] for w in (0, 1, 2)),
            f"bytes_sent_total per worker moved {out_w}: want between the payload {want_payload} and the frames "
            f"{want_framed} each worker's receiving clients got")
    h.check(payload_in <= d_bin <= framed_in,
            f"bytes_received_total moved by {d_bin}: want at least the {payload_in} payload bytes sent and at most "
            f"the {framed_in} bytes of their masked frames")
    h.check(s2.total("ringcast_connections") == n, f"ringcast_connections {s2.total('ringcast_connections')}, want {n}")

    # ---- one protocol error: an unmasked frame -> 1002
    def bad_client():
        c = h.raw_client(srv.port)
        try:
            o = h.owner_of_client_ports(srv.port, [c.local_port], list(index_of_pid))
            c.send_frame(h.OP_TEXT, b"unmasked", mask=False)
            code, _, _ = c.read_until_close(5)
            return code, index_of_pid.get(o.get(c.local_port))
        finally:
            c.close()
    code, bad_w = await loop.run_in_executor(None, bad_client)
    h.check(code == 1002, f"an unmasked frame should be closed with 1002, got {code}")
    s3 = await scrape_until(mport, lambda s: diff(s2, s, "ringcast_protocol_errors", code="1002") >= 1
                            and s.total("ringcast_connections") == n, "protocol error counter")
    moved = {c: diff(s2, s3, "ringcast_protocol_errors", code=c) for c in CODES}
    h.check(moved == {c: (1 if c == "1002" else 0) for c in CODES},
            f"protocol_errors_total moved {moved}, want +1 for 1002 only")
    pe_w = diff_by_worker(s2, s3, "ringcast_protocol_errors", code="1002")
    h.check(pe_w == {w: (1 if w == bad_w else 0) for w in (0, 1, 2)},
            f"protocol_errors_total{{code=1002}} per worker moved {pe_w}, the client was on worker {bad_w}")
    h.check(s3.total("ringcast_connections") == n, f"ringcast_connections {s3.total('ringcast_connections')} "
                                                   f"after the 1002 close, want {n}")
    h.check(diff(s2, s3, "ringcast_messages_received") == 0, "the rejected frame counted as a message")
    h.log(f"unmasked frame -> close 1002: protocol_errors_total{{code=\"1002\"}} +1 on worker {bad_w}, other codes "
          f"+0, connections {n}")

    # ---- one slow client: never reads; cut off past max_buffered_bytes
    slow = h.RawWS(srv.port, rcvbuf=4096)
    slow.handshake()
    so = h.owner_of_client_ports(srv.port, [slow.local_port], list(index_of_pid))
    slow_w = index_of_pid.get(so.get(slow.local_port))
    s4 = await scrape_until(mport, lambda s: s.total("ringcast_connections") == n + 1, "slow client connected")
    h.check(s4.total("ringcast_connections") == n + 1, f"ringcast_connections {s4.total('ringcast_connections')}, "
                                                       f"want {n + 1} with the slow client")
    for r in receivers:
        r.expect_fn = lambda sid, seq: (h.make_msg(sid, seq, SLOW_MSG_BYTES) if sid == SLOW_SID
                                        else h.make_msg(sid, seq, extra=(seq % 4) * 100))
    big_sender = clients[senders[0]]
    t0 = time.monotonic()
    n_slow = 0
    closed_at = None
    queues = None   # (server Send-Q, slow client Recv-Q) at the last look before the close
    for seq in range(SLOW_MAX_MSGS):
        await big_sender.send(h.make_msg(SLOW_SID, seq, SLOW_MSG_BYTES))
        n_slow = seq + 1
        # pace by the normal readers, so that only the slow client falls behind
        await h.wait_for(lambda: all(r.got(SLOW_SID) >= n_slow for r in receivers if r.ws is not big_sender), 10,
                         "the normal clients to keep up", interval=0.002)
        if seq % 8 == 7:
            s5 = await scrape(mport)
            if diff(s4, s5, "ringcast_slow_client_closes") >= 1:
                closed_at = seq + 1
                break
            q = socket_queues(srv.port, slow.local_port)
            queues = (q[0][1] if q[0] else None, q[1][0] if q[1] else None)
    h.check(closed_at is not None, f"the slow client was not closed after {n_slow} messages of {SLOW_MSG_BYTES} B "
                                   f"(max_buffered_bytes {MAX_BUFFERED})")
    s5 = await scrape_until(mport, lambda s: s.total("ringcast_connections") == n
                            and diff(s4, s, "ringcast_messages_received") >= n_slow, "slow close counters")
    h.check(diff(s4, s5, "ringcast_slow_client_closes") == 1,
            f"slow_client_closes_total moved by {diff(s4, s5, 'ringcast_slow_client_closes')}, want 1")
    h.check(diff_by_worker(s4, s5, "ringcast_slow_client_closes") == {w: (1 if w == slow_w else 0) for w in (0, 1, 2)},
            f"slow_client_closes_total per worker {diff_by_worker(s4, s5, 'ringcast_slow_client_closes')}, "
            f"the slow client was on worker {slow_w}")
    h.check(s5.total("ringcast_connections") == n, f"ringcast_connections {s5.total('ringcast_connections')} "
                                                   f"after the slow close, want {n}")
    h.check(diff(s4, s5, "ringcast_messages_received") == n_slow,
            f"messages_received_total moved by {diff(s4, s5, 'ringcast_messages_received')}, want {n_slow}")
    h.check(sum(diff(s4, s5, "ringcast_protocol_errors", code=c) for c in CODES) == 0,
            "the slow close was counted as a protocol error")
    ending = None
    try:
        slow.sock.settimeout(5)
        code, reason, skipped = slow.read_until_close(5)
        ending = f"close {code} {reason!r} after {skipped} messages"
    except h.ConnectionGone as g:
        ending = f"connection ended ({g.kind})"
    except socket.timeout:
        ending = "timeout"
    slow.close()
    h.check(ending != "timeout", "the slow client's connection did not end after the server counted it closed")
    h.log(f"slow client on worker {slow_w}: closed after {closed_at} x {SLOW_MSG_BYTES} B messages "
          f"({time.monotonic() - t0:.1f}s; at the last look before, {queues[0] if queues else '?'} B in the server "
          f"socket's Send-Q and {queues[1] if queues else '?'} B in the client's Recv-Q: the kernel holds most "
          f"of it); slow_client_closes_total +1, connections {n}; it saw: {ending}")
    errs = [f"{r.name}: {r.errors[:3]}" for r in receivers if r.errors or r.closed]
    h.check(not errs, f"normal clients had problems: {errs}")

    # ---- health endpoints, drain (which, as designed, also closes every client with 1001 and
    # lets the workers exit: so the server's health is checked before it)
    srv.check_healthy()
    st_, _, body = await h.ahttp_request(mport, "/healthz")
    h.check(st_ == 200 and body.strip() == b"ok", f"/healthz: {st_} {body!r}")
    st_, _, body = await h.ahttp_request(mport, "/readyz")
    h.check(st_ == 200 and body.strip() == b"ready", f"/readyz while serving: {st_} {body!r}")
    h.check((await scrape(mport)).total("ringcast_draining") == 0, "ringcast_draining should be 0 while serving")
    await h.actl_json(ctl, "drain")
    st_, _, body = await h.ahttp_request(mport, "/readyz")
    h.check(st_ == 503 and b"draining" in body, f"/readyz after drain: {st_} {body!r}")
    st_h, _, body_h = await h.ahttp_request(mport, "/healthz")
    h.check(st_h == 200, f"/healthz after drain: {st_h} {body_h!r}")
    s6 = await scrape(mport)
    h.check(s6.total("ringcast_draining") == 1, f"ringcast_draining {s6.total('ringcast_draining')} after drain")
    await h.wait_for(lambda: all(r.closed for r in receivers), 8, "the clients to be closed by the drain")
    codes = sorted({r.closed[0] for r in receivers})
    h.log(f"/healthz 200, /readyz 200 -> after drain /readyz {st_} {body.strip()!r}, /healthz {st_h}, "
          f"ringcast_draining 1; the drain closed the clients with {codes}")
    await h.close_all(clients)
    srv.stop()


if __name__ == "__main__":
    h.run_test(main, timeout=60)
