#!/usr/bin/python3
"""The live status page (GET / of metrics_listen) in a real browser: headless Chromium over
the DevTools protocol (browser_harness.py), against the real binary with the bridge on a
Redis of the test's own.

  * GET / is one self-contained HTML page (no external resource); /status.json is what the
    control socket reports (status, workers, and stats' shards);
  * the page, polling every 250 ms, shows what `ringcastctl --json status / workers / stats`
    report: version, listen, connections, slow-client and protocol-error closes, worker
    restarts, ring-full pauses, per worker pid, state, incarnation, restarts, connections,
    per shard ring capacity and occupancy, and the bridge (state, connected); figures are
    compared as shown (text) and as drawn (data-value);
  * a client closed for a protocol error (1002) and `ringcastctl restart 0` show up there;
  * under traffic the charts move: the in/out rates and the lines (SVG points) of the
    cluster chart and of the sending worker's sparkline change, out/in is close to the
    number of receivers, and after the traffic the rates fall back to 0;
  * the page reports the endpoint unreachable once the server is gone, and raised no JS
    error. A screenshot is kept in the server's temp dir on failure.
"""
import asyncio
import json
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ringcast_harness as h  # noqa: E402
import browser_harness as bh  # noqa: E402

INTERVAL_MS = 250
N_CLIENTS = 4
N_MSGS = 400
SEND_GAP_S = 0.005  # 400 messages over about 2 s: several polls see them

# Everything the page shows, read back from the DOM as a person would see it (text) and as
# it was drawn (data-value).
READ_PAGE = """(() => {
  const el = (id) => document.getElementById(id);
  const fig = (id) => ({ text: el(id).textContent, value: el(id).dataset.value });
  const rows = (id) => [...document.querySelectorAll(`#${id} tbody tr`)].map((tr) =>
    Object.fromEntries([...tr.cells].map((td) => [td.dataset.k, { text: td.textContent, value: td.dataset.value }])));
  const chart = (svg) => ({ values: svg.dataset.values, max: svg.dataset.max,
    points: Object.fromEntries([...svg.querySelectorAll('polyline')].map((p) => [p.dataset.series, p.getAttribute('points')])) });
  return {
    updates: Number(document.body.dataset.updates || 0),
    state: el('state').textContent, error: el('error').style.display === 'block' ? el('error').textContent : '',
    version: fig('version'), listen: fig('listen'), connections: fig('connections'),
    slow_closes: fig('slow-closes'), protocol_errors: fig('protocol-errors'),
    worker_restarts: fig('worker-restarts'), ring_full: fig('ring-full'),
    rate_in: fig('rate-in'), rate_out: fig('rate-out'), chart: chart(el('chart')),
    workers: rows('workers'), shards: rows('shards'),
    sparks: [...document.querySelectorAll('#workers tbody tr')].map((tr) => chart(tr.querySelector('td[data-k="spark-in"] svg'))),
    bridge: Object.fromEntries([...document.querySelectorAll('#bridge dd')].map((dd) => [dd.dataset.k, dd.dataset.value])),
  };
})()"""


def digits(text):
    """A figure as shown ("1,234") back to its number."""
    return int("".join(c for c in text if c.isdigit()) or "-1")


async def control_view(ctl):
    _, st = await h.actl_json(ctl, "status")
    _, wk = await h.actl_json(ctl, "workers")
    _, sts = await h.actl_json(ctl, "stats")
    return st, wk["workers"], sts["shards"]


def differences(page, st, workers, shards):
    """What the page shows that the control socket does not report (empty = they agree)."""
    out = []

    def same(what, shown, want):
        if shown != want:
            out.append(f"{what}: page {shown!r}, control socket {want!r}")

    t = st["totals"]
    same("version", page["version"]["text"], st["version"])
    same("listen", page["listen"]["text"], st["config"]["listen"])
    for key, field in [("connections", "connections"), ("slow_closes", "slow_closes"),
                       ("protocol_errors", "protocol_errors"), ("worker_restarts", "worker_restarts"),
                       ("ring_full", "ring_full")]:
        same(f"{key} (text)", digits(page[key]["text"]), t[field])
        same(f"{key} (value)", int(page[key]["value"]), t[field])
    same("worker rows", [int(r["index"]["value"]) for r in page["workers"]], [w["index"] for w in workers])
    for row, w in zip(page["workers"], workers):
        for k in ("pid", "incarnation", "restarts", "connections"):
            same(f"worker {w['index']} {k}", digits(row[k]["text"]), w[k])
        same(f"worker {w['index']} state", row["state"]["text"], w["state"])
    same("shard rows", [int(r["member"]["value"]) for r in page["shards"]], [s["member"] for s in shards])
    for row, s in zip(page["shards"], shards):
        same(f"shard {s['member']} worker", int(row["worker"]["value"]), s["worker"])
        same(f"shard {s['member']} state", row["state"]["text"], s["state"])
        same(f"shard {s['member']} ring capacity", row["ring"]["text"].split("/")[1].strip().replace(",", ""),
             str(s["ring"]["capacity"]))
        same(f"shard {s['member']} ring occupancy", int(row["ring"]["value"]), s["ring"]["occupancy"])
        same(f"shard {s['member']} protocol errors", digits(row["protocol_errors"]["text"]), s["protocol_errors"])
        same(f"shard {s['member']} slow closes", digits(row["slow_closes"]["text"]), s["slow_closes"])
    b = st["bridge"]
    same("bridge enabled", page["bridge"].get("enabled"), json.dumps(b["enabled"]))
    if b["enabled"]:
        for k in ("state", "connected", "pid", "restarts"):
            same(f"bridge {k}", page["bridge"].get(k), str(b[k]).lower() if isinstance(b[k], bool) else str(b[k]))
    return out


async def wait_agree(page, ctl, what, timeout=10.0):
    """Until the page (a poll later) shows what the control socket reports."""
    deadline = time.monotonic() + timeout
    diff = ["never compared"]
    while time.monotonic() < deadline:
        st, workers, shards = await control_view(ctl)
        shown = await page.evaluate(READ_PAGE)
        diff = differences(shown, st, workers, shards)
        if not diff and shown["updates"] >= 2:
            return shown, st
        await asyncio.sleep(INTERVAL_MS / 1000)
    raise h.TestFailure(f"{what}: the page does not show what the control socket reports:\n  " + "\n  ".join(diff))


async def main():
    h.import_websockets()
    browser = bh.Browser()  # skips (77) here when there is no Chromium
    redis = None
    overrides = {}
    try:
        redis = h.RedisServer("redis-status").start()
        overrides = h.bridge_overrides(redis.address, "status-node", "ringcast-status")
    except h.TestSkip as e:
        h.log(f"no bridge in this run: {e}")
    mport = h.free_port()
    overrides["metrics_listen"] = f"127.0.0.1:{mport}"
    srv = h.Server("status-page", overrides=overrides, worker_processes=2, shards=2).start()
    ctl = h.ctl_socket_of(srv)
    if redis:
        await h.wait_bridge_connected(srv)
    try:
        await browser.start()
        await run(browser, srv, ctl, mport)
    finally:
        await browser.stop()
        if redis:
            redis.cleanup()


async def run(browser, srv, ctl, mport):
    # The two answers behind the page, over plain HTTP.
    status, headers, body = await h.ahttp_request(mport, "/")
    h.check(status == 200 and headers.get("content-type", "").startswith("text/html"), f"GET /: {status} {headers}")
    for external in (b"<script src", b"<link", b"@import", b"url("):
        h.check(external not in body, f"GET /: the page loads something from elsewhere ({external!r})")
    status, headers, body = await h.ahttp_request(mport, "/status.json")
    h.check(status == 200 and headers.get("content-type") == "application/json", f"GET /status.json: {status} {headers}")
    doc = json.loads(body)
    st, workers, shards = await control_view(ctl)
    h.check(doc["workers"] == workers, f"/status.json workers {doc['workers']} vs ringcastctl workers {workers}")
    h.check([s["member"] for s in doc["shards"]] == [s["member"] for s in shards], "/status.json shards vs stats")
    h.check(doc["status"]["version"] == st["version"] and doc["status"]["bridge"]["enabled"] == st["bridge"]["enabled"],
            f"/status.json status {doc['status']} vs ringcastctl status {st}")
    h.log("GET / is a self-contained page; /status.json agrees with ringcastctl")

    page = await browser.new_page(f"http://127.0.0.1:{mport}/?interval={INTERVAL_MS}")
    try:
        await exercise(page, srv, ctl)
    except BaseException:
        try:
            h.log("screenshot: " + await page.screenshot(os.path.join(srv.tmp, "status-page.png")))
        except Exception as e:  # noqa: BLE001 - the failure itself matters more
            h.log(f"no screenshot: {e}")
        raise


async def exercise(page, srv, ctl):
    await page.wait_for("Number(document.body.dataset.updates) >= 2", 15, "the page's first polls")
    shown, st = await wait_agree(page, ctl, "idle")
    h.log(f"idle: page shows version {shown['version']['text']}, {len(shown['workers'])} workers, "
          f"{len(shown['shards'])} shards, bridge {shown['bridge']}")

    clients = await h.ws_connect_many(srv.uri(), N_CLIENTS)
    receivers = [h.Receiver(f"c{i}", c, own_sid=0 if i == 0 else None).start() for i, c in enumerate(clients)]
    await h.sync_barrier(clients[0], receivers, "s")
    shown, st = await wait_agree(page, ctl, f"{N_CLIENTS} clients")
    h.check(digits(shown["connections"]["text"]) == N_CLIENTS, f"connections shown: {shown['connections']}")
    h.log(f"{N_CLIENTS} clients: the page shows connections {shown['connections']['text']}")

    # A protocol error, counted on the page as on the control socket.
    loop = asyncio.get_running_loop()

    def bad_client():
        c = h.raw_client(srv.port)
        try:
            c.send_frame(h.OP_TEXT, b"unmasked", mask=False)
            return c.read_until_close(5)[0]
        finally:
            c.close()
    code = await loop.run_in_executor(None, bad_client)
    h.check(code == 1002, f"an unmasked frame should be closed with 1002, got {code}")
    shown, st = await wait_agree(page, ctl, "after a 1002 close")
    h.check(digits(shown["protocol_errors"]["text"]) == 1, f"protocol errors shown: {shown['protocol_errors']}")
    h.log("a 1002 close: the page shows 1 protocol-error close")

    # Traffic: the charts must move.
    before = await page.evaluate(READ_PAGE)
    sender_worker = None
    _, wk = await h.actl_json(ctl, "workers")
    for seq in range(N_MSGS):
        await clients[0].send(h.make_msg(0, seq))
        await asyncio.sleep(SEND_GAP_S)
    await h.wait_for(lambda: all(r.got(0) >= N_MSGS for r in receivers[1:]), 15, "the messages to arrive")
    _, wk2 = await h.actl_json(ctl, "workers")
    for a, b in zip(wk["workers"], wk2["workers"]):
        if b["messages_in"] - a["messages_in"] >= N_MSGS:
            sender_worker = b["index"]
    h.check(sender_worker is not None, f"no worker counted the {N_MSGS} messages: {wk} -> {wk2}")
    peak = await page.wait_for(
        "(() => { const s = window.ringcastStatus.total; return s.in.some((v) => v > 0) && s.out.some((v) => v > 0)"
        " && { in: s.in.slice(), out: s.out.slice() }; })()", 10, "rates above zero in the chart's data")
    during = await page.evaluate(READ_PAGE)
    h.check(during["chart"]["points"] != before["chart"]["points"], "the cluster chart's lines did not change under traffic")
    h.check(float(during["chart"]["max"]) > 1, f"the chart's scale did not grow: {during['chart']}")
    spark_before = before["sparks"][sender_worker]["points"]["in"]
    spark_during = during["sparks"][sender_worker]["points"]["in"]
    h.check(spark_during != spark_before, f"worker {sender_worker}'s in-sparkline did not change")
    # Wait for the traffic to leave the window, then compare the areas under the two lines:
    # every message in was delivered to the N_CLIENTS - 1 others.
    settled = await page.wait_for(
        "(() => { const s = window.ringcastStatus.total; const n = s.in.length;"
        " return n > 4 && s.in[n-1] === 0 && s.in[n-2] === 0 && s.out[n-1] === 0 && s.out[n-2] === 0"
        " && { in: s.in.slice(), out: s.out.slice() }; })()", 15, "the rates to fall back to 0 after the traffic")
    sum_in, sum_out = sum(settled["in"]), sum(settled["out"])
    ratio = sum_out / sum_in if sum_in else 0
    h.log(f"under traffic: peak in {max(peak['in']):.0f}/s, out {max(peak['out']):.0f}/s; chart lines and worker "
          f"{sender_worker}'s sparkline moved; out/in over the window {ratio:.2f} (receivers {N_CLIENTS - 1}); "
          f"rates back to 0 after")
    h.check(abs(ratio - (N_CLIENTS - 1)) <= 0.5, f"deliveries/messages over the chart window should be about "
                                                 f"{N_CLIENTS - 1}: in {settled['in']}, out {settled['out']}")
    shown, st = await wait_agree(page, ctl, "after the traffic")
    h.check(digits(shown["rate_in"]["text"]) == 0, f"rate in after the traffic: {shown['rate_in']}")

    # A hot restart: incarnation and restarts move, on the page as on the control socket.
    _, wk = await h.actl_json(ctl, "workers")
    await h.actl_json(ctl, "restart", "0", timeout=40)
    shown, st = await wait_agree(page, ctl, "after `restart 0`", timeout=15)
    row = shown["workers"][0]
    h.check(digits(row["incarnation"]["text"]) == wk["workers"][0]["incarnation"] + 1,
            f"worker 0 incarnation shown {row['incarnation']}, was {wk['workers'][0]['incarnation']}")
    h.check(digits(shown["worker_restarts"]["text"]) >= 1, f"worker restarts shown: {shown['worker_restarts']}")
    h.log(f"after `restart 0`: the page shows worker 0 incarnation {row['incarnation']['text']}, "
          f"restarts {row['restarts']['text']}, worker restarts {shown['worker_restarts']['text']}")
    await h.close_all(clients)
    h.log("screenshot: " + await page.screenshot(os.path.join(srv.tmp, "status-page.png")))

    # The endpoint gone: the page says so and keeps the last figures.
    srv.stop()
    gone = await page.wait_for(f"({READ_PAGE}).state === 'unreachable' && ({READ_PAGE})", 10,
                               "the page to report the endpoint unreachable")
    h.check("status.json" in gone["error"], f"error banner: {gone['error']!r}")
    h.check(digits(gone["version"]["text"]) >= 0 and gone["workers"], "the last figures should stay on screen")
    h.log(f"server stopped: the page says {gone['state']!r}: {gone['error']!r}")
    h.check(not page.errors, f"the page raised JS errors: {page.errors}")


if __name__ == "__main__":
    h.run_test(main, timeout=150)
