#!/usr/bin/python3
"""Channels across hot restarts: every connection keeps its channel, and traffic that flows
through `ringcastctl restart all` and then `restart 1` stays within channels, with no loss, no
duplicate and no close.

3 worker processes, 3 shards, `"channels": "path"`, max_subscribers_per_channel 5.
  * 12 channels x 4 python3-websockets clients (the root channel "" among them) over the 3
    workers (`ss`: every worker owns some), plus 5 on "full" (the per-node limit).
  * 2 senders per channel send at 40 msg/s each (text and binary) for the whole test; during
    the traffic: `restart all`, then `restart 1` (each answered ok).
  * After each restart: `probes --connections` shows every client with the channel it joined
    (answered by the new workers), a further join to "full" is still refused with 503
    (the node's per-channel counts survived the handover, not reset), and a newcomer on a
    channel (a different one each time) receives that channel's traffic after a barrier and
    its messages reach that channel only.
  * At the end: every member got each other sender of its channel exactly once, in order,
    byte-exact; nothing of another channel; no client saw a close. One of "full" leaves ->
    a join gets in (the counts were not doubled either).
"""
import asyncio
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ringcast_harness as h  # noqa: E402
import admission_support as a  # noqa: E402
import channels_support as cs  # noqa: E402

CHANNELS = ["", "rooms/1", "rooms/2", "rooms/1/sub", "lobby", "news", "news/x", "a:b", "t/0", "t/1", "t/2", "t/3"]
PER_CHANNEL = 4
SENDERS_PER_CHANNEL = 2
FULL = "full"           # a channel held at max_subscribers_per_channel
FULL_LIMIT = 5
NEWCOMER_CHANNELS = ("rooms/2", "")  # a newcomer joins one after each restart
RATE_HZ = 40
MAX_TRAFFIC_S = 25.0


async def main():
    h.import_websockets()
    import websockets
    h.require_ss()
    srv = h.Server("channels-restart", overrides={"channels": "path",
                                                  "max_subscribers_per_channel": FULL_LIMIT}).start()
    ctl = h.ctl_socket_of(srv)
    members = await cs.join_many(srv, [CHANNELS[i % len(CHANNELS)] for i in range(len(CHANNELS) * PER_CHANNEL)], "c")
    full = await cs.join_many(srv, [FULL] * FULL_LIMIT, "f")
    everyone = members + full
    workers = srv.worker_pids()
    owner = h.owner_of_client_ports(srv.port, [m.port for m in everyone], workers)
    per_worker = {w: sum(1 for m in everyone if owner.get(m.port) == w) for w in workers}
    h.log(f"{len(everyone)} clients, per worker {per_worker}")
    h.check(len(workers) == 3 and all(per_worker.values()), f"every worker should own clients: {per_worker}")
    st = await cs.status_of(srv, cs.path_of(FULL))
    h.check(st == 503, f"'full' holds {FULL_LIMIT}: a join expected 503, got {st}")

    groups = cs.by_channel(members)
    senders = []
    for ch in CHANNELS:
        for m in groups[ch][:SENDERS_PER_CHANNEL]:
            m.sid = len(senders)
            senders.append(m)
    for m in everyone:
        m.start()
    allowed = await cs.channel_barriers(everyone, "pre")
    await cs.check_probe_channels(srv, everyone, "before the restarts")

    sent = {m.sid: 0 for m in senders}
    stop = asyncio.Event()
    send_errors = []

    async def sender(m):
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        for seq in range(int(MAX_TRAFFIC_S * RATE_HZ)):
            if stop.is_set():
                return
            delay = t0 + seq / RATE_HZ - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            try:
                await m.ws.send(h.make_msg(m.sid, seq))
            except websockets.ConnectionClosed as e:
                send_errors.append(f"{m.name} closed while sending seq {seq}: {e!r}")
                return
            sent[m.sid] = seq + 1

    newcomers = []

    async def after_restart(label, channel, k):
        closed = [(m.name, m.rx.closed) for m in everyone if m.rx.closed]
        h.check(not closed, f"{label}: clients saw their connection close: {closed[:10]}")
        await cs.check_probe_channels(srv, everyone, f"after {label}")
        st = await cs.status_of(srv, cs.path_of(FULL))
        h.check(st == 503, f"after {label}: 'full' still holds {FULL_LIMIT}, a join expected 503, got {st}")
        # A newcomer: subscribed on every worker (a barrier from a member of the channel, and
        # its own sync to the channel), then its traffic is checked with the rest.
        nm = (await cs.join_many(srv, [channel], f"new{k}-"))[0]
        nm.start()
        await h.sync_barrier(groups[channel][0].ws, [nm.rx], f"{label}|{channel}|in", timeout=10)
        tok = f"{label}|{channel}|out"
        await h.sync_barrier(nm.ws, [m.rx for m in groups[channel]], tok, timeout=10)
        allowed[channel].update({f"sync:{label}|{channel}|in", "sync:" + tok})
        newcomers.append(nm)
        h.log(f"after {label}: no close, probes show every channel, 'full' still at its limit, "
              f"newcomer on {channel!r} exchanged syncs with its channel")

    async def orchestrate():
        try:
            await asyncio.sleep(1.5)
            t0 = time.monotonic()
            _, ans = await h.actl_json(ctl, "restart", "all", timeout=40)
            h.log(f"restart all: {(time.monotonic() - t0) * 1000:.0f} ms: {ans.get('restarted')!r}")
            await asyncio.sleep(0.5)
            await after_restart("restart all", NEWCOMER_CHANNELS[0], 0)
            await asyncio.sleep(1.0)
            t0 = time.monotonic()
            _, ans = await h.actl_json(ctl, "restart", "1", timeout=40)
            h.log(f"restart 1: {(time.monotonic() - t0) * 1000:.0f} ms: {ans.get('restarted')!r}")
            await asyncio.sleep(0.5)
            await after_restart("restart 1", NEWCOMER_CHANNELS[1], 1)
            await asyncio.sleep(1.0)
        finally:
            stop.set()

    await asyncio.gather(orchestrate(), *(sender(m) for m in senders))
    h.check(not send_errors, f"senders failed: {send_errors}")
    h.log(f"traffic: {sum(sent.values())} messages from {len(senders)} senders")
    await cs.check_channels(everyone, sent, allowed, "across the restarts", diagnose=srv.diagnose)
    h.log(f"all {len(everyone)} members got each other sender of their channel exactly once, in order; "
          "nothing crossed channels; no close")

    # Newcomers joined mid-traffic: they must have a gap-free tail of each sender of their
    # channel (from wherever they came in up to the end), nothing of another channel.
    problems = []
    for nm in newcomers:
        own = [m.sid for m in groups[nm.channel][:SENDERS_PER_CHANNEL]]
        for s in own:
            if nm.rx.got(s) != sent[s]:
                problems.append(f"{nm.name}: sender {s} up to {nm.rx.got(s)} of {sent[s]}")
        strays = [s for s in nm.rx.next_seq if s not in own]
        if strays:
            problems.append(f"{nm.name}: messages of other channels' senders {strays[:5]}")
        # Joining mid-stream the first message seen is not seq 0: only the gap errors of the
        # first message are expected; anything else is a problem.
        errs = [e for e in nm.rx.errors if "gap" not in e]
        gaps = [e for e in nm.rx.errors if "gap" in e]
        if errs or len(gaps) > len(own):
            problems.append(f"{nm.name}: errors {nm.rx.errors[:4]}")
        foreign = nm.rx.syncs - allowed[nm.channel]
        if foreign or nm.rx.closed:
            problems.append(f"{nm.name}: foreign syncs {sorted(foreign)[:3]}, closed {nm.rx.closed}")
    h.check(not problems, "newcomers after the restarts:\n  " + "\n  ".join(problems))

    # One of "full" leaves: a join gets in (counts not doubled by the handovers), then 503 again.
    await full[0].ws.close()
    deadline = time.monotonic() + 5
    while True:
        st, ws = await a.connect_status(srv.uri(cs.path_of(FULL)))
        if st == 101:
            break
        h.check(st == 503 and time.monotonic() < deadline,
                f"one of 'full' left after the restarts, a join still gets {st} after 5 s")
        await asyncio.sleep(0.1)
    st = await cs.status_of(srv, cs.path_of(FULL))
    h.check(st == 503, f"'full' at its limit again: expected 503, got {st}")
    h.log("after the restarts: one of 'full' left, one joined, the next was refused")
    await h.close_all([m.ws for m in everyone if m is not full[0]] + [nm.ws for nm in newcomers] + [ws])
    srv.stop(check=True, allow_restarts=True)


if __name__ == "__main__":
    h.run_test(main, timeout=60)
