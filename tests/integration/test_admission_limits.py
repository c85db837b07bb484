#!/usr/bin/python3
"""Admission bounds (docs/admission.md): connections per source address and per node,
the handshake timeout, the inbound rate limit, and the ping flood.

Server L (3 worker processes, 3 shards): max_connections_per_ip 3, max_connections 9,
handshake_timeout_ms 300, max_buffered_bytes 65536 (the minimum), metrics on.
  * Handshake timeout: a socket that sends nothing, one that sends half a request, and one
    that trickles a request a byte every 50 ms are all closed (EOF/RST, never a 101) between
    0.2 s and 2 s after connecting; a client that upgrades in time and then idles 1 s is
    unaffected. upgrades_rejected{handshake_timeout} += 3.
  * Per address: 3 clients from 127.0.0.2 -> 101, a 4th -> 503 (no upgrade) while 127.0.0.3
    still gets its 3; after one of 127.0.0.2's closes, 127.0.0.2 gets in again (bounded wait).
  * Per node: 9 clients from 127.0.0.2-4, spread over the worker processes (`ss`: at least 2
    of them), then 127.0.0.5 (an address with none) -> 503; one closes -> 127.0.0.5 gets in.
    upgrades_rejected{max_connections_per_ip} and {max_connections} count the 503s.
  * Ping flood: a raw client with SO_RCVBUF 4 KiB sends masked pings (125-byte payload) and
    never reads: the server must close it once the pongs queued for it pass
    max_buffered_bytes; the workers' anonymous memory must not grow by more than 24 MiB;
    two ordinary clients keep exchanging messages during and after. Bounded: at most
    400000 pings and 20 s.
Server R1 (rate_limit messages 5/s burst 10, bytes 2000/s burst 8000, policy close):
  * 30 small messages at once -> closed 1008 "rate limit"; observers got an in-order prefix
    of 10 (+ what refilled while sending), nothing after the close.
  * 10 x 1000-byte messages at once from a fresh client -> closed 1008 "rate limit" after ~8.
  * A client sending 3 messages/s of 10 bytes for 3 s, alongside, gets nothing closed and
    loses nothing.
Server R2 (same limits, policy drop):
  * 30 small messages at once -> the observers get 10 (+ refill), the sender stays open;
    2.2 s later 5 more all arrive. rate_limited_total == messages sent - delivered.
"""
import asyncio
import errno
import os
import socket
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ringcast_harness as h  # noqa: E402
import admission_support as a  # noqa: E402

PER_IP = 3
TOTAL = 9
HS_TIMEOUT_MS = 300
MAX_BUFFERED = 65536
PING_MAX = 400_000
PING_MAX_S = 20.0
RSS_GROWTH_MAX_KIB = 24 * 1024

RATE = {"messages_per_s": 5, "burst_messages": 10, "bytes_per_s": 2000, "burst_bytes": 8000}


def closed_without_upgrade(sock, started, limit=2.5):
    """Read until the server ends the connection, at most until `started` + limit:
    (seconds from `started` to the end, or None if still open; bytes read)."""
    deadline = started + limit
    data = b""
    for _ in range(10000):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return None, data
        sock.settimeout(remaining)
        try:
            chunk = sock.recv(65536)
        except socket.timeout:
            continue
        except ConnectionResetError:
            break
        if not chunk:
            break
        data += chunk
    return time.monotonic() - started, data


def handshake_timeouts(port):
    results = []
    # 1: nothing at all
    s1 = socket.create_connection(("127.0.0.1", port))
    t1 = time.monotonic()
    # 2: half a request
    s2 = socket.create_connection(("127.0.0.1", port))
    t2 = time.monotonic()
    s2.sendall(f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n".encode())
    # 3: a request trickled a byte every 50 ms (slowloris): the bound is on the whole request
    s3 = socket.create_connection(("127.0.0.1", port))
    t3 = time.monotonic()
    req = (f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
           f"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n").encode()
    trickled = 0
    deadline = time.monotonic() + 2.5
    s3.settimeout(0.05)
    closed3 = None
    while time.monotonic() < deadline and trickled < len(req):
        try:
            s3.sendall(req[trickled:trickled + 1])
            trickled += 1
        except (BrokenPipeError, ConnectionResetError):
            closed3 = (time.monotonic() - t3, b"")
            break
        try:
            chunk = s3.recv(4096)
            if not chunk:
                closed3 = (time.monotonic() - t3, b"")
                break
            h.check(b" 101 " not in chunk.split(b"\r\n", 1)[0], f"trickled request upgraded: {chunk[:200]!r}")
        except socket.timeout:
            pass
        except ConnectionResetError:
            closed3 = (time.monotonic() - t3, b"")
            break
    if closed3 is None:
        closed3 = closed_without_upgrade(s3, t3)
    for name, s, t, res in (("silent socket", s1, t1, None), ("half a request", s2, t2, None),
                            ("request trickled a byte per 50 ms", s3, t3, closed3)):
        took, data = res if res is not None else closed_without_upgrade(s, t)
        s.close()
        status = data.split(b"\r\n", 1)[0]
        h.check(b" 101 " not in status, f"{name}: upgraded ({status!r})")
        h.check(took is not None, f"{name}: still open 2.5 s after connecting (handshake_timeout_ms {HS_TIMEOUT_MS})")
        h.check(took is not None and 0.2 <= took <= 2.0, f"{name}: closed {took and round(took, 2)}s after connecting; want about "
                                    f"{HS_TIMEOUT_MS} ms (0.2-2 s)")
        results.append((name, took and round(took, 2), status.decode("latin1")))
    h.log(f"handshake timeout: {results}")


async def limits_and_flood():
    mport = h.free_port()
    for ip in ("127.0.0.2", "127.0.0.3", "127.0.0.4", "127.0.0.5"):
        if not a.loopback_alias_usable(ip):
            h.skip(f"cannot bind a socket to {ip} on this machine")
    srv = h.Server("adm-limits", overrides={
        "metrics_listen": f"127.0.0.1:{mport}", "max_connections_per_ip": PER_IP, "max_connections": TOTAL,
        "handshake_timeout_ms": HS_TIMEOUT_MS, "max_buffered_bytes": MAX_BUFFERED,
    }).start()
    m0 = await a.scrape(mport)

    # ---- handshake timeout --------------------------------------------------------------------
    idle = await a.connect(srv.uri())
    await asyncio.get_running_loop().run_in_executor(None, handshake_timeouts, srv.port)
    idle_col = a.Collector("idle", idle)
    other = await a.connect(srv.uri())
    await other.send("after idling")
    await idle_col.wait_count("after idling", 1)
    h.check(idle_col.closed is None, f"a client that upgraded in time was closed: {idle_col.closed}")
    await h.close_all([idle, other])
    await a.scrape_until(mport, lambda m: m.total("ringcast_upgrades_rejected_total", reason="handshake_timeout")
                         - m0.total("ringcast_upgrades_rejected_total", reason="handshake_timeout") == 3,
                         lambda m: f"upgrades_rejected{{handshake_timeout}} += 3 (have "
                                   f"{m.total('ringcast_upgrades_rejected_total', reason='handshake_timeout')})")
    await a.scrape_until(mport, lambda m: m.total("ringcast_connections") == 0, "connections back to 0")

    # ---- per address ----------------------------------------------------------------------------
    by_ip = {}
    for ip in ("127.0.0.2", "127.0.0.3"):
        by_ip[ip] = [await a.connect(srv.uri(), local_ip=ip) for _ in range(PER_IP)]
    a.expect_refused(srv.port, 503, f"{PER_IP + 1}th connection from 127.0.0.2", local_ip="127.0.0.2")
    a.expect_refused(srv.port, 503, f"{PER_IP + 1}th connection from 127.0.0.3", local_ip="127.0.0.3")
    await by_ip["127.0.0.2"].pop().close()
    deadline = time.monotonic() + 3.0
    while True:
        st, ws = await a.connect_status(srv.uri(), local_ip="127.0.0.2")
        if st == 101:
            by_ip["127.0.0.2"].append(ws)
            break
        h.check(st == 503, f"127.0.0.2 after a close: HTTP {st}")
        h.check(time.monotonic() < deadline, "127.0.0.2 still refused 3 s after one of its connections closed")
        await asyncio.sleep(0.1)
    h.log(f"per address: {PER_IP} each from 127.0.0.2 and .3, the next one 503; a close lets 127.0.0.2 in again")

    # ---- per node -------------------------------------------------------------------------------
    by_ip["127.0.0.4"] = [await a.connect(srv.uri(), local_ip="127.0.0.4") for _ in range(PER_IP)]
    allc = [w for l in by_ip.values() for w in l]
    h.check(len(allc) == TOTAL, f"{len(allc)} clients")
    if h.have_ss():
        owners = h.owner_of_client_ports(srv.port, [h.ws_local_port(w) for w in allc], srv.worker_pids())
        dist = {}
        for p in owners.values():
            dist[p] = dist.get(p, 0) + 1
        h.log(f"{TOTAL} connections over worker pids {dist}")
        h.check(len(dist) >= 2, f"all {TOTAL} connections on one worker ({dist}): the node-wide bound is not shown")
    a.expect_refused(srv.port, 503, "a 10th connection (from 127.0.0.5, which has none)", local_ip="127.0.0.5")
    a.expect_refused(srv.port, 503, "a 10th connection from 127.0.0.1", local_ip="127.0.0.1")
    await by_ip["127.0.0.3"].pop().close()
    deadline = time.monotonic() + 3.0
    while True:
        st, ws = await a.connect_status(srv.uri(), local_ip="127.0.0.5")
        if st == 101:
            by_ip["127.0.0.5"] = [ws]
            break
        h.check(st == 503, f"127.0.0.5 after a close: HTTP {st}")
        h.check(time.monotonic() < deadline, "still refused 3 s after a connection closed under max_connections")
        await asyncio.sleep(0.1)
    h.log(f"per node: {TOTAL} over the workers, the next one 503 whatever its address; a close lets one in")
    m1 = await a.scrape_until(
        mport, lambda m: m.total("ringcast_upgrades_rejected_total", reason="max_connections") >= 2
        and m.total("ringcast_upgrades_rejected_total", reason="max_connections_per_ip") >= 2,
        lambda m: f"503s counted (max_connections {m.total('ringcast_upgrades_rejected_total', reason='max_connections')}"
                  f", per_ip {m.total('ringcast_upgrades_rejected_total', reason='max_connections_per_ip')})")
    per_ip_n = m1.total("ringcast_upgrades_rejected_total", reason="max_connections_per_ip")
    total_n = m1.total("ringcast_upgrades_rejected_total", reason="max_connections")
    h.log(f"503s counted: max_connections_per_ip {per_ip_n}, max_connections {total_n} (2 + 2 made above, "
          f"plus any refused retries)")
    await h.close_all([w for l in by_ip.values() for w in l])
    await a.scrape_until(mport, lambda m: m.total("ringcast_connections") == 0, "connections back to 0")

    # ---- ping flood -----------------------------------------------------------------------------
    await ping_flood(srv)
    srv.stop(check=True)


async def ping_flood(srv):
    pa = await a.connect(srv.uri())
    pb = await a.connect(srv.uri())
    cb = a.Collector("pb", pb)
    ca = a.Collector("pa", pa)
    rss0 = a.worker_rss_anon_kib(srv.worker_pids())

    flood = a.BoundRawWS(srv.port, rcvbuf=4096)
    flood.handshake()
    fport = flood.local_port
    sock = flood.sock
    sock.setblocking(False)
    batch = b"".join(h.encode_frame(h.OP_PING, bytes([i % 251]) * 125) for i in range(64))
    t0 = time.monotonic()
    sent = 0          # pings fully written
    pending = b""
    outcome = None
    last_progress = t0
    seq = 0
    max_rss = rss0
    while sent < PING_MAX and time.monotonic() - t0 < PING_MAX_S:
        if not pending:
            pending = batch
        try:
            n = sock.send(pending)
            pending = pending[n:]
            if not pending:
                sent += 64
            last_progress = time.monotonic()
        except BlockingIOError:
            await asyncio.sleep(0.005)
        except (BrokenPipeError, ConnectionResetError) as e:
            outcome = f"send failed ({errno.errorcode.get(e.errno, e.errno)})"
            break
        if sent % 4096 == 0 and not pending:
            # the ordinary clients keep talking meanwhile
            await pa.send(f"during flood {seq}")
            seq += 1
            max_rss = max(max_rss, a.worker_rss_anon_kib(srv.worker_pids()))
            if h.have_ss():
                lines = h.ss_lines(["-tnH", f"( sport = :{srv.port} and dport = :{fport} )"])
                if not lines or lines[0].split()[0] != "ESTAB":
                    outcome = f"server socket {'gone' if not lines else lines[0].split()[0]}"
                    break
            await asyncio.sleep(0)
        if time.monotonic() - last_progress > 5.0:
            lines = h.ss_lines(["-tnH", f"( sport = :{srv.port} and dport = :{fport} )"]) if h.have_ss() else []
            if h.have_ss() and (not lines or lines[0].split()[0] != "ESTAB"):
                outcome = f"server socket {'gone' if not lines else lines[0].split()[0]} (writes stalled)"
                break
            h.check(False, f"ping flood: the server stopped reading the flooder for 5 s after {sent} pings but "
                           f"kept it open: it must close it once max_buffered_bytes ({MAX_BUFFERED}) of pongs are "
                           f"queued\n" + srv.diagnose())
    took = time.monotonic() - t0
    max_rss = max(max_rss, a.worker_rss_anon_kib(srv.worker_pids()))
    h.check(outcome is not None, f"ping flood: {sent} pings ({sent * 131 >> 20} MiB) in {took:.1f}s and the "
                                 f"flooder is still connected (max_buffered_bytes {MAX_BUFFERED}); worker RssAnon "
                                 f"{rss0} -> {max_rss} KiB\n" + srv.diagnose())
    # The server side must be gone (bounded wait), whatever our side saw first.
    if h.have_ss():
        deadline = time.monotonic() + 5.0
        while True:
            lines = h.ss_lines(["-tnH", f"( sport = :{srv.port} and dport = :{fport} )"])
            if not lines or lines[0].split()[0] not in ("ESTAB", "CLOSE-WAIT"):
                break
            h.check(time.monotonic() < deadline, f"server still holds the flooder's socket 5 s later: {lines}")
            await asyncio.sleep(0.1)
    flood.close()
    growth = max_rss - rss0
    h.log(f"ping flood: closed after {sent} pings in {took:.1f}s ({outcome}); worker RssAnon {rss0} -> max {max_rss} "
          f"KiB (+{growth})")
    h.check(growth <= RSS_GROWTH_MAX_KIB, f"worker memory grew by {growth} KiB during the ping flood "
                                          f"(bound {RSS_GROWTH_MAX_KIB} KiB)")
    await pa.send("after flood")
    await cb.wait_count("after flood", 1)
    await cb.wait_count("during flood", seq)
    h.check(ca.closed is None and cb.closed is None, f"ordinary clients closed: {ca.closed} {cb.closed}")
    await h.close_all([pa, pb])


async def rate_close():
    srv = h.Server("adm-rate-close", overrides={"rate_limit": dict(RATE, policy="close")}).start()
    obs = [a.Collector(f"obs{i}", await a.connect(srv.uri())) for i in range(2)]
    fast = await a.connect(srv.uri())
    fast_col = a.Collector("fast", fast)
    under = await a.connect(srv.uri())
    under_col = a.Collector("under", under)
    await asyncio.sleep(0.2)

    async def under_limit():
        for i in range(9):
            await under.send(f"u{i}")
            await asyncio.sleep(0.33)
    under_task = asyncio.get_running_loop().create_task(under_limit())

    t0 = time.monotonic()
    n_sent = 0
    for i in range(30):
        if not await a.send_or_closed(fast, f"f{i:02d}"):
            break
        n_sent += 1
    send_s = time.monotonic() - t0
    code, reason = await fast_col.wait_closed(3.0)
    h.check((code, reason) == (1008, "rate limit"), f"over the limit: closed with {(code, reason)}, want (1008, 'rate limit')")
    await asyncio.sleep(0.3)
    cap = RATE["burst_messages"] + int(RATE["messages_per_s"] * (send_s + 0.3)) + 1
    for o in obs:
        got = o.with_prefix("f")
        h.check(RATE["burst_messages"] <= len(got) <= cap and got == [f"f{i:02d}" for i in range(len(got))],
                f"{o.name}: got {len(got)} of the fast client's messages {got[:3]}...{got[-3:]}; want an in-order "
                f"prefix of {RATE['burst_messages']}..{cap}")
    h.log(f"rate limit close: {n_sent} sent in {send_s * 1000:.0f} ms, closed (1008, 'rate limit'), observers got "
          f"{len(obs[0].with_prefix('f'))}")

    big = await a.connect(srv.uri())
    big_col = a.Collector("big", big)
    payload = "b" * 996
    t0 = time.monotonic()
    for i in range(10):
        if not await a.send_or_closed(big, f"B{i:02d}{payload}"):
            break
    send_s = time.monotonic() - t0
    code, reason = await big_col.wait_closed(3.0)
    h.check((code, reason) == (1008, "rate limit"), f"bytes over the limit: closed with {(code, reason)}")
    await asyncio.sleep(0.3)
    cap = RATE["burst_bytes"] // 1000 + int(RATE["bytes_per_s"] * (send_s + 0.3) / 1000) + 1
    got = obs[0].with_prefix("B")
    h.check(RATE["burst_bytes"] // 1000 <= len(got) <= cap, f"byte limit: observer got {len(got)} of 10 x 1000 B, "
                                                            f"want {RATE['burst_bytes'] // 1000}..{cap}")
    h.log(f"rate limit close (bytes): closed, observer got {len(got)} x 1000 B")

    await asyncio.wait_for(under_task, 10)
    for o in obs:
        await o.wait_count("u", 9)
    h.check(under_col.closed is None, f"client under the limit closed: {under_col.closed}")
    h.check(all(o.closed is None for o in obs), "observers closed")
    h.log("client under the limit: all 9 messages delivered, not closed")
    await h.close_all([o.ws for o in obs] + [under])
    srv.stop(check=True)


async def rate_drop():
    mport = h.free_port()
    srv = h.Server("adm-rate-drop", overrides={"metrics_listen": f"127.0.0.1:{mport}",
                                               "rate_limit": dict(RATE, policy="drop")}).start()
    m0 = await a.scrape(mport)
    obs = [a.Collector(f"obs{i}", await a.connect(srv.uri())) for i in range(2)]
    fast = await a.connect(srv.uri())
    fast_col = a.Collector("fast", fast)
    await asyncio.sleep(0.2)
    t0 = time.monotonic()
    for i in range(30):
        await fast.send(f"f{i:02d}")
    send_s = time.monotonic() - t0
    await asyncio.sleep(0.5)
    cap = RATE["burst_messages"] + int(RATE["messages_per_s"] * (send_s + 0.5)) + 1
    first = obs[0].with_prefix("f")
    h.check(RATE["burst_messages"] <= len(first) <= cap, f"drop: observer got {len(first)} of 30, want "
                                                         f"{RATE['burst_messages']}..{cap}: {first}")
    h.check(first[:RATE["burst_messages"]] == [f"f{i:02d}" for i in range(RATE["burst_messages"])],
            f"drop: the burst should be the first messages, in order: {first}")
    h.check(obs[1].with_prefix("f") == first, f"observers disagree: {first} vs {obs[1].with_prefix('f')}")
    h.check(fast_col.closed is None, f"drop policy closed the sender: {fast_col.closed}")
    await asyncio.sleep(2.2)  # the bucket refills (5/s, burst 10)
    for i in range(5):
        await fast.send(f"g{i}")
    for o in obs:
        await o.wait_count("g", 5)
    h.check(fast_col.closed is None, f"drop policy closed the sender: {fast_col.closed}")
    dropped = 30 - len(first)
    m = await a.scrape_until(mport, lambda m: m.total("ringcast_rate_limited_total")
                             - m0.total("ringcast_rate_limited_total") >= dropped,
                             f"rate_limited_total += {dropped}")
    await asyncio.sleep(0.3)
    m = await a.scrape(mport)
    got = m.total("ringcast_rate_limited_total") - m0.total("ringcast_rate_limited_total")
    h.check(got == dropped, f"rate_limited_total += {got}, want {dropped} (30 sent, {len(first)} delivered)")
    h.log(f"rate limit drop: {len(first)} of 30 delivered, {dropped} counted as rate limited; sender open; "
          f"5 more after the refill all delivered")
    await h.close_all([o.ws for o in obs] + [fast])
    srv.stop(check=True)


async def main():
    h.import_websockets()
    await limits_and_flood()
    await rate_close()
    await rate_drop()


if __name__ == "__main__":
    h.run_test(main, timeout=90)
