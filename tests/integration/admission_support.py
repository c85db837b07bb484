"""Helpers shared by the admission integration tests (test_admission_*.py).

  * upgrade()        -- one raw upgrade request with chosen headers (and source address):
                        (status, headers, RawWS); for checking 401/403/503 with no upgrade.
  * connect()        -- a python3-websockets client, optionally from a chosen 127.0.0.x.
  * expect_refused() -- the upgrade is answered `status` without Upgrade/Sec-WebSocket-Accept.
  * Metrics          -- /metrics parsed by prometheus_client, samples summed over every label
                        not asked for (the per-worker label included).
  * connection_of()  -- a connection's row in `ringcastctl probes --connections`.
  * Collector        -- records every message a websockets client receives, and its close.

Only loopback is used; every wait is bounded.
"""

import asyncio
import base64
import os
import socket
import time

import ringcast_harness as h


class BoundRawWS(h.RawWS):
    """RawWS whose socket is bound to `local_ip` (127.0.0.x) before connecting."""

    def __init__(self, port, local_ip=None, rcvbuf=None, timeout=10.0):
        self.port = port
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        if local_ip:
            self.sock.bind((local_ip, 0))
        self.sock.settimeout(timeout)
        self.sock.connect(("127.0.0.1", port))
        self.buf = bytearray()
        self.http_status = None
        self.http_headers = {}
        self.http_body = b""


def upgrade(port, path="/", headers=(), local_ip=None, timeout=5.0):
    """Sends one upgrade request; returns (status, headers dict, the RawWS). The caller closes
    the RawWS (after a 101 it is an open WebSocket to use for frames)."""
    c = BoundRawWS(port, local_ip=local_ip, timeout=timeout)
    try:
        status, hdrs = c.handshake(path=path, extra=list(headers), expect=None, timeout=timeout)
    except h.ConnectionGone as g:
        c.close()
        raise h.TestFailure(f"upgrade {path} {list(headers)}: connection ended ({g.kind}) with no HTTP answer")
    except socket.timeout:
        c.close()
        raise h.TestFailure(f"upgrade {path} {list(headers)}: no HTTP answer within {timeout}s")
    return status, hdrs, c


def expect_refused(port, status, what, path="/", headers=(), local_ip=None):
    """The upgrade must be answered `status` (401/403/503) and not upgraded."""
    got, hdrs, c = upgrade(port, path=path, headers=headers, local_ip=local_ip)
    c.close()
    h.check(got == status, f"{what}: expected HTTP {status}, got {got} {hdrs}")
    h.check("sec-websocket-accept" not in hdrs and hdrs.get("upgrade", "").lower() != "websocket",
            f"{what}: a {got} answer must not carry the upgrade headers: {hdrs}")
    h.log(f"{what}: HTTP {got} as expected")


def expect_upgraded(port, what, path="/", headers=(), local_ip=None, subprotocol=None):
    """The upgrade must succeed (101, valid accept); returns the open RawWS."""
    got, hdrs, c = upgrade(port, path=path, headers=headers, local_ip=local_ip)
    if got != 101:
        c.close()
        h.check(False, f"{what}: expected 101, got {got} {hdrs}")
    if subprotocol is not None:
        h.check(hdrs.get("sec-websocket-protocol") == subprotocol,
                f"{what}: Sec-WebSocket-Protocol answer {hdrs.get('sec-websocket-protocol')!r}, want {subprotocol!r}")
    return c


async def aexpect_refused(*a, **kw):
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, lambda: expect_refused(*a, **kw))


async def connect(uri, token=None, via="header", origin=None, local_ip=None, timeout=10.0, **kw):
    """A websockets client; the token goes in the Authorization header, the query (`?token=`)
    or the subprotocol list, as `via` says."""
    import websockets
    extra = dict(kw.pop("extra_headers", {}) or {})
    if token is not None:
        if via == "header":
            extra["Authorization"] = f"Bearer {token}"
        elif via == "query":
            uri = uri + ("&" if "?" in uri else "?") + "token=" + token
        elif via == "subprotocol":
            import jwt_tokens
            kw["subprotocols"] = jwt_tokens.subprotocols_for(token)
        else:
            raise ValueError(via)
    if origin is not None:
        kw["origin"] = origin
    if local_ip is not None:
        kw["local_addr"] = (local_ip, 0)
    try:
        return await h.ws_connect(uri, timeout=timeout, extra_headers=extra, **kw)
    except websockets.InvalidStatusCode as e:
        raise Refused(e.status_code, f"connect {uri} (token via {via}, origin {origin}, from {local_ip}): "
                                     f"refused with HTTP {e.status_code}")


class Refused(h.TestFailure):
    def __init__(self, status, msg):
        super().__init__(msg)
        self.status = status


async def connect_status(uri, **kw):
    """Like connect() but returns (status, ws or None): 101 and the client, or the HTTP status."""
    try:
        ws = await connect(uri, **kw)
        return 101, ws
    except Refused as e:
        return e.status, None


class Collector:
    """Every message a websockets client receives (in order), and its close code and reason."""

    def __init__(self, name, ws):
        self.name = name
        self.ws = ws
        self.messages = []
        self.closed = None
        self.closed_at = None     # time.monotonic() when the close was seen
        self.closed_wall = None   # time.time() then (to compare with a token's exp)
        self.task = asyncio.get_running_loop().create_task(self._run())

    async def _run(self):
        import websockets
        try:
            async for m in self.ws:
                self.messages.append(m)
        except websockets.ConnectionClosed:
            pass
        except Exception as e:  # noqa: BLE001
            self.messages.append(f"<collector crashed: {e!r}>")
        self.closed = (self.ws.close_code, self.ws.close_reason)
        self.closed_at = time.monotonic()
        self.closed_wall = time.time()

    def with_prefix(self, prefix):
        return [m for m in self.messages if isinstance(m, str) and m.startswith(prefix)]

    async def wait_count(self, prefix, n, timeout=5.0):
        await h.wait_for(lambda: len(self.with_prefix(prefix)) >= n, timeout,
                         lambda: f"{self.name}: {n} messages starting {prefix!r} (has {len(self.with_prefix(prefix))}; "
                                 f"closed {self.closed})")

    async def wait_closed(self, timeout=5.0):
        await h.wait_for(lambda: self.closed is not None, timeout, f"{self.name} to be closed by the server")
        return self.closed


async def send_or_closed(ws, msg):
    """Send; returns False if the connection was already closed."""
    import websockets
    try:
        await ws.send(msg)
        return True
    except websockets.ConnectionClosed:
        return False


def b64(s):
    return base64.b64encode(s.encode()).decode()


# --------------------------------------------------------------------------- /metrics


class Metrics:
    """One /metrics scrape, parsed by prometheus_client (python3-prometheus-client)."""

    def __init__(self, text):
        from prometheus_client.parser import text_string_to_metric_families
        try:
            fams = list(text_string_to_metric_families(text))
        except Exception as e:  # noqa: BLE001
            raise h.TestFailure(f"prometheus_client cannot parse /metrics: {e!r}\n{text[:2000]}")
        self.text = text
        self.samples = [(s.name, dict(s.labels), s.value) for f in fams for s in f.samples]
        self.names = {n for n, _, _ in self.samples}

    def has(self, name):
        return name in self.names

    def total(self, name, **match):
        """Sum of the samples called `name` (e.g. ringcast_rate_limited_total) whose labels
        include `match`; other labels (worker, ...) are summed over. 0 when none."""
        return sum(v for n, labels, v in self.samples
                   if n == name and all(labels.get(k) == val for k, val in match.items()))

    def require(self, *names):
        missing = [n for n in names if n not in self.names]
        h.check(not missing, f"/metrics lacks {missing}; it has {sorted(x for x in self.names if 'ringcast' in x)[:80]}")


async def scrape(mport):
    status, _, body = await h.ahttp_request(mport, "/metrics")
    h.check(status == 200, f"GET /metrics: {status} {body[:200]!r}")
    return Metrics(body.decode("utf-8"))


async def scrape_until(mport, pred, what, timeout=5.0):
    """Scrape until pred(metrics) holds (workers publish their counters as they go); fail
    with the last values otherwise (`what` may be a callable of the last scrape)."""
    deadline = time.monotonic() + timeout
    while True:
        m = await scrape(mport)
        if pred(m):
            return m
        if time.monotonic() > deadline:
            raise h.TestFailure(f"/metrics: timed out after {timeout}s waiting for "
                                f"{what(m) if callable(what) else what}")
        await asyncio.sleep(0.1)


# --------------------------------------------------------------------------- probes


async def connections(srv):
    """Rows of `ringcastctl --json probes --connections`."""
    _, ans = await h.actl_json(h.ctl_socket_of(srv), "probes", "--connections")
    rows = ans.get("connections")
    h.check(isinstance(rows, list), f"probes --connections: no connections list: {ans}")
    return rows


def peer_port(row):
    try:
        return int(str(row.get("peer", "")).rsplit(":", 1)[1])
    except (IndexError, ValueError):
        return None


async def connection_of(srv, local_port, timeout=3.0):
    """The probes row of the connection whose client side is `local_port`."""
    deadline = time.monotonic() + timeout
    rows = []
    while True:
        rows = await connections(srv)
        for r in rows:
            if peer_port(r) == local_port:
                return r
        if time.monotonic() > deadline:
            raise h.TestFailure(f"probes --connections: no row with peer port {local_port}: {rows[:10]}")
        await asyncio.sleep(0.1)


def worker_rss_anon_kib(pids):
    """Sum of RssAnon (KiB) of the given pids (private memory: queued output lives there)."""
    total = 0
    for p in pids:
        try:
            with open(f"/proc/{p}/status") as f:
                for line in f:
                    if line.startswith("RssAnon:"):
                        total += int(line.split()[1])
        except OSError:
            pass
    return total


def loopback_alias_usable(ip):
    """True if a socket can bind to `ip` (Linux routes all of 127/8 to lo)."""
    try:
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
            s.bind((ip, 0))
        return True
    except OSError:
        return False


def tmpdir(name):
    import tempfile
    return tempfile.mkdtemp(prefix=f"ringcast-it-{name}-")


def write_json_atomically(path, obj):
    import json
    tmp = f"{path}.new-{os.getpid()}"
    with open(tmp, "w") as f:
        json.dump(obj, f, indent=2)
    os.rename(tmp, path)
