#!/usr/bin/python3
"""Every message reaches every OTHER client exactly once, in per-sender order, with its type.

30 websockets clients spread over the 3 worker processes (checked with `ss`: at least 2
distinct workers must own client sockets, the distribution is logged), 10 of them send 200
messages each (text and binary mixed, body derived from sender id + seq), every client
checks: each other sender's 200 messages exactly once, in order, right type, byte-exact
content, and never its own.
"""
import asyncio
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ringcast_harness as h  # noqa: E402

N_CLIENTS = 30
N_SENDERS = 10
N_MSGS = 200


async def main():
    h.import_websockets()
    h.require_ss()
    srv = h.Server("exactly-once").start()
    clients = await h.ws_connect_many(srv.uri(), N_CLIENTS)
    workers = srv.worker_pids()
    h.check(len(workers) == 3, f"expected 3 worker processes (children of supervisor {srv.pid}), saw {workers}")

    owner = h.owner_of_client_ports(srv.port, [h.ws_local_port(c) for c in clients], workers)
    dist = {}
    for c in clients:
        w = owner.get(h.ws_local_port(c))
        dist[w] = dist.get(w, 0) + 1
    h.log(f"server-side sockets per worker pid: {dist} (ss by pid: {h.worker_distribution(srv.port, set(workers))})")
    h.check(None not in dist, f"ss shows no worker owning {dist.get(None)} of the client sockets: {dist}")
    h.check(len(dist) >= 2, f"all {N_CLIENTS} clients landed on one worker ({dist}); SO_REUSEPORT spread expected")
    if len(dist) < 3:
        h.log("note: only 2 of 3 workers own client sockets in this run")

    # Senders: round-robin over the workers so every worker both produces and consumes.
    by_worker = {}
    for i, c in enumerate(clients):
        by_worker.setdefault(owner[h.ws_local_port(c)], []).append(i)
    order = []
    lists = list(by_worker.values())
    for k in range(N_CLIENTS):
        for l in lists:
            if k < len(l):
                order.append(l[k])
    sender_idx = order[:N_SENDERS]
    sid_of = {ci: s for s, ci in enumerate(sender_idx)}
    h.log(f"senders (client index -> worker): {[(ci, owner[h.ws_local_port(clients[ci])]) for ci in sender_idx]}")

    receivers = [h.Receiver(f"c{i}", c, own_sid=sid_of.get(i)).start() for i, c in enumerate(clients)]
    # Two barriers from clients on different workers: every client is registered everywhere.
    await h.sync_barrier(clients[lists[0][0]], receivers, "a")
    await h.sync_barrier(clients[lists[1][0]], receivers, "b")

    async def sender(ci):
        ws, sid = clients[ci], sid_of[ci]
        for seq in range(N_MSGS):
            await ws.send(h.make_msg(sid, seq))
            if seq % 20 == 19:
                await asyncio.sleep(0.001)

    t0 = asyncio.get_running_loop().time()
    await asyncio.wait_for(asyncio.gather(*(sender(ci) for ci in sender_idx)), 30)
    h.log(f"sent {N_SENDERS * N_MSGS} messages in {asyncio.get_running_loop().time() - t0:.2f}s")

    def complete():
        return all(r.got(s) >= N_MSGS for r in receivers for s in range(N_SENDERS) if s != r.own_sid) \
            or any(r.closed for r in receivers)

    try:
        await h.wait_for(complete, 30, "every client to receive every other sender's messages")
    except h.TestFailure:
        pass  # reported in detail below
    await asyncio.sleep(0.5)  # anything extra (duplicates) would show up now

    problems = []
    for r in receivers:
        if r.closed:
            problems.append(f"{r.name}: connection closed unexpectedly {r.closed}")
        for s in range(N_SENDERS):
            if s == r.own_sid:
                continue
            if r.got(s) != N_MSGS:
                problems.append(f"{r.name}: from sender {s} got {r.got(s)} of {N_MSGS}")
        if r.errors:
            problems.append(f"{r.name}: {r.n_errors} errors, first: {r.errors[:5]}")
        expected_total = N_MSGS * (N_SENDERS - (1 if r.own_sid is not None else 0))
        if r.total != expected_total:
            problems.append(f"{r.name}: received {r.total} test messages in all, expected {expected_total}")
    h.check(not problems, "delivery problems:\n  " + "\n  ".join(problems[:40]))
    h.log(f"all {N_CLIENTS} clients received exactly {N_MSGS} messages from each other sender, in order")
    await h.close_all(clients)
    srv.stop(check=True)


if __name__ == "__main__":
    h.run_test(main, timeout=120)
