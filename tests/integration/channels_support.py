"""Helpers shared by the channel integration tests (test_channels*.py, test_browser_channels.py).

With `"channels": "path"` the upgrade's request path names the channel a connection joins
(`/rooms/42` -> "rooms/42", `/` -> the root channel ""; the query string is ignored), and a
message reaches every other member of its channel, on every worker process and node, exactly
once, and no one on another channel.

  * Member        -- one websockets client on a channel, with its h.Receiver (sender id,
                     exactly-once and order checks) once started.
  * join_many()   -- connect clients to a list of channels, a few at a time; all or fail.
  * channel_barriers() -- a sync message from two members of every channel, each awaited by
                     every other member: everyone is subscribed on every worker/node.
  * send_all()    -- every sender sends its n messages (make_msg), bounded in time.
  * check_channels() -- exactly once within the channel, in order, nothing from any other
                     channel (test messages and syncs), no close.
  * probe_rows()  -- `ringcastctl probes --connections` rows by the client's local port.

Only loopback is used; every wait is bounded.
"""

import asyncio
import time

import ringcast_harness as h
import admission_support as a


def path_of(channel, query=""):
    """The request path that names `channel` ("" is the root channel, "/")."""
    return "/" + channel + query


class Member:
    def __init__(self, name, channel, ws, node=0):
        self.name = name
        self.channel = channel
        self.ws = ws
        self.node = node
        self.sid = None
        self.rx = None

    @property
    def port(self):
        return h.ws_local_port(self.ws)

    def start(self, expect_fn=None):
        self.rx = h.Receiver(self.name, self.ws, own_sid=self.sid, expect_fn=expect_fn).start()
        return self.rx


async def join_many(srv, channels, tag, node=0, timeout=15.0, parallel=16):
    """One Member per entry of `channels` (in that order), all connected or a failure."""
    sem = asyncio.Semaphore(parallel)

    async def one(i, ch):
        async with sem:
            return await h.ws_connect(srv.uri(path_of(ch)), timeout=timeout)

    results = await asyncio.gather(*(one(i, ch) for i, ch in enumerate(channels)), return_exceptions=True)
    errs = [(channels[i], r) for i, r in enumerate(results) if isinstance(r, BaseException)]
    if errs:
        for r in results:
            if not isinstance(r, BaseException):
                r.transport.abort()
        raise h.TestFailure(f"{tag}: {len(errs)} of {len(channels)} joins failed; first: channel {errs[0][0]!r}: "
                            f"{errs[0][1]!r}")
    return [Member(f"{tag}{i}[{ch}]", ch, ws, node) for i, (ch, ws) in enumerate(zip(channels, results))]


def by_channel(members):
    out = {}
    for m in members:
        out.setdefault(m.channel, []).append(m)
    return out


def sync_token(tag, channel, k):
    return f"{tag}|{channel}|{k}"


async def channel_barriers(members, tag, timeout=15.0, per_channel=2):
    """From up to `per_channel` members of every channel in turn (different workers or nodes
    when the list is ordered so), a sync every other member of the channel must receive.
    Returns {channel: set of sync messages its members may see}."""
    groups = by_channel(members)
    allowed = {ch: set() for ch in groups}

    async def one(ch, ms):
        for k, m in enumerate(ms[:per_channel]):
            tok = sync_token(tag, ch, k)
            allowed[ch].add("sync:" + tok)
            await h.sync_barrier(m.ws, [x.rx for x in ms], tok, timeout=timeout)

    await asyncio.gather(*(one(ch, ms) for ch, ms in groups.items()))
    return allowed


async def send_all(senders, n_msgs, timeout=30.0, every=10, pause=0.002):
    """Each sender (a Member with a sid) sends n_msgs test messages; returns {sid: sent}."""
    sent = {m.sid: 0 for m in senders}

    async def one(m):
        for seq in range(n_msgs):
            await m.ws.send(h.make_msg(m.sid, seq))
            sent[m.sid] = seq + 1
            if seq % every == every - 1:
                await asyncio.sleep(pause)

    await asyncio.wait_for(asyncio.gather(*(one(m) for m in senders)), timeout)
    return sent


async def check_channels(members, sent, allowed_syncs, what, timeout=30.0, settle=0.7, diagnose=None):
    """Every member got every other sender of its channel's `sent[sid]` messages exactly once,
    in order, byte-exact, and nothing else: no test message of another channel's sender, no
    sync of another channel, no close."""
    chan_of_sid = {m.sid: m.channel for m in members if m.sid is not None}
    senders_of = {}
    for sid, ch in chan_of_sid.items():
        senders_of.setdefault(ch, []).append(sid)

    def complete():
        return all(m.rx.got(s) >= sent[s] for m in members for s in senders_of.get(m.channel, [])
                   if s != m.sid) or any(m.rx.closed for m in members)

    try:
        await h.wait_for(complete, timeout, f"{what}: every member to receive its channel's messages")
    except h.TestFailure:
        pass  # reported in detail below
    await asyncio.sleep(settle)  # late duplicates or strays would show up now
    problems = []
    for m in members:
        r = m.rx
        if r.closed:
            problems.append(f"{m.name}: connection closed {r.closed}")
        own = senders_of.get(m.channel, [])
        for s in own:
            if s != m.sid and r.got(s) != sent[s]:
                problems.append(f"{m.name}: from sender {s} (same channel) got {r.got(s)} of {sent[s]}")
        strays = {s: n for s, n in r.next_seq.items() if s not in own}
        if strays:
            problems.append(f"{m.name}: got messages of senders on other channels: " +
                            ", ".join(f"sid {s} ({chan_of_sid.get(s)!r}) x{n}" for s, n in list(strays.items())[:5]))
        if r.errors:
            problems.append(f"{m.name}: {r.n_errors} errors, first: {r.errors[:4]}")
        want_total = sum(sent[s] for s in own if s != m.sid)
        if r.total != want_total:
            problems.append(f"{m.name}: {r.total} test messages in all, expected {want_total}")
        foreign = r.syncs - allowed_syncs.get(m.channel, set())
        if foreign:
            problems.append(f"{m.name}: got syncs of other channels: {sorted(foreign)[:4]}")
    h.check(not problems, f"{what}: delivery problems ({len(problems)}):\n  " + "\n  ".join(problems[:40])
            + (("\n" + diagnose()) if diagnose and problems else ""))


async def probe_rows(srv):
    """{client local port: row} of `ringcastctl --json probes --connections`."""
    return {a.peer_port(r): r for r in await a.connections(srv)}


async def check_probe_channels(srv, members, what, timeout=5.0):
    """Every member's probes row shows "channel": its channel (waits, bounded, for rows)."""
    deadline = time.monotonic() + timeout
    while True:
        rows = await probe_rows(srv)
        missing = [m for m in members if m.port not in rows]
        if not missing or time.monotonic() > deadline:
            break
        await asyncio.sleep(0.1)
    h.check(not missing, f"{what}: probes --connections has no row for {[m.name for m in missing[:10]]}")
    wrong = [(m.name, m.channel, rows[m.port].get("channel", "<no channel field>")) for m in members
             if "channel" not in rows[m.port] or rows[m.port]["channel"] != m.channel]
    h.check(not wrong, f"{what}: probes rows with the wrong \"channel\" (member, want, got): {wrong[:10]}; "
                       f"a row: {rows[members[0].port]}")
    return rows


async def status_of(srv, path, headers=(), local_ip=None):
    """HTTP status of one raw upgrade request to `path` (the socket is closed right away)."""
    loop = asyncio.get_running_loop()

    def go():
        status, hdrs, c = a.upgrade(srv.port, path=path, headers=headers, local_ip=local_ip)
        c.close()
        if status != 101:
            h.check("sec-websocket-accept" not in hdrs, f"{path}: a {status} answer carries Sec-WebSocket-Accept")
        return status
    return await loop.run_in_executor(None, go)


async def quiet(members, seconds, what):
    """No member receives anything (test message or sync) within `seconds`."""
    before = {id(m): (m.rx.total, len(m.rx.syncs), m.rx.n_errors) for m in members}
    await asyncio.sleep(seconds)
    got = [m.name for m in members if (m.rx.total, len(m.rx.syncs), m.rx.n_errors) != before[id(m)]]
    h.check(not got, f"{what}: {got[:10]} received something")
