#!/usr/bin/python3
"""Admission state survives a hot restart, and run-time changes do not drop anyone
(docs/admission.md).

One server, 3 worker processes: HS256 secret file, auth not required (default_role
publisher), listener_send close, close_on_expiry true, rate_limit bytes 2000/s burst 50000
(policy drop), allowed_origins [https://a.example.com] with missing Origin allowed.
A traffic publisher sends 20 short messages/s to 3 observers for the whole test.

Hot restart (`ringcastctl restart all`):
  * a listener (token publish false) stays a listener: probes shows its role and subject
    after the restart, and its message then closes it with 1008 and reaches no one;
  * a publisher whose token expires ~8 s after connecting (after the restart) still publishes
    after the restart and is closed 1008 "token expired" within 2.5 s of its exp;
  * a client that spent its byte burst (50 x 990 B) before the restart is still limited right
    after it: of 30 x 990 B sent then, at most what 2000 B/s refilled since gets through (a
    fresh bucket would pass all 30), and it is not closed (policy drop).
Run time:
  * `ringcastctl set allowed_origins '["https://b.example.com"]'`: new upgrades from
    https://a.example.com get 403 (bounded wait), from b 101; a client admitted with Origin a
    before stays and publishes;
  * the secret file replaced (atomic rename), SIGHUP: tokens of the old secret get 401, of
    the new one 101; then the config's allowlist changed to [https://c.example.com], SIGHUP:
    Origin c 101, b 403; a client admitted with the old secret stays and publishes.
At the end: every observer got every traffic message exactly once, in order; nobody but the
listener and the expired token was closed.
"""
import asyncio
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ringcast_harness as h  # noqa: E402
import admission_support as a  # noqa: E402
import jwt_tokens as jt  # noqa: E402

TRAFFIC_HZ = 20
EXP_AHEAD_S = 8
BYTES_PER_S = 2000
BURST_BYTES = 50000
MSG = 990


async def wait_status(uri, want, what, timeout=5.0, **kw):
    """Retry an upgrade until it is answered `want` (a run-time change reaches every shard
    within a bounded time); returns the client when want is 101."""
    deadline = time.monotonic() + timeout
    last = None
    while True:
        st, ws = await a.connect_status(uri, **kw)
        if st == want:
            return ws
        if ws is not None:
            await ws.close()
        last = st
        if time.monotonic() > deadline:
            h.check(False, f"{what}: still HTTP {last} after {timeout}s, want {want}")
            return None
        await asyncio.sleep(0.1)


def drained(ws, name):
    """Keep reading a client we do not look at (an unread websockets client stalls its close)."""
    if ws is not None:
        a.Collector(name, ws)
    return ws


async def main():
    h.import_websockets()
    tmp = a.tmpdir("adm-restart-keys")
    keys = jt.Keys(tmp)
    secret_path = keys.hmac_secret("s1")
    s1 = keys.secret("s1")
    mport = h.free_port()
    srv = h.Server("adm-restart", overrides={
        "metrics_listen": f"127.0.0.1:{mport}",
        "allowed_origins": ["https://a.example.com"], "allow_missing_origin": True,
        "auth": {"required": False, "default_role": "publisher", "listener_send": "close", "close_on_expiry": True,
                 "jwt": {"hmac_secret_file": secret_path}},
        "rate_limit": {"bytes_per_s": BYTES_PER_S, "burst_bytes": BURST_BYTES, "policy": "drop"},
    }).start()
    ctl = h.ctl_socket_of(srv)
    uri = srv.uri()

    obs = [a.Collector(f"obs{i}", await a.connect(uri)) for i in range(3)]
    traffic = await a.connect(uri)
    traffic_col = a.Collector("traffic", traffic)
    lis = await a.connect(uri, jt.sign_hs(s1, jt.claims(sub="lis", publish=False)), "header")
    lis_col = a.Collector("listener", lis)
    exp = int(time.time()) + EXP_AHEAD_S
    expiring = await a.connect(uri, jt.sign_hs(s1, {"sub": "exp", "exp": exp, "ringcast": {"publish": True}}),
                               "subprotocol")
    exp_col = a.Collector("expiring", expiring)
    bucket = await a.connect(uri)
    bucket_col = a.Collector("bucket", bucket)
    await asyncio.sleep(0.2)

    sent = [0]
    stop = asyncio.Event()

    async def send_traffic():
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        for seq in range(60 * TRAFFIC_HZ):
            if stop.is_set():
                return
            delay = t0 + seq / TRAFFIC_HZ - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            if not await a.send_or_closed(traffic, f"t{seq}"):
                return
            sent[0] = seq + 1

    traffic_task = asyncio.get_running_loop().create_task(send_traffic())

    row = await a.connection_of(srv, h.ws_local_port(lis))
    h.check(row.get("role") == "listener" and row.get("subject") == "lis", f"listener before restart: {row}")

    # Spend the bucket: 50 x 990 B fit the 50000 B burst, 10 more do not.
    pad = "p" * (MSG - 3)  # each message is MSG bytes
    for i in range(50):
        await bucket.send(f"k{i:02d}{pad}")
    for i in range(10):
        await bucket.send(f"x{i:02d}{pad}")
    t_spent = time.monotonic()
    await obs[0].wait_count("k", 50)
    await asyncio.sleep(0.3)
    n_x = len(obs[0].with_prefix("x"))
    h.check(n_x <= 2, f"the bucket should be spent after 50 x {MSG} B: {n_x} of 10 more got through")
    h.log(f"bucket spent: 50 x {MSG} B delivered, {n_x} of 10 more")

    # ---- hot restart --------------------------------------------------------------------------
    t_r = time.monotonic()
    _, ans = await h.actl_json(ctl, "restart", "all", timeout=60)
    took = time.monotonic() - t_r
    h.log(f"restart all: {took:.2f}s: {ans.get('message', ans)}")
    h.check(time.time() < exp - 1, f"the restart took {took:.1f}s: the token expiring at exp is already (nearly) "
                                   f"expired, so expiry after the restart cannot be tested")

    n_y = 30
    for i in range(n_y):
        await bucket.send(f"y{i:02d}{pad}")
    refill_s = time.monotonic() - t_spent
    await asyncio.sleep(0.5)
    got_y = len(obs[0].with_prefix("y"))
    allowed = int(BYTES_PER_S * (refill_s + 0.5) / MSG) + 2
    h.check(got_y <= allowed and got_y < n_y,
            f"rate-limit bucket after the restart: {got_y} of {n_y} x {MSG} B got through {refill_s:.1f}s after the "
            f"burst was spent (refill allows ~{allowed}; a fresh bucket passes all {n_y}): the bucket was not kept")
    h.check(bucket_col.closed is None, f"policy drop closed the limited client: {bucket_col.closed}")
    h.log(f"bucket kept across the restart: {got_y} of {n_y} through ({refill_s:.1f}s of refill allows {allowed})")

    row = await a.connection_of(srv, h.ws_local_port(lis))
    h.check(row.get("role") == "listener" and row.get("subject") == "lis", f"listener after the restart: {row}")
    h.check(lis_col.closed is None, f"the listener was closed by the restart: {lis_col.closed}")
    await a.send_or_closed(lis, "from listener")
    code, reason = await lis_col.wait_closed(3.0)
    h.check(code == 1008, f"listener's message after the restart: closed {code} {reason!r}, want 1008")
    h.log(f"role kept: the listener's message after the restart closed it ({code} {reason!r})")

    h.check(exp_col.closed is None, f"the expiring client was closed early: {exp_col.closed}")
    await expiring.send("e after restart")
    for o in obs:
        await o.wait_count("e after restart", 1)
    await h.wait_for(lambda: exp_col.closed is not None, max(1.0, exp - time.time() + 2.5),
                     "the token expiring after the restart to close its connection")
    closed_wall = exp_col.closed_wall or 0.0
    h.check(exp_col.closed == (1008, "token expired"), f"expired after the restart: closed {exp_col.closed}")
    h.check(closed_wall >= exp - 0.05, f"closed {exp - closed_wall:.2f}s before exp")
    h.log(f"expiry kept: closed (1008, 'token expired') {closed_wall - exp:.2f}s after exp")
    for o in obs:
        h.check(not o.with_prefix("from listener"), f"{o.name} got the listener's message")

    # ---- run time: set allowed_origins ----------------------------------------------------------
    a1 = drained(await a.connect(uri, origin="https://a.example.com"), "a1")
    _, ans = await h.actl_json(ctl, "set", "allowed_origins", '["https://b.example.com"]')
    h.log(f"set allowed_origins: {ans}")
    await wait_status(uri, 403, "Origin a after set", origin="https://a.example.com")
    b1 = drained(await wait_status(uri, 101, "Origin b after set", origin="https://b.example.com"), "b1")
    await a1.send("a1 still here")
    for o in obs:
        await o.wait_count("a1 still here", 1)
    h.log("set allowed_origins: a refused (403), b admitted, the client admitted under a stays")

    # ---- SIGHUP: rotated secret, changed allowlist in the file ----------------------------------
    k1 = drained(await a.connect(uri, jt.sign_hs(s1, jt.claims(sub="k1", publish=True)), "header"), "k1")
    keys.hmac_secret("s2", path=secret_path)  # the config file itself is unchanged
    s2 = keys.secret("s2")
    os.kill(srv.pid, signal.SIGHUP)
    await wait_status(uri, 401, "old secret after SIGHUP", token=jt.sign_hs(s1, jt.claims(sub="old")))
    k2 = drained(await wait_status(uri, 101, "new secret after SIGHUP", token=jt.sign_hs(s2, jt.claims(sub="new"))),
                 "k2")
    h.log("SIGHUP with a rotated secret file: old secret 401, new 101")
    cfg = dict(srv.config)
    cfg["allowed_origins"] = ["https://c.example.com"]
    a.write_json_atomically(srv.config_path, cfg)
    os.kill(srv.pid, signal.SIGHUP)
    c1 = drained(await wait_status(uri, 101, "Origin c after SIGHUP", origin="https://c.example.com"), "c1")
    await wait_status(uri, 403, "Origin b after SIGHUP", origin="https://b.example.com")
    await k1.send("k1 still here")
    for o in obs:
        await o.wait_count("k1 still here", 1)
    h.log("SIGHUP: old secret 401, new 101; Origin c 101, b 403; the client admitted with the old secret stays")

    # ---- the traffic ----------------------------------------------------------------------------
    stop.set()
    await asyncio.wait_for(traffic_task, 5)
    n = sent[0]
    want = [f"t{i}" for i in range(n)]
    for o in obs:
        await o.wait_count("t", n, timeout=5)
    await asyncio.sleep(0.3)
    for o in obs:
        got = o.with_prefix("t")
        h.check(got == want, f"{o.name}: traffic not exactly once in order: {len(got)} of {n}; first difference at "
                             f"{next((i for i, (x, y) in enumerate(zip(got, want)) if x != y), min(len(got), n))}")
    still = [c for c in obs + [traffic_col, bucket_col] if c.closed is not None]
    h.check(not still, f"closed during the test: {[(c.name, c.closed) for c in still]}")
    h.log(f"traffic: {n} messages, each observer got all exactly once, in order; nobody else closed")

    await h.close_all([c for c in [o.ws for o in obs] + [traffic, bucket, a1, b1, k1, k2, c1] if c is not None])
    srv.stop(check=True, allow_restarts=True)
    import shutil
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    h.run_test(main, timeout=90)
