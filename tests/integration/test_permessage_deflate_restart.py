#!/usr/bin/python3
"""Hot restart under compressed traffic: nobody is closed, nothing is lost or doubled.

12 python3-websockets clients on 3 worker processes: 6 with websockets' default offer (the
client keeps its LZ77 context across messages, so the server holds its inflate window), 3 with
client_no_context_takeover, 3 without compression. Six of them (every kind, on every worker)
send compressible JSON without pause while `ringcastctl restart all` replaces each worker in
turn. A context-keeping sender's next message after the handoff is compressed against the
window the old process had: unless the handoff carried it, that message fails to inflate
(1007). Every client must get every other sender's messages exactly once and in order, and
no client may be closed.
"""
import asyncio
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ringcast_harness as h  # noqa: E402


def message(sid, seq):
    return json.dumps({"sid": sid, "seq": seq, "quotes": [{"sym": f"S{i}", "px": 100 + (seq + i) % 17}
                                                          for i in range(10)]})


async def main():
    websockets = h.import_websockets()
    from websockets.extensions.permessage_deflate import ClientPerMessageDeflateFactory
    srv = h.Server("deflate-restart", overrides={"max_buffered_bytes": 64 << 20}).start()
    sock = h.ctl_socket_of(srv)
    uri = srv.uri()
    kept = await h.ws_connect_many(uri, 6, compression="deflate")
    nct = [await h.ws_connect(uri, compression="deflate",
                              extensions=[ClientPerMessageDeflateFactory(client_no_context_takeover=True)])
           for _ in range(3)]
    plain = await h.ws_connect_many(uri, 3)
    clients = kept + nct + plain
    senders = kept[:3] + nct[:2] + plain[:1]
    sid_of = {id(ws): i for i, ws in enumerate(senders)}
    got = [dict() for _ in clients]
    errors, closed = [], []

    async def reader(i, ws):
        own = sid_of.get(id(ws))
        try:
            async for m in ws:
                d = json.loads(m)
                sid, seq = d["sid"], d["seq"]
                if sid < 0:
                    continue
                if sid == own:
                    errors.append(f"client {i}: own message echoed")
                if m != message(sid, seq):
                    errors.append(f"client {i}: {sid}:{seq} differs")
                want = got[i].get(sid, 0)
                if seq != want:
                    errors.append(f"client {i}: sender {sid} seq {seq}, expected {want}")
                got[i][sid] = max(want, seq + 1)
        except Exception as e:  # noqa: BLE001
            closed.append(f"client {i}: {e!r}")

    readers = [asyncio.create_task(reader(i, ws)) for i, ws in enumerate(clients)]
    await asyncio.sleep(0.3)
    sent = [0] * len(senders)
    stop = asyncio.Event()

    async def sender(k, ws):
        while not stop.is_set():
            try:
                await ws.send(message(k, sent[k]))
            except Exception as e:  # noqa: BLE001
                closed.append(f"sender {k}: {e!r}")
                return
            sent[k] += 1
            await asyncio.sleep(0.004)

    tasks = [asyncio.create_task(sender(k, ws)) for k, ws in enumerate(senders)]
    await asyncio.sleep(0.5)
    rc, ans = await h.actl_json(sock, "restart", "all", timeout=60)
    h.log(f"restart all: {ans.get('restarted')!r}")
    await asyncio.sleep(0.5)
    stop.set()
    await asyncio.gather(*tasks)
    h.log(f"sent {sum(sent)} messages from {len(senders)} senders across the restarts")

    def complete():
        return all(got[i].get(k, 0) >= sent[k] for i, ws in enumerate(clients)
                   for k in range(len(senders)) if sid_of.get(id(ws)) != k) or closed

    try:
        await h.wait_for(complete, 20, "every client to get every message")
    except h.TestFailure:
        pass
    await asyncio.sleep(0.3)
    h.check(not closed, f"clients closed across the restart: {closed[:5]}")
    h.check(not errors, f"{len(errors)} delivery errors, first {errors[:5]}")
    short = [(i, k, got[i].get(k, 0), sent[k]) for i, ws in enumerate(clients)
             for k in range(len(senders)) if sid_of.get(id(ws)) != k and got[i].get(k, 0) != sent[k]]
    h.check(not short, f"(client, sender, got, sent) short: {short[:10]}")
    _, stats = await h.actl_json(sock, "stats")
    t = stats["totals"]
    h.check(t["inflate_errors"] == 0, f"inflate errors: {t['inflate_errors']}")
    h.check(t["deflate_connections"] == 9, f"deflate_connections after the restart: {t['deflate_connections']}")
    h.log(f"every client got all messages exactly once, in order; none closed; "
          f"{t['deflated_messages']} compressed, {t['inflated_messages']} inflated")
    for r in readers:
        r.cancel()
    await h.close_all(clients)
    srv.stop(check=True, allow_restarts=True)


if __name__ == "__main__":
    h.run_test(main, timeout=120)
