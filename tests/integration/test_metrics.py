#!/usr/bin/python3
"""The HTTP endpoint (metrics_listen on a free loopback port): /metrics, /healthz, /readyz.

  * GET /metrics: 200, Content-Type `text/plain; version=0.0.4; charset=utf-8`; every line
    is valid Prometheus text format 0.0.4 (# HELP / # TYPE with a known type, or a sample
    `name{label="value",...} number` whose family was declared by a # TYPE before it, no
    family declared twice, no duplicate series); the documented metrics exist:
    ringcast_connections, ringcast_messages_received_total, ringcast_deliveries_total,
    ringcast_bytes_sent_total, ringcast_slow_client_closes_total,
    ringcast_protocol_errors_total{code=...} (1002 1007 1008 1009 1011 other),
    ringcast_ring_full_total, ringcast_worker_restarts_total, ringcast_build_info{version};
    counters are of TYPE counter and end in _total; one series per worker (0..2);
  * after traffic (6 clients, 30 messages), messages_received +30, deliveries +150,
    bytes_sent grows, ringcast_connections sums to 6; a client closed for a bad frame
    moves ringcast_protocol_errors_total{code="1002"} by 1;
  * a hot restart (`restart 0`) moves ringcast_worker_restarts_total by 1;
  * /healthz 200, /readyz 200 `ready`, HEAD /metrics 200 without a body, an unknown path 404,
    POST 405 with `Allow`;
  * `ringcastctl drain`: /readyz 503 naming "draining", ringcast_draining 1, /healthz 200.
"""
import asyncio
import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ringcast_harness as h  # noqa: E402

REQUIRED = {
    "ringcast_build_info": "gauge",
    "ringcast_connections": "gauge",
    "ringcast_messages_received_total": "counter",
    "ringcast_deliveries_total": "counter",
    "ringcast_bytes_sent_total": "counter",
    "ringcast_slow_client_closes_total": "counter",
    "ringcast_protocol_errors_total": "counter",
    "ringcast_ring_full_total": "counter",
    "ringcast_worker_restarts_total": "counter",
}
PER_WORKER = ["ringcast_connections", "ringcast_messages_received_total", "ringcast_deliveries_total",
              "ringcast_bytes_sent_total", "ringcast_slow_client_closes_total", "ringcast_ring_full_total"]
TYPES = {"counter", "gauge", "histogram", "summary", "untyped"}
NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
LABEL_RE = re.compile(r'([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\\n]|\\\\|\\"|\\n)*)"')
SAMPLE_RE = re.compile(rf"^({NAME})(\{{.*\}})? (\S+)( -?\d+)?$")
HELP_RE = re.compile(rf"^# HELP ({NAME}) (.*)$")
TYPE_RE = re.compile(rf"^# TYPE ({NAME}) (\S+)$")
N_CLIENTS = 6
N_MSGS = 30


def parse_value(v):
    if v in ("+Inf", "-Inf", "NaN"):
        return float(v.replace("Inf", "inf").replace("NaN", "nan"))
    return float(v)  # raises ValueError on garbage


def parse_exposition(text):
    """Validate text format 0.0.4; returns ({family: type}, {(name, frozenset(labels)): value})."""
    h.check(text.endswith("\n"), "exposition does not end with a newline")
    families, helps, samples = {}, set(), {}
    current = None
    for n, line in enumerate(text.split("\n")[:-1], 1):
        where = f"/metrics line {n}: {line[:200]!r}"
        h.check(line == line.strip() or line.startswith("# HELP"), f"{where}: stray whitespace")
        h.check(line != "", f"{where}: empty line")
        if line.startswith("#"):
            m = HELP_RE.match(line)
            if m:
                h.check(m.group(1) not in helps, f"{where}: second HELP for {m.group(1)}")
                h.check(m.group(2).strip() != "", f"{where}: empty HELP text")
                helps.add(m.group(1))
                continue
            m = TYPE_RE.match(line)
            h.check(m is not None, f"{where}: a comment that is neither # HELP nor # TYPE")
            name, typ = m.group(1), m.group(2)
            h.check(typ in TYPES, f"{where}: unknown type {typ}")
            h.check(name not in families, f"{where}: family {name} declared twice")
            families[name] = typ
            current = name
            continue
        m = SAMPLE_RE.match(line)
        h.check(m is not None, f"{where}: not a sample line")
        name, labels_text, value = m.group(1), m.group(2), m.group(3)
        family = name
        if families.get(current) in ("histogram", "summary"):
            family = re.sub(r"_(bucket|sum|count)$", "", name)
        h.check(family == current, f"{where}: sample of {name} outside its family's block (current {current})")
        labels = {}
        if labels_text:
            inner = labels_text[1:-1]
            pos = 0
            while pos < len(inner):
                lm = LABEL_RE.match(inner, pos)
                h.check(lm is not None, f"{where}: bad label syntax at {inner[pos:pos + 40]!r}")
                h.check(lm.group(1) not in labels, f"{where}: label {lm.group(1)} twice")
                labels[lm.group(1)] = lm.group(2)
                pos = lm.end()
                if pos < len(inner):
                    h.check(inner[pos] == ",", f"{where}: labels not separated by commas")
                    pos += 1
                    h.check(pos < len(inner), f"{where}: trailing comma in labels")
        try:
            val = parse_value(value)
        except ValueError:
            raise h.TestFailure(f"{where}: value {value!r} is not a number")
        key = (name, frozenset(labels.items()))
        h.check(key not in samples, f"{where}: duplicate series")
        samples[key] = val
    for name, typ in families.items():
        if typ == "counter":
            h.check(name.endswith("_total"), f"counter {name} does not end in _total")
    return families, samples


def series(samples, name, **labels):
    return {dict(k[1]).get("worker", dict(k[1]).get("code", "")): v for k, v in samples.items()
            if k[0] == name and all(dict(k[1]).get(a) == b for a, b in labels.items())}


def total(samples, name, **labels):
    return sum(v for k, v in samples.items()
               if k[0] == name and all(dict(k[1]).get(a) == b for a, b in labels.items()))


async def scrape(port):
    status, headers, body = await h.ahttp_request(port, "/metrics")
    h.check(status == 200, f"GET /metrics: {status} {body[:200]!r}")
    h.check(headers.get("content-type") == "text/plain; version=0.0.4; charset=utf-8",
            f"/metrics Content-Type {headers.get('content-type')!r}")
    return parse_exposition(body.decode("utf-8"))


async def main():
    h.import_websockets()
    mport = h.free_port()
    srv = h.Server("metrics", overrides={"metrics_listen": f"127.0.0.1:{mport}"}).start()
    ctl = h.ctl_socket_of(srv)
    h.log(f"metrics on 127.0.0.1:{mport}")

    families, s0 = await scrape(mport)
    for name, typ in REQUIRED.items():
        h.check(families.get(name) == typ, f"/metrics: {name} should be a {typ}, found {families.get(name)}")
    for name in PER_WORKER:
        h.check(sorted(series(s0, name)) == ["0", "1", "2"], f"{name} should have one series per worker 0..2: "
                                                              f"{series(s0, name)}")
    codes = sorted(dict(k[1])["code"] for k in s0 if k[0] == "ringcast_protocol_errors_total" and dict(k[1])["worker"] == "0")
    h.check(codes == sorted(["1002", "1007", "1008", "1009", "1011", "other"]),
            f"ringcast_protocol_errors_total codes for worker 0: {codes}")
    info = [dict(k[1]) for k in s0 if k[0] == "ringcast_build_info"]
    h.check(len(info) == 1 and info[0].get("version") and s0[("ringcast_build_info", frozenset(info[0].items()))] == 1,
            f"ringcast_build_info: {info}")
    _, status = await h.actl_json(ctl, "status")
    h.check(info[0]["version"] == status["version"], f"build_info version {info} vs status {status['version']}")
    h.log(f"/metrics: {len(families)} families, {len(s0)} series, all lines valid; version {info[0]['version']}")

    # traffic
    clients = await h.ws_connect_many(srv.uri(), N_CLIENTS)
    receivers = [h.Receiver(f"c{i}", c, own_sid=0 if i == 0 else None).start() for i, c in enumerate(clients)]
    await h.sync_barrier(clients[0], receivers, "x")
    _, s1 = await scrape(mport)
    for seq in range(N_MSGS):
        await clients[0].send(h.make_msg(0, seq))
    await h.wait_for(lambda: all(r.got(0) >= N_MSGS for r in receivers[1:]), 10, "the messages to arrive")
    want_in = total(s1, "ringcast_messages_received_total") + N_MSGS
    want_del = total(s1, "ringcast_deliveries_total") + N_MSGS * (N_CLIENTS - 1)
    s2 = None
    for _ in range(100):
        _, s2 = await scrape(mport)
        if total(s2, "ringcast_messages_received_total") >= want_in and total(s2, "ringcast_deliveries_total") >= want_del:
            break
        await asyncio.sleep(0.05)
    h.check(total(s2, "ringcast_messages_received_total") == want_in,
            f"messages_received_total {total(s1, 'ringcast_messages_received_total')} -> "
            f"{total(s2, 'ringcast_messages_received_total')}, want {want_in}")
    h.check(total(s2, "ringcast_deliveries_total") == want_del,
            f"deliveries_total {total(s1, 'ringcast_deliveries_total')} -> {total(s2, 'ringcast_deliveries_total')}, "
            f"want {want_del}")
    h.check(total(s2, "ringcast_bytes_sent_total") > total(s1, "ringcast_bytes_sent_total"), "bytes_sent_total did not grow")
    h.check(total(s2, "ringcast_connections") == N_CLIENTS, f"ringcast_connections {series(s2, 'ringcast_connections')}")
    h.log(f"after {N_MSGS} messages: received {total(s1, 'ringcast_messages_received_total'):.0f} -> "
          f"{total(s2, 'ringcast_messages_received_total'):.0f}, deliveries {total(s1, 'ringcast_deliveries_total'):.0f} -> "
          f"{total(s2, 'ringcast_deliveries_total'):.0f}, bytes sent {total(s1, 'ringcast_bytes_sent_total'):.0f} -> "
          f"{total(s2, 'ringcast_bytes_sent_total'):.0f}")

    # a protocol error (unmasked client frame -> 1002) is counted by code
    loop = asyncio.get_running_loop()

    def bad_client():
        c = h.raw_client(srv.port)
        try:
            c.send_frame(h.OP_TEXT, b"unmasked", mask=False)
            code, reason, _ = c.read_until_close(5)
            return code
        finally:
            c.close()
    code = await loop.run_in_executor(None, bad_client)
    h.check(code == 1002, f"an unmasked frame should be closed with 1002, got {code}")
    want = total(s2, "ringcast_protocol_errors_total", code="1002") + 1
    for _ in range(60):
        _, s3 = await scrape(mport)
        if total(s3, "ringcast_protocol_errors_total", code="1002") >= want:
            break
        await asyncio.sleep(0.05)
    h.check(total(s3, "ringcast_protocol_errors_total", code="1002") == want,
            f"protocol_errors_total{{code=1002}} should be {want}: {series(s3, 'ringcast_protocol_errors_total', code='1002')}")
    h.log("a 1002 close moved ringcast_protocol_errors_total{code=\"1002\"} by 1")

    # a hot restart is counted
    r0 = total(s3, "ringcast_worker_restarts_total")
    rc, ans = await h.actl_json(ctl, "restart", "0", timeout=40)
    _, s4 = await scrape(mport)
    _, st = await h.actl_json(ctl, "status")
    _, wj = await h.actl_json(ctl, "workers")
    h.log(f"after `restart 0` ({ans['restarted']}): ringcast_worker_restarts_total {r0:.0f} -> "
          f"{total(s4, 'ringcast_worker_restarts_total'):.0f}; status totals.worker_restarts "
          f"{st['totals']['worker_restarts']}; workers[0].restarts {wj['workers'][0]['restarts']}")
    restart_problem = None  # checked at the end, so the checks below still run
    if total(s4, "ringcast_worker_restarts_total") != r0 + 1:
        restart_problem = (
            f"ringcast_worker_restarts_total ('Worker processes started again after a crash or a restart command') "
            f"should count the restart command: {r0:.0f} -> {total(s4, 'ringcast_worker_restarts_total'):.0f} "
            f"(status totals.worker_restarts {st['totals']['worker_restarts']}, workers[0].restarts "
            f"{wj['workers'][0]['restarts']})")

    # health endpoints
    st_, hd, body = await h.ahttp_request(mport, "/healthz")
    h.check(st_ == 200 and body.strip() == b"ok", f"/healthz: {st_} {body!r}")
    st_, hd, body = await h.ahttp_request(mport, "/readyz")
    h.check(st_ == 200 and body.strip() == b"ready", f"/readyz while serving: {st_} {body!r}")
    st_, hd, body = await h.ahttp_request(mport, "/metrics?x=1", method="HEAD")
    h.check(st_ == 200 and body == b"", f"HEAD /metrics: {st_} body {body[:50]!r}")
    st_, hd, body = await h.ahttp_request(mport, "/nope")
    h.check(st_ == 404, f"/nope: {st_} {body!r}")
    st_, hd, body = await h.ahttp_request(mport, "/metrics", method="POST")
    h.check(st_ == 405 and "GET" in hd.get("allow", ""), f"POST /metrics: {st_} {hd}")
    h.log("/healthz 200 ok, /readyz 200 ready, HEAD 200 without body, /nope 404, POST 405")

    # drain -> not ready
    rc, ans = await h.actl_json(ctl, "drain")
    st_, hd, body = await h.ahttp_request(mport, "/readyz")
    h.check(st_ == 503 and b"draining" in body, f"/readyz while draining: {st_} {body!r}")
    st_h, _, _ = await h.ahttp_request(mport, "/healthz")
    h.check(st_h == 200, f"/healthz while draining: {st_h}")
    _, s5 = await scrape(mport)
    h.check(total(s5, "ringcast_draining") == 1, "ringcast_draining should be 1 while draining")
    h.log(f"after drain: /readyz {st_} {body.strip()!r}, /healthz {st_h}, ringcast_draining 1")
    h.check(restart_problem is None, restart_problem)
    await h.close_all(clients)
    srv.stop()


if __name__ == "__main__":
    h.run_test(main, timeout=60)
