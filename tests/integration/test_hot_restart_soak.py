#!/usr/bin/python3
"""Hot restart soak: the acceptance test for "clients never notice a worker being replaced".

Server: 3 worker processes, run from a private copy of the binary (CopiedBinaryServer),
metrics_listen on, server pings every 4 s of silence (so pings and pongs also cross handoffs).

Clients: 200 websockets clients (`ss` must show every one of the 3 workers owning some) and
two raw RFC 6455 clients (harness RawWS, each read by its own thread, which answers pings):
one on worker 0 ("frag"), one on worker 2 ("big"). 8 of the websockets clients, spread over
the workers, send at a fixed rate (RATE_HZ each, staggered), text and binary alternating;
every client checks every other sender's stream: exactly once, in order, right type, bytes.

While the traffic flows, in this order (each answered ok, each checked: `workers` pids are
the supervisor's children, replaced indexes got new pids and incarnation +1, the others kept
theirs, the old pids are gone, and `ss` shows each client socket owned by the current pid of
its worker):

  1. restart all
  2. (a) the frag client sends the first two fragments of a text message (TEXT fin=0, CONT
     fin=0; both fragment boundaries split a multi-byte UTF-8 character), the server has read
     them (its socket's Recv-Q is 0), then `restart 0` (frag's worker), then a ping and the
     last two fragments: all 201 other clients get the one whole message, the ping a pong;
  3. restart all
  4. (b) the big client sends the first half of the bytes of one 1 MiB binary frame, the
     server has read them, `restart 2` (big's worker), then the rest: delivered intact to all;
  5. restart all
  6. (c) a "rebuilt" binary: a copy of the real one with the version patched in place (same
     length: 0.1.0 -> 0.1.9; the string `ringcast --version` prints, checked with `copy
     --version`, and, in an optimised build, the two instruction immediates the compiler folded
     the worker's "version 0.1.0" hello into) is renamed over the path the server runs from;
     `restart all`; then `workers --json` shows 0.1.9 for every worker, `status` still 0.1.0
     (the supervisor was not replaced), /proc/PID/exe of every worker is the new file,
     /metrics has ringcast_worker_build_info{version="0.1.9"} for each worker and
     ringcast_build_info{version="0.1.0"}.

At the end: no client saw a close (no disconnects), every client got every message of every
other sender exactly once, in order, byte-exact (none lost, none duplicated), status shows
202 connections, the log has 14 clean handovers and no failed restart. Logged: how long each
restart request took to be answered (ringcastctl's wall time), each handoff's freeze -> ready
time from the server log, and the longest gap any client saw between consecutive messages
(per restart window = request .. answer + 0.3 s, in calm traffic, and overall; the gaps
include this single Python process's own stalls, e.g. reading 200 x 1 MiB).
"""
import asyncio
import functools
import os
import random
import re
import socket
import struct
import subprocess
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ringcast_harness as h  # noqa: E402

N_CLIENTS = 200
N_SENDERS = 8
RATE_HZ = 20            # per sender; 8 x 20 = 160 msg/s -> ~32k deliveries/s into this one Python process
MAX_TRAFFIC_S = 30.0    # hard bound on the senders
PING_MS = 4000
FRAG_SID = 100          # the raw client's fragmented text message: (FRAG_SID, 0)
BIG_SID = 101           # the raw client's 1 MiB binary message: (BIG_SID, 0)
BIG_BYTES = 1 << 20
FRAG_PING = b"frag-ping"
PAIR_RE = re.compile(r"worker (\d+): pid (\d+) -> (\d+)")
SETTLE_S = 0.3          # after a restart's answer, still counted as its window for the gap figures


def frag_message():
    # Multi-byte characters of 2, 3 and 4 bytes; the fragment boundaries are put inside them.
    body = "".join(f"{i:05d}\u00e9\u20ac\U0001F600" for i in range(400))
    return f"m:{FRAG_SID}:0:" + body


def big_message():
    head = b"M" + struct.pack("!II", BIG_SID, 0)
    return head + random.Random(BIG_SID).randbytes(BIG_BYTES - len(head))


FRAG_MSG = frag_message()
BIG_MSG = big_message()


@functools.lru_cache(maxsize=8192)
def expected(sid, seq):
    if sid == FRAG_SID:
        return FRAG_MSG if seq == 0 else None
    if sid == BIG_SID:
        return BIG_MSG if seq == 0 else None
    return h.make_msg(sid, seq)


def split_inside_char(data, near, what):
    """A byte offset >= near that falls inside a multi-byte UTF-8 character of `data`."""
    for i in range(near, len(data)):
        if data[i] & 0xC0 == 0x80 and data[i - 1] & 0xC0 != 0x80:  # one byte after a lead byte
            return i
    raise h.TestFailure(f"no multi-byte character to split after byte {near} ({what})")


class RawReceiver:
    """A RawWS client read by its own thread: checks the streams like h.Receiver, answers pings
    (under tx_lock, on a dup of the socket, so the test may also send while it reads)."""

    MAX_ERRORS = 20

    def __init__(self, name, raw, own_sid):
        self.name, self.ws, self.own_sid = name, raw, own_sid
        self.tx = socket.socket(fileno=os.dup(raw.sock.fileno()))
        self.tx.settimeout(30)
        self.tx_lock = threading.Lock()
        self.next_seq, self.syncs, self.errors, self.n_errors = {}, set(), [], 0
        self.total, self.closed, self.pongs, self.pings = 0, None, [], 0
        self.stop = threading.Event()
        self.thread = threading.Thread(target=self.run, name=name, daemon=True)

    def error(self, msg):
        self.n_errors += 1
        if len(self.errors) < self.MAX_ERRORS:
            self.errors.append(msg)

    def start(self):
        self.thread.start()
        return self

    def send(self, data):
        with self.tx_lock:
            self.tx.sendall(data)

    def got(self, sid):
        return self.next_seq.get(sid, 0)

    def run(self):
        parts, first_op = [], None
        try:
            for _ in range(10_000_000):
                if self.stop.is_set():
                    return
                try:
                    fin, _, op, payload = self.ws.recv_frame(timeout=0.5)
                except socket.timeout:
                    continue
                if op == h.OP_PING:
                    self.pings += 1
                    self.send(h.encode_frame(h.OP_PONG, payload))
                    continue
                if op == h.OP_PONG:
                    self.pongs.append(payload)
                    continue
                if op == h.OP_CLOSE:
                    self.closed = ("close frame",) + h.parse_close(payload)
                    return
                if first_op is None:
                    if op not in (h.OP_TEXT, h.OP_BIN):
                        self.error(f"continuation frame without a start (op {op})")
                        continue
                    first_op = op
                elif op != h.OP_CONT:
                    self.error(f"new data frame (op {op}) inside a fragmented message")
                parts.append(payload)
                if fin:
                    data = b"".join(parts)
                    op0, parts, first_op = first_op, [], None
                    self.on_message(op0, data)
        except h.ConnectionGone as g:
            self.closed = ("connection gone", g.kind)
        except Exception as e:  # noqa: BLE001
            self.closed = ("reader crashed", repr(e))

    def on_message(self, op, data):
        if op == h.OP_TEXT:
            try:
                m = data.decode("utf-8")
            except UnicodeDecodeError:
                self.error("text message that is not valid UTF-8")
                return
            if m.startswith("sync:"):
                if m in self.syncs:
                    self.error(f"duplicate sync {m}")
                self.syncs.add(m)
                return
        else:
            m = data
        key = h.parse_msg(m)
        if key is None:
            self.error(f"unrecognised message {m[:40]!r}")
            return
        sid, seq = key
        self.total += 1
        if sid == self.own_sid:
            self.error(f"self-echo of own message seq={seq}")
            return
        want = self.next_seq.get(sid, 0)
        if seq != want:
            self.error(f"from sender {sid}: got seq {seq}, expected {want}")
        exp = expected(sid, seq)
        if type(m) is not type(exp):
            self.error(f"from sender {sid} seq {seq}: type {type(m).__name__}, expected {type(exp).__name__}")
        elif m != exp:
            self.error(f"from sender {sid} seq {seq}: content differs (len {len(m)} vs {len(exp)})")
        self.next_seq[sid] = max(want, seq + 1)


class GapMeter:
    """Longest gap between consecutive test messages at any websockets client, per phase."""

    def __init__(self):
        self.phase = "setup"
        self.max_gap = {}   # phase -> (seconds, client)
        self.overall = (0.0, None)
        self.measuring = False

    def hook(self, r):
        last = [None]

        def on_message():
            now = time.monotonic()
            if self.measuring and last[0] is not None:
                g = now - last[0]
                cur = self.max_gap.get(self.phase)
                at = f"{r.name}, ending at {now - h._T0:.3f}s"
                if cur is None or g > cur[0]:
                    self.max_gap[self.phase] = (g, at)
                if g > self.overall[0]:
                    self.overall = (g, at)
            last[0] = now
        r.on_message = on_message


def handoff_pauses(lines):
    """Per handoff, from the server's log: ms from the old shard's handoff_freeze (it stops
    reading and sending) to the new shard's shard_ready (it serves again): what clients wait."""
    from datetime import datetime
    frozen, out = {}, []
    for line in lines:
        m = re.search(r"ts=(\S+) .*\bshard=(\d+) event=(handoff_freeze|shard_ready)\b", line)
        if not m:
            continue
        t = datetime.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S.%fZ")
        if m.group(3) == "handoff_freeze":
            frozen[m.group(2)] = t
        elif m.group(2) in frozen:
            out.append((t - frozen.pop(m.group(2))).total_seconds() * 1000)
    return out


def socket_queues(port, peer_port):
    """(server side Recv-Q, Send-Q, client side Recv-Q, Send-Q) of one loopback connection."""
    srv_side, cli_side = None, None
    for line in h.ss_lines(["-tnH", "state", "established",
                            f"( ( sport = :{port} and dport = :{peer_port} ) or "
                            f"( sport = :{peer_port} and dport = :{port} ) )"]):
        f = line.split()
        if len(f) < 4:
            continue
        q = (int(f[0]), int(f[1]))
        if int(f[2].rsplit(":", 1)[1]) == port:
            srv_side = q
        else:
            cli_side = q
    return srv_side, cli_side


async def wait_server_read_all(port, peer_port, what, timeout=5.0):
    """Until the server has read everything the client sent (client Send-Q 0, server Recv-Q 0)."""
    deadline = time.monotonic() + timeout
    while True:
        srv_q, cli_q = await asyncio.get_running_loop().run_in_executor(None, socket_queues, port, peer_port)
        if srv_q is not None and cli_q is not None and srv_q[0] == 0 and cli_q[1] == 0:
            return
        if time.monotonic() > deadline:
            raise h.TestFailure(f"{what}: the server did not read the bytes within {timeout}s "
                                f"(server Recv-Q/Send-Q {srv_q}, client Recv-Q/Send-Q {cli_q})")
        await asyncio.sleep(0.01)


def elf_sections(data):
    """{name: (file offset, size, flags)} of an ELF64 little-endian file."""
    h.check(data[:6] == b"\x7fELF\x02\x01", "not an ELF64 little-endian binary")
    shoff = struct.unpack_from("<Q", data, 0x28)[0]
    shentsize, shnum, shstrndx = struct.unpack_from("<HHH", data, 0x3A)
    raw = [struct.unpack_from("<IIQQQQ", data, shoff + i * shentsize) for i in range(shnum)]
    stroff = raw[shstrndx][4]
    out = {}
    for name, _, flags, _, off, size in raw:
        end = data.index(b"\0", stroff + name)
        out[data[stroff + name:end].decode("ascii", "replace")] = (off, size, flags)
    return out


def inlined_version_stores(data, text, old):
    """Offsets of the immediates of `mov $imm, disp(%rsp)` pairs in .text that build `old` in a
    stack buffer (how an optimising compiler inlines `std::string("version ") + kVersion`: a
    4-byte store of old[:4] and a store of the rest 4 bytes further).
    [(file offset, index in old, bytes), ...]"""
    t_off, t_size, _ = text
    body = data[t_off:t_off + t_size]
    head, tail = old[:4].encode(), old[4:].encode()
    if not 1 <= len(tail) <= 4 or len(tail) == 3:
        return []
    found = []
    for form, dfmt in ((b"\xc7\x84\x24", "<i"), (b"\xc7\x44\x24", "<b")):
        dlen = struct.calcsize(dfmt)
        for m in re.finditer(re.escape(form) + b"(.{%d})" % dlen + re.escape(head), body, re.S):
            disp = struct.unpack(dfmt, m.group(1))[0] + 4
            pats = []
            for f2, df2 in (("\x84\x24", "<i"), ("\x44\x24", "<b")):
                try:
                    d2 = struct.pack(df2, disp)
                except struct.error:
                    continue
                op = {1: b"\xc6", 2: b"\x66\xc7", 4: b"\xc7"}[len(tail)]
                pats.append(op + f2.encode("latin-1") + d2 + tail)
            window = body[m.end():m.end() + 64]
            for pat in pats:
                k = window.find(pat)
                if k >= 0:
                    found.append((t_off + m.end() - 4, 0, head))
                    found.append((t_off + m.end() + k + len(pat) - len(tail), 4, tail))
                    break
    return found


def patched_binary(real_path, workdir):
    """(old version, new version, bytes of a copy of the binary whose version reads new).

    The version is in the binary twice over: as the string `ringcast --version` prints (found
    by patching each occurrence alone and running the copy), and, in an optimised build, as
    instruction immediates where the worker builds its "version X" hello to the supervisor (the
    compiler folds the constant string into two `mov $imm, disp(%rsp)`); both are patched,
    same length, so the copy behaves like a rebuild with a new version number."""
    r = subprocess.run([real_path, "--version"], capture_output=True, text=True, timeout=10)
    m = re.match(r"ringcast (\S+)", r.stdout)
    h.check(r.returncode == 0 and m, f"`ringcast --version`: rc={r.returncode} {r.stdout!r} {r.stderr!r}")
    old = m.group(1)
    new = old[:-1] + ("9" if old[-1] != "9" else "8")
    with open(real_path, "rb") as f:
        data = f.read()
    cands = [mm.start() for mm in re.finditer(re.escape(old.encode()), data)]
    h.check(cands, f"version string {old!r} not found in {real_path}")
    probe = os.path.join(workdir, "ringcast-probe")

    def version_of(blob):
        with open(probe, "wb") as f:
            f.write(blob)
        os.chmod(probe, 0o755)
        rr = subprocess.run([probe, "--version"], capture_output=True, text=True, timeout=10)
        return rr.stdout.strip()

    used = []
    for off in cands:  # which occurrence does --version print? (patch each one alone)
        blob = data[:off] + new.encode() + data[off + len(old):]
        if f"ringcast {new} " in version_of(blob) + " ":
            used.append(off)
    h.check(used, f"no occurrence of {old!r} (at {cands}) changes `ringcast --version` when patched")
    blob = bytearray(data)
    for off in used:
        blob[off:off + len(old)] = new.encode()
    secs = elf_sections(data)
    stores = inlined_version_stores(data, secs[".text"], old) if ".text" in secs else []
    for off, j, part in stores:  # the new version's bytes in the same positions
        h.check(bytes(blob[off:off + len(part)]) == part, f"inlined version bytes at {off} are not {part!r}")
        blob[off:off + len(part)] = new.encode()[j:j + len(part)]
    blob = bytes(blob)
    out = version_of(blob)
    h.check(out.startswith(f"ringcast {new} "), f"patched copy --version prints {out!r}, want {new}")
    os.unlink(probe)
    h.log(f"rebuilt binary: {old!r} occurs as a string at {cands}; --version prints the one at {used}; inlined "
          f"as immediates (the worker's hello) at {[o for o, _, _ in stores]}; patched copy prints {out!r}")
    return old, new, blob, bool(stores)


async def main():
    h.import_websockets()
    import websockets
    h.require_ss()
    t_start = time.monotonic()
    mport = h.free_port()
    srv = h.CopiedBinaryServer("hot-restart-soak", overrides={
        "metrics_listen": f"127.0.0.1:{mport}", "ping_interval_ms": PING_MS}).start()
    ctl = h.ctl_socket_of(srv)
    stderr = h.LogTail(srv.stderr_path, from_end=False)
    old_ver, new_ver, new_blob, inlined = patched_binary(h.ringcast_path(), srv.tmp)

    _, wa = await h.actl_json(ctl, "workers")
    by_index = {w["index"]: w["pid"] for w in wa["workers"]}
    h.check(sorted(by_index) == [0, 1, 2] and sorted(by_index.values()) == srv.worker_pids(),
            f"`workers` {by_index} vs the supervisor's children {srv.worker_pids()}")
    h.check(all(w["version"] == old_ver for w in wa["workers"]), f"workers' versions at start: {wa['workers']}")
    index_of_pid = {p: i for i, p in by_index.items()}

    # ---- 200 websockets clients; ss says which worker owns each
    t0 = time.monotonic()
    clients = await h.ws_connect_many(srv.uri(), N_CLIENTS)
    ports = [h.ws_local_port(c) for c in clients]
    owner = h.owner_of_client_ports(srv.port, ports, list(by_index.values()), timeout=10)
    missing = [p for p in ports if p not in owner]
    h.check(not missing, f"ss shows no single worker owner for client ports {missing[:10]}")
    index_of_client = [index_of_pid[owner[p]] for p in ports]
    counts = {i: index_of_client.count(i) for i in by_index}
    h.log(f"{N_CLIENTS} clients connected in {time.monotonic() - t0:.1f}s; ss: per worker index {counts}")
    h.check(all(n >= 3 for n in counts.values()), f"not every worker owns clients (ss; the senders need 3 "
                                                  f"on each): {counts}")

    # ---- the two raw clients: frag on worker 0, big on worker 2 (bounded tries)
    loop = asyncio.get_running_loop()

    def raw_on(index, tries=40):
        for _ in range(tries):
            c = h.RawWS(srv.port)
            c.handshake()
            o = h.owner_of_client_ports(srv.port, [c.local_port], list(by_index.values()))
            if index_of_pid.get(o.get(c.local_port)) == index:
                return c
            c.send_frame(h.OP_CLOSE, h.close_payload(1000))
            try:
                c.read_until_close(3)
            except (h.ConnectionGone, socket.timeout):
                pass
            c.close()
        raise h.TestFailure(f"no raw connection landed on worker {index} in {tries} tries")

    frag_raw = await loop.run_in_executor(None, raw_on, 0)
    big_raw = await loop.run_in_executor(None, raw_on, 2)
    frag = RawReceiver("raw-frag", frag_raw, FRAG_SID).start()
    big = RawReceiver("raw-big", big_raw, BIG_SID).start()
    raws = [frag, big]
    all_ports = ports + [frag_raw.local_port, big_raw.local_port]
    all_index = index_of_client + [0, 2]
    h.log(f"raw clients: frag port {frag_raw.local_port} on worker 0, big port {big_raw.local_port} on worker 2")

    # senders: round robin over the worker indexes
    sender_ci = []
    for k in range(N_SENDERS):
        idx = k % 3
        ci = [c for c, w in enumerate(index_of_client) if w == idx and c not in sender_ci][0]
        sender_ci.append(ci)
    sid_of = {ci: s for s, ci in enumerate(sender_ci)}
    h.log(f"senders (sid: client, worker index): {[(s, ci, index_of_client[ci]) for s, ci in enumerate(sender_ci)]}"
          f", {RATE_HZ} msg/s each")

    gaps = GapMeter()
    receivers = []
    for i, c in enumerate(clients):
        r = h.Receiver(f"c{i}", c, own_sid=sid_of.get(i), expect_fn=expected)
        gaps.hook(r)
        receivers.append(r.start())
    everyone = receivers + raws
    for idx in (0, 1, 2):
        first = index_of_client.index(idx)
        await h.sync_barrier(clients[first], everyone, f"pre{idx}")

    sent = {s: 0 for s in range(N_SENDERS)}
    stop = asyncio.Event()
    send_errors = []

    async def sender(ci):
        ws, sid = clients[ci], sid_of[ci]
        t_0 = loop.time() + sid / (N_SENDERS * RATE_HZ)  # staggered: the senders take turns
        for seq in range(int(MAX_TRAFFIC_S * RATE_HZ)):
            if stop.is_set():
                return
            delay = t_0 + seq / RATE_HZ - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            try:
                await ws.send(expected(sid, seq))
            except websockets.ConnectionClosed as e:
                send_errors.append(f"sender {sid} (c{ci}) closed while sending seq {seq}: {e!r}")
                return
            sent[sid] = seq + 1

    def check_no_closes(when):
        closed = [(r.name, r.closed) for r in everyone if r.closed]
        h.check(not closed, f"{when}: clients saw their connection end: {closed[:10]}")

    state = {"pids": dict(by_index), "inc": {w["index"]: w["incarnation"] for w in wa["workers"]}}
    timings = []   # (label, seconds from request to answer)
    n_handovers = [0]

    async def verify_after(label, replaced):
        before, inc_before = state["pids"], state["inc"]
        _, ans = await h.actl_json(ctl, "workers")
        now = {w["index"]: w["pid"] for w in ans["workers"]}
        inc = {w["index"]: w["incarnation"] for w in ans["workers"]}
        bad_state = {w["index"]: w["state"] for w in ans["workers"] if w["state"] != "running"}
        h.check(not bad_state, f"{label}: workers not running: {bad_state}")
        for i in (0, 1, 2):
            if i in replaced:
                h.check(now[i] != before[i], f"{label}: worker {i} still has pid {before[i]}")
                h.check(not h.pid_alive(before[i]), f"{label}: old worker {i} pid {before[i]} still alive")
                h.check(inc[i] == inc_before[i] + 1, f"{label}: worker {i} incarnation {inc_before[i]} -> {inc[i]}")
            else:
                h.check(now[i] == before[i], f"{label}: worker {i} pid {before[i]} -> {now[i]} but not restarted")
        kids = srv.worker_pids()
        h.check(sorted(now.values()) == kids, f"{label}: `workers` says {now}, the supervisor's children are {kids}")
        want = {p: now[all_index[k]] for k, p in enumerate(all_ports)}
        got = await loop.run_in_executor(  # off the event loop: ss must not stall the clients
            None, lambda: h.owner_of_client_ports(srv.port, list(want), list(now.values()), timeout=5))
        wrong = [(p, want[p], got.get(p)) for p in want if got.get(p) != want[p]]
        h.check(not wrong, f"{label}: ss shows client sockets not owned by their worker's current pid "
                           f"(port, want pid, ss pid): {wrong[:10]} ({len(wrong)} in all)")
        check_no_closes(f"after {label}")
        state["pids"], state["inc"] = now, inc
        return now

    async def restart(target, label):
        before = dict(state["pids"])
        gaps.phase = label
        t = time.monotonic()
        rc, out, err = await h.actl(ctl, "--json", "restart", target, timeout=40)
        took = time.monotonic() - t
        ans = h.parse_ctl_json(rc, out, err, f"ringcastctl restart {target}")
        h.check(rc == 0 and ans.get("ok") is True, f"{label}: rc={rc} answer={ans} stderr={err.strip()!r}")
        timings.append((label, took))
        pairs = PAIR_RE.findall(ans.get("restarted", ""))
        replaced = {0, 1, 2} if target == "all" else {int(target)}
        h.check(sorted(int(p[0]) for p in pairs) == sorted(replaced),
                f"{label}: answer should name 'worker i: pid A -> B' for {sorted(replaced)}: {ans}")
        for i, a, b in pairs:
            h.check(int(a) == before[int(i)] and int(b) != int(a),
                    f"{label}: worker {i} reported pid {a} -> {b}; it had pid {before[int(i)]}")
        n_handovers[0] += len(replaced)
        h.log(f"{label}: answered in {took * 1000:.0f} ms: {ans['restarted']}")
        await asyncio.sleep(SETTLE_S)
        gaps.phase = "calm"
        now = await verify_after(label, replaced)
        for i, a, b in pairs:
            h.check(now[int(i)] == int(b), f"{label}: answer said worker {i} -> {b}, `workers` says {now}")
        return ans

    async def wait_everyone_got(sid, what, timeout=15.0):
        others = [r for r in everyone if r.own_sid != sid]
        await h.wait_for(lambda: all(r.got(sid) >= 1 for r in others) or any(r.closed for r in everyone), timeout,
                         lambda: f"{what}: {sum(1 for r in others if r.got(sid) < 1)} of {len(others)} clients "
                                 f"lack it")
        check_no_closes(what)

    async def send_raw(rr, data):
        await loop.run_in_executor(None, rr.send, data)

    version_checks = {}

    async def orchestrate():
        try:
            gaps.phase = "calm"
            gaps.measuring = True
            await asyncio.sleep(1.0)
            await restart("all", "restart all #1")
            await asyncio.sleep(0.7)

            # (a) a fragmented text message across `restart 0`
            data = FRAG_MSG.encode("utf-8")
            cut1 = split_inside_char(data, 700, "fragment 1")
            cut2 = split_inside_char(data, 2100, "fragment 2")
            cut3 = split_inside_char(data, 5000, "fragment 3")
            o = await loop.run_in_executor(None, lambda: h.owner_of_client_ports(
                srv.port, [frag_raw.local_port], list(state["pids"].values())))
            h.check(o.get(frag_raw.local_port) == state["pids"][0],
                    f"(a) frag client owned by {o}, not worker 0 (pid {state['pids'][0]})")
            await send_raw(frag, h.encode_frame(h.OP_TEXT, data[:cut1], fin=False))
            await send_raw(frag, h.encode_frame(h.OP_CONT, data[cut1:cut2], fin=False))
            await wait_server_read_all(srv.port, frag_raw.local_port, "fragments 1-2")
            h.log(f"(a) fragments 1-2 ({cut2} of {len(data)} B, boundaries inside characters at {cut1}, {cut2}) "
                  "read by worker 0")
            await restart("0", "restart 0 (fragmented message mid-flight)")
            others = [r for r in everyone if r.own_sid != FRAG_SID]
            early = [r.name for r in others if r.got(FRAG_SID)]
            h.check(not early, f"(a) a partial message was delivered: {early[:5]}")
            await send_raw(frag, h.encode_frame(h.OP_CONT, data[cut2:cut3], fin=False))
            await send_raw(frag, h.encode_frame(h.OP_PING, FRAG_PING))
            await send_raw(frag, h.encode_frame(h.OP_CONT, data[cut3:], fin=True))
            await wait_everyone_got(FRAG_SID, "(a) the fragmented message")
            await h.wait_for(lambda: FRAG_PING in frag.pongs, 5, "(a) the pong to the ping between fragments")
            h.log(f"(a) all {len(others)} other clients got the whole {len(data)} B text message; ping answered")
            await asyncio.sleep(0.7)

            await restart("all", "restart all #2")
            await asyncio.sleep(0.7)

            # (b) a 1 MiB binary frame across `restart 2`
            frame = h.encode_frame(h.OP_BIN, BIG_MSG)
            half = len(frame) // 2
            with big.tx_lock:   # no pong may cut into the frame's bytes
                await loop.run_in_executor(None, big.tx.sendall, frame[:half])
                await wait_server_read_all(srv.port, big_raw.local_port, "first half of the 1 MiB frame")
                h.log(f"(b) {half} of {len(frame)} frame bytes read by worker 2")
                await restart("2", "restart 2 (1 MiB frame mid-flight)")
                await loop.run_in_executor(None, big.tx.sendall, frame[half:])
            gaps.phase = "1 MiB delivery"
            await wait_everyone_got(BIG_SID, "(b) the 1 MiB message")
            h.log(f"(b) all {len(everyone) - 1} other clients got the 1 MiB binary message intact")
            gaps.phase = "calm"
            await asyncio.sleep(0.7)

            await restart("all", "restart all #3")
            await asyncio.sleep(0.7)

            # (c) a rebuilt binary on disk is what restarted workers run
            await loop.run_in_executor(None, srv.install_binary, new_blob)  # write + fsync: off the loop
            ino = os.stat(srv.bin_copy).st_ino
            await restart("all", f"restart all #4 (rebuilt binary {new_ver})")
            t_ans = time.monotonic()
            first = None
            for _ in range(100):
                _, wj = await h.actl_json(ctl, "workers")
                vers = {w["index"]: w["version"] for w in wj["workers"]}
                first = first or vers
                if all(v == new_ver for v in vers.values()):
                    break
                await asyncio.sleep(0.02)
            version_checks["first workers answer"] = first
            version_checks["settled after ms"] = round((time.monotonic() - t_ans) * 1000)
            h.check(all(v == new_ver for v in vers.values()),
                    f"(c) after restart all on the rebuilt binary, workers report versions {vers}, want {new_ver}"
                    + ("" if inlined else " (note: no inlined copy of the version was found in .text to patch; "
                       "if the worker's hello still has it as immediates, this is the patch's fault)"))
            _, st = await h.actl_json(ctl, "status")
            h.check(st["version"] == old_ver, f"(c) the supervisor's status version {st['version']!r}, "
                                              f"want {old_ver!r} (it was not replaced)")
            for i, pid in state["pids"].items():
                h.check(os.stat(f"/proc/{pid}/exe").st_ino == ino,
                        f"(c) worker {i} pid {pid} runs {os.readlink(f'/proc/{pid}/exe')!r}, not the new file")
            sup_exe = os.readlink(f"/proc/{srv.pid}/exe")
            status_code, _, body = await h.ahttp_request(mport, "/metrics")
            h.check(status_code == 200, f"/metrics: {status_code}")
            from prometheus_client.parser import text_string_to_metric_families
            fams = {f.name: f for f in text_string_to_metric_families(body.decode("utf-8"))}
            wbi = {(s.labels.get("worker"), s.labels.get("version")): s.value
                   for s in fams["ringcast_worker_build_info"].samples}
            h.check(wbi == {("0", new_ver): 1.0, ("1", new_ver): 1.0, ("2", new_ver): 1.0},
                    f"(c) ringcast_worker_build_info series: {wbi}")
            bi = [(s.labels, s.value) for s in fams["ringcast_build_info"].samples]
            h.check(bi == [({"version": old_ver}, 1.0)], f"(c) ringcast_build_info: {bi}")
            h.log(f"(c) workers {vers} (first answer {first}), status version {st['version']}, supervisor exe "
                  f"{sup_exe!r}; /metrics worker_build_info {sorted(wbi)}")
            await asyncio.sleep(1.0)
        finally:
            stop.set()
            gaps.measuring = False

    t_traffic = time.monotonic()
    await asyncio.gather(orchestrate(), *(sender(ci) for ci in sender_ci))
    traffic_s = time.monotonic() - t_traffic
    h.check(not send_errors, f"senders failed: {send_errors}")
    h.log(f"traffic for {traffic_s:.1f}s; sent per sender: {sent} ({sum(sent.values())} messages)")

    def complete():
        return all(r.got(s) >= n for r in everyone for s, n in sent.items() if s != r.own_sid) \
            or any(r.closed for r in everyone)

    try:
        await h.wait_for(complete, 20, "every client to receive every message")
    except h.TestFailure:
        pass  # reported in detail below
    await asyncio.sleep(0.5)  # duplicates would show up now

    want_from = dict(sent)
    want_from[FRAG_SID] = 1
    want_from[BIG_SID] = 1
    problems = []
    for r in everyone:
        if r.closed:
            problems.append(f"{r.name}: connection ended {r.closed}")
        for s, n in want_from.items():
            if s != r.own_sid and r.got(s) != n:
                problems.append(f"{r.name}: from sender {s} got {r.got(s)} of {n}")
        if r.errors:
            problems.append(f"{r.name}: {r.n_errors} errors, first: {r.errors[:4]}")
        want_total = sum(n for s, n in want_from.items() if s != r.own_sid)
        if r.total != want_total:
            problems.append(f"{r.name}: {r.total} test messages in all, expected {want_total}")
    h.check(not problems, f"delivery problems across the hot restarts ({len(problems)}):\n  "
            + "\n  ".join(problems[:40]) + "\n" + srv.diagnose())
    n_msgs = sum(want_from.values())
    h.log(f"all {len(everyone)} clients got all {n_msgs} messages of every other sender exactly once, in order, "
          f"byte-exact; no disconnects; raw clients answered {frag.pings + big.pings} server pings")

    _, st = await h.actl_json(ctl, "status")
    h.check(st["totals"]["connections"] == len(everyone),
            f"status totals.connections {st['totals']['connections']}, want {len(everyone)}")
    handed = stderr.find("event=worker_handed_over")
    unclean = [l for l in handed if "clean=1" not in l]
    h.check(len(handed) == n_handovers[0] and not unclean,
            f"expected {n_handovers[0]} clean handovers in the log, got {len(handed)}; unclean: {unclean}")
    bad = stderr.find("event=restart_failed") + stderr.find("event=restart_refused")
    h.check(not bad, f"restart failures in the log: {bad}")

    h.log("restart request -> answer: " + "; ".join(f"{l} {t * 1000:.0f} ms" for l, t in timings))
    pauses = handoff_pauses(stderr.lines)
    h.check(len(pauses) == n_handovers[0], f"{len(pauses)} freeze -> ready pairs in the log, expected "
                                           f"{n_handovers[0]} (one per handoff)")
    h.log(f"per handoff, the shard's freeze -> the new shard ready (server log, ms resolution): "
          f"{[round(p) for p in pauses]} ms; longest {max(pauses):.0f} ms")
    for label, (g, who) in sorted(gaps.max_gap.items(), key=lambda kv: -kv[1][0]):
        h.log(f"longest gap between consecutive messages at one client, {label}: {g * 1000:.0f} ms ({who})")
    h.log(f"longest gap overall: {gaps.overall[0] * 1000:.0f} ms ({gaps.overall[1]}); aggregate send rate "
          f"{N_SENDERS * RATE_HZ} msg/s, so ~{1000 / (N_SENDERS * RATE_HZ):.0f} ms between messages on average")
    h.log(f"(c) version settle: {version_checks}")
    for r in raws:
        r.stop.set()
    for r in raws:
        r.thread.join(2)
        r.tx.close()
        r.ws.close()
    await h.close_all(clients)
    srv.stop(check=True, allow_restarts=True)
    h.log(f"total {time.monotonic() - t_start:.1f}s")


if __name__ == "__main__":
    h.run_test(main, timeout=80)
