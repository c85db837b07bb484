#!/usr/bin/python3
"""permessage-deflate (RFC 7692) with independent clients on 3 worker processes.

Clients, mixed over the workers: python3-websockets with its default offer (compression on,
the client keeps its LZ77 context), with `client_no_context_takeover`, and with
`compression=None`; an npm `ws` client with perMessageDeflate (tests/integration/
ws_deflate_peer.js: compresses all it sends, keeps its context); plus a raw client that offers
the extension, checks the answer header byte for byte, sends compressed frames itself and
inflates what it gets. Five senders (one of each kind) send text and binary messages: compressible JSON, compressible binary, random
binary (does not shrink: goes plain to everyone), a short text under min_bytes and a 200 KB
text. Every client must get every other sender's message exactly once, intact.

Then, on the same server: a deflate bomb (a small RSV1 frame that inflates past
max_message_bytes) closes its sender with 1009 and publishes nothing; corrupt DEFLATE data is
1007; RSV1 without the extension, on a continuation and on a ping is 1002. `ringcastctl stats`
shows the compression counters and `probes --connections` who negotiated what.
"""
import asyncio
import base64
import json
import os
import random
import subprocess
import sys
import threading
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ringcast_harness as h  # noqa: E402

N_MSGS = 30
MAX_MESSAGE = 1 << 20
OFFER_RAW = "permessage-deflate; client_no_context_takeover"
ANSWER_RAW = "permessage-deflate; server_no_context_takeover; client_no_context_takeover"


def body(sid, seq):
    """(is_text, bytes) of message `seq` from sender `sid`; the kind cycles through five shapes."""
    kind = seq % 5
    tag = f"{sid}:{seq}:"
    if kind == 0:  # compressible JSON
        items = [{"sym": f"S{i % 7}", "px": 100 + (seq * i) % 13, "side": "buy"} for i in range(12)]
        return True, (tag + json.dumps(items)).encode()
    if kind == 1:  # compressible binary
        return False, tag.encode() + bytes(range(64)) * 8
    if kind == 2:  # random: never shrinks
        return False, tag.encode() + random.Random(sid * 1000 + seq).randbytes(300)
    if kind == 3:  # under min_bytes: always plain
        return True, tag.encode()
    return True, (tag + "lorem ipsum dolor sit amet " * 8000).encode()  # ~200 KB


def parse_tag(data):
    sid, seq, _ = data.split(b":", 2)
    return int(sid), int(seq)


class Collector:
    """What one client received: {(sid, seq): count} and content errors."""

    def __init__(self, name, own_sid=None):
        self.name, self.own_sid = name, own_sid
        self.got, self.errors, self.closed = {}, [], None
        self.empty = 0

    def add(self, data, is_text):
        if isinstance(data, str):
            data = data.encode()
        if data == b"" and is_text:
            self.empty += 1
            return
        try:
            sid, seq = parse_tag(data)
        except ValueError:
            self.errors.append(f"untagged message {data[:40]!r}")
            return
        if sid < 0:
            return  # barrier / marker
        want_text, want = body(sid, seq)
        if data != want or is_text != want_text:
            self.errors.append(f"message {sid}:{seq} differs (text={is_text}, {len(data)} B)")
        if sid == self.own_sid:
            self.errors.append(f"own message {sid}:{seq} echoed")
        self.got[(sid, seq)] = self.got.get((sid, seq), 0) + 1

    def count(self, senders):
        return sum(1 for s in senders if s != self.own_sid for q in range(N_MSGS) if (s, q) in self.got)


async def ws_reader(ws, col):
    try:
        async for m in ws:
            col.add(m, isinstance(m, str))
    except Exception as e:  # noqa: BLE001 - reported by the check below
        col.closed = repr(e)


def raw_reader(raw, col, stop):
    while not stop.is_set():
        try:
            op, data = raw.recv_message(timeout=0.2)
        except Exception as e:  # noqa: BLE001
            if "no complete message" in str(e) or "timed out" in str(e):
                continue
            col.closed = repr(e)
            return
        if op == "close":
            col.closed = f"close {data}"
            return
        col.add(data, op == h.OP_TEXT)


class WsPeer:
    """The npm ws client (ws_deflate_peer.js) in a node process, fed and read over pipes."""

    def __init__(self, uri, col):
        env = dict(os.environ, NODE_PATH=os.path.join(h.source_dir(), "tests", "integration", "node_modules"))
        self.proc = subprocess.Popen(["node", os.path.join(os.path.dirname(os.path.abspath(__file__)),
                                                           "ws_deflate_peer.js"), uri],
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True, env=env)
        self.col, self.params = col, None
        self.opened = threading.Event()
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self):
        for line in self.proc.stdout:
            m = json.loads(line)
            if "open" in m:
                self.params = m["open"]
                self.opened.set()
            elif "b64" in m:
                self.col.add(base64.b64decode(m["b64"]), m["text"])
            else:
                self.col.closed = str(m)
                self.opened.set()

    def send(self, data, is_text):
        self.proc.stdin.write(json.dumps({"send": base64.b64encode(data).decode(), "text": is_text}) + "\n")
        self.proc.stdin.flush()

    def stop(self):
        try:
            self.proc.stdin.write(json.dumps({"close": True}) + "\n")
            self.proc.stdin.flush()
            self.proc.wait(5)
        except (OSError, subprocess.TimeoutExpired):
            self.proc.kill()  # our own child, by its pid
            self.proc.wait()


def deflate_payload(data):
    c = zlib.compressobj(6, zlib.DEFLATED, -15)
    out = c.compress(data) + c.flush(zlib.Z_SYNC_FLUSH)
    assert out.endswith(b"\x00\x00\xff\xff")
    return out[:-4]


def raw_deflate_client(port):
    raw = h.RawWS(port)
    _, headers = raw.handshake(extra=[("Sec-WebSocket-Extensions", OFFER_RAW)])
    h.check(headers.get("sec-websocket-extensions") == ANSWER_RAW,
            f"raw client: Sec-WebSocket-Extensions answer {headers.get('sec-websocket-extensions')!r}, "
            f"want {ANSWER_RAW!r}")
    raw.deflate = True
    return raw


async def main():
    websockets = h.import_websockets()
    from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
    srv = h.Server("deflate", overrides={"max_message_bytes": MAX_MESSAGE,
                                         "compression": {"min_bytes": 64, "level": 1}}).start()
    sock = h.ctl_socket_of(srv)
    uri = srv.uri()
    # (the harness turns compression off unless asked: compression="deflate" is websockets' default)
    kept = await h.ws_connect_many(uri, 4, compression="deflate")  # default offer: context kept
    nct = [await h.ws_connect(uri, compression="deflate",
                              extensions=[ClientPerMessageDeflateFactory(client_no_context_takeover=True)])
           for _ in range(3)]
    plain = await h.ws_connect_many(uri, 3, compression=None)
    raw = raw_deflate_client(srv.port)
    WS_SID = 4
    ws_col = Collector("npm-ws", WS_SID)
    peer = WsPeer(uri, ws_col)
    h.check(peer.opened.wait(10) and peer.params is not None, f"npm ws client did not open: {ws_col.closed}")
    h.check(peer.params.get("server_no_context_takeover") is True
            and not peer.params.get("client_no_context_takeover"),
            f"npm ws client: agreed {peer.params}")

    for ws in kept:
        h.check(len(ws.extensions) == 1, f"default websockets client negotiated {ws.extensions}")
        e = ws.extensions[0]
        h.check(e.remote_no_context_takeover and not e.local_no_context_takeover,
                f"default client: server_no_context_takeover only, got remote={e.remote_no_context_takeover} "
                f"local={e.local_no_context_takeover}")
    for ws in nct:
        h.check(len(ws.extensions) == 1 and ws.extensions[0].local_no_context_takeover,
                f"client_no_context_takeover not agreed: {ws.extensions}")
    for ws in plain:
        h.check(ws.extensions == [], f"compression=None client negotiated {ws.extensions}")

    # Senders: one of each kind.
    sid_of = {id(kept[0]): 0, id(nct[0]): 1, id(plain[0]): 2}
    RAW_SID = 3
    senders = [0, 1, 2, RAW_SID, WS_SID]
    clients = kept + nct + plain
    cols = [Collector(f"ws{i}", sid_of.get(id(ws))) for i, ws in enumerate(clients)]
    raw_col = Collector("raw", RAW_SID)
    tasks = [asyncio.create_task(ws_reader(ws, c)) for ws, c in zip(clients, cols)]
    import threading
    stop = threading.Event()
    raw_thread = threading.Thread(target=raw_reader, args=(raw, raw_col, stop), daemon=True)
    raw_thread.start()
    await asyncio.sleep(0.3)  # every shard sees every client as open (and the producers know)

    async def ws_sender(ws, sid):
        for seq in range(N_MSGS):
            is_text, data = body(sid, seq)
            await ws.send(data.decode() if is_text else data)
            await asyncio.sleep(0.002)

    def raw_sender():
        for seq in range(N_MSGS):
            is_text, data = body(RAW_SID, seq)
            op = h.OP_TEXT if is_text else h.OP_BIN
            if seq % 2 == 0:
                raw.send_frame(op, deflate_payload(data), rsv=4)
            else:  # a compressed message in two fragments, and a plain one in between
                z = deflate_payload(data)
                raw.send_frame(op, z[:len(z) // 2], fin=False, rsv=4)
                raw.send_frame(h.OP_PING, b"p")
                raw.send_frame(0, z[len(z) // 2:])

    async def npm_sender():
        for seq in range(N_MSGS):
            is_text, data = body(WS_SID, seq)
            peer.send(data, is_text)
            await asyncio.sleep(0.002)

    await asyncio.gather(ws_sender(kept[0], 0), ws_sender(nct[0], 1), ws_sender(plain[0], 2),
                         asyncio.to_thread(raw_sender), npm_sender())
    everyone = cols + [raw_col, ws_col]

    def complete():
        return all(c.count(senders) >= N_MSGS * (len(senders) - (c.own_sid is not None)) for c in everyone) \
            or any(c.closed for c in everyone)

    try:
        await h.wait_for(complete, 30, "every client to get every other sender's messages")
    except h.TestFailure:
        pass
    await asyncio.sleep(0.5)  # duplicates would show now
    problems = []
    for c in everyone:
        if c.closed:
            problems.append(f"{c.name}: closed {c.closed}")
        if c.errors:
            problems.append(f"{c.name}: {len(c.errors)} errors, first {c.errors[:3]}")
        for s in senders:
            if s == c.own_sid:
                continue
            missing = [q for q in range(N_MSGS) if (s, q) not in c.got]
            dup = [q for q in range(N_MSGS) if c.got.get((s, q), 0) > 1]
            if missing or dup:
                problems.append(f"{c.name}: sender {s} missing {missing[:5]} duplicated {dup[:5]}")
    h.check(not problems, "delivery problems:\n  " + "\n  ".join(problems[:30]))
    h.log(f"{len(everyone)} clients (4 context-keeping websockets, 1 npm ws, 3 no-context, 3 plain, 1 raw) got all "
          f"{N_MSGS} messages of each other sender exactly once, intact")
    stop.set()
    raw_thread.join(2)

    # The raw client saw compressed frames for the compressible messages, plain for the rest.
    _, stats = await h.actl_json(sock, "stats")
    t = stats["totals"]
    h.log(f"totals: deflated {t['deflated_messages']} ({t['deflate_bytes_in']} -> {t['deflate_bytes_out']} B), "
          f"inflated {t['inflated_messages']}, deflate connections {t['deflate_connections']}")
    h.check(t["deflate_connections"] == 9, f"deflate_connections {t['deflate_connections']}, want 9")
    # kinds 0, 1 and 4 shrink: 3 of every 5 messages of 5 senders.
    h.check(t["deflated_messages"] == 5 * N_MSGS * 3 // 5,
            f"deflated_messages {t['deflated_messages']}, want {5 * N_MSGS * 3 // 5}")
    h.check(t["deflate_bytes_out"] * 5 < t["deflate_bytes_in"], f"poor ratio {t}")
    # Every message of the raw sender and the websockets senders that compress, not under 64 B...
    h.check(t["inflated_messages"] >= 2 * N_MSGS, f"inflated_messages {t['inflated_messages']}")

    _, probes = await h.actl_json(sock, "probes", "--connections")
    negotiated = [c["deflate"] for c in probes["connections"]]
    n_kept = sum(1 for d in negotiated if d and not d["client_no_context_takeover"])
    n_nct = sum(1 for d in negotiated if d and d["client_no_context_takeover"])
    n_plain = sum(1 for d in negotiated if d is False)
    h.check((n_kept, n_nct, n_plain) == (5, 4, 3),
            f"probes --connections: kept/no-context/plain = {(n_kept, n_nct, n_plain)}, want (5, 4, 3): {negotiated}")
    h.check(sum(1 for d in negotiated if d and d["inflate_context"]) == 2,
            f"only the two context-keeping senders (websockets, npm ws) should hold an inflate state: {negotiated}")

    # ---- a deflate bomb: 1009, nothing published ------------------------------------------
    observer = cols[4]  # a no-context client, not a sender of the bomb
    before = dict(observer.got)
    bomb = raw_deflate_client(srv.port)
    z = deflate_payload(b"\0" * (4 * MAX_MESSAGE))
    h.check(len(z) < 8192, f"bomb frame is {len(z)} B")
    bomb.send_frame(h.OP_BIN, z, rsv=4)
    code, reason, _ = bomb.read_until_close(timeout=5)
    h.check(code == 1009, f"deflate bomb: close {code} {reason!r}, want 1009")
    h.log(f"deflate bomb ({len(z)} B inflating to {4 * MAX_MESSAGE} B): closed with {code} {reason!r}")
    bomb.close()

    def one_error(send, want_code, what, deflate=True):
        c = raw_deflate_client(srv.port) if deflate else h.raw_client(srv.port)
        send(c)
        code, reason, _ = c.read_until_close(timeout=5)
        h.check(code == want_code, f"{what}: close {code} {reason!r}, want {want_code}")
        h.log(f"{what}: {code} {reason!r}")
        c.close()

    one_error(lambda c: c.send_frame(h.OP_TEXT, b"\xff\xff\xff", rsv=4), 1007, "corrupt DEFLATE data")
    one_error(lambda c: c.send_frame(h.OP_TEXT, deflate_payload(b"\xc3\x28 not utf-8"), rsv=4), 1007,
              "inflated text not UTF-8")
    one_error(lambda c: c.send_frame(h.OP_TEXT, deflate_payload(b"x" * 100), rsv=4), 1002,
              "RSV1 without the extension", deflate=False)
    one_error(lambda c: (c.send_frame(h.OP_TEXT, b"a", fin=False), c.send_frame(0, b"b", rsv=4)), 1002,
              "RSV1 on a continuation")
    one_error(lambda c: c.send_frame(h.OP_PING, b"", rsv=4), 1002, "RSV1 on a ping")

    # An empty compressed message arrives as an empty text message.
    empty = raw_deflate_client(srv.port)
    empty.send_frame(h.OP_TEXT, deflate_payload(b""), rsv=4)
    # None of the refused messages reached anyone; a marker from a plain client still does.
    await plain[1].send(b"-1:0:marker")
    await asyncio.sleep(0.5)
    h.check(observer.empty == 1, f"the observer got {observer.empty} empty messages, want 1")
    empty.close()
    h.check(observer.got == before, f"the observer got something from the refused messages: "
                                    f"{set(observer.got) - set(before)}")
    h.check(not observer.errors and not observer.closed, f"observer: {observer.errors} {observer.closed}")
    _, stats = await h.actl_json(sock, "stats")
    h.check(stats["totals"]["inflate_errors"] == 3, f"inflate_errors {stats['totals']['inflate_errors']}, want 3")
    rc, out, _ = await h.actl(sock, "status")
    h.check(rc == 0 and "compression" in out, f"status shows no compression row: {out}")
    h.log([l for l in out.splitlines() if l.startswith("compression")][0])

    for t_ in tasks:
        t_.cancel()
    raw.close()
    peer.stop()
    await h.close_all(clients)
    srv.stop(check=True)


if __name__ == "__main__":
    h.run_test(main, timeout=120)
