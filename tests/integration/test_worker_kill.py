#!/usr/bin/python3
"""SIGKILL of one worker: the other workers' clients lose nothing, a new worker replaces it
within 1 s, new connections work with it, the supervisor survives.

30 websockets clients; `ss` tells which worker process owns each server-side socket. A
victim worker owning client sockets is chosen; up to 2 senders on every other worker and 1
on the victim send at a fixed rate (100 msg/s each) for ~3 s; the victim is SIGKILLed 1 s
in. Checks:
  * clients on the surviving workers get every message of every surviving sender, exactly
    once, in order, no gap, right type and bytes -- and stay connected;
  * what they got from the victim's sender is an in-order prefix (no duplicate, no gap);
  * the victim's clients are disconnected (expected) within 3 s;
  * a new worker pid (child of the supervisor) appears within 1 s of the kill;
  * new connections succeed, at least one lands on the new worker, and it chats both ways
    with clients on the old workers; the supervisor is alive with 3 workers.
"""
import asyncio
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ringcast_harness as h  # noqa: E402

N_CLIENTS = 30
RATE_HZ = 100
DURATION_S = 3.0
KILL_AT_S = 1.0
RESPAWN_LIMIT_S = 1.0


async def main():
    h.import_websockets()
    import websockets
    h.require_ss()
    srv = h.Server("worker-kill").start()
    workers = srv.worker_pids()
    h.check(len(workers) == 3, f"expected 3 worker processes (children of supervisor {srv.pid}), saw {workers}")
    clients = await h.ws_connect_many(srv.uri(), N_CLIENTS)
    ports = [h.ws_local_port(c) for c in clients]
    owner = h.owner_of_client_ports(srv.port, ports, workers)
    missing = [p for p in ports if p not in owner]
    h.check(not missing, f"ss does not show a single worker owner for client ports {missing[:10]} "
                         f"(ss: {h.server_socket_owners(srv.port)})")
    by_worker = {}
    for i, p in enumerate(ports):
        by_worker.setdefault(owner[p], []).append(i)
    h.log(f"clients per worker: { {w: len(v) for w, v in by_worker.items()} }")
    h.check(len(by_worker) >= 2, f"all clients on one worker {list(by_worker)}; cannot test survivors")

    # Victim: a worker with client sockets (the one with most, so it has a sender and receivers).
    victim = max(by_worker, key=lambda w: len(by_worker[w]))
    survivors_w = [w for w in by_worker if w != victim]
    sender_idx = []
    for w in survivors_w:
        sender_idx += by_worker[w][:2]
    victim_sender = by_worker[victim][0]
    sender_idx.append(victim_sender)
    sid_of = {ci: s for s, ci in enumerate(sender_idx)}
    victim_sid = sid_of[victim_sender]
    h.log(f"victim worker {victim} ({len(by_worker[victim])} clients); senders {[(s, owner[ports[c]]) for c, s in sid_of.items()]}")

    receivers = [h.Receiver(f"c{i}", c, own_sid=sid_of.get(i)).start() for i, c in enumerate(clients)]
    for k, w in enumerate(by_worker):
        await h.sync_barrier(clients[by_worker[w][0]], receivers, f"pre{k}")

    sent = {s: 0 for s in sid_of.values()}

    async def sender(ci):
        ws, sid = clients[ci], sid_of[ci]
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        n = int(DURATION_S * RATE_HZ)
        for seq in range(n):
            delay = t0 + seq / RATE_HZ - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            try:
                await ws.send(h.make_msg(sid, seq))
            except websockets.ConnectionClosed:
                return
            sent[sid] = seq + 1

    async def killer():
        await asyncio.sleep(KILL_AT_S)
        before = set(srv.worker_pids())
        os.kill(victim, signal.SIGKILL)
        t_kill = time.monotonic()
        h.log(f"SIGKILL worker {victim}")
        new_pid, t_new = None, None
        for _ in range(500):
            now = set(srv.worker_pids())
            fresh = now - before
            if fresh and len(now) == 3 and victim not in now:
                new_pid, t_new = fresh.pop(), time.monotonic()
                break
            if time.monotonic() - t_kill > 5:
                break
            await asyncio.sleep(0.01)
        return t_kill, new_pid, t_new

    results = await asyncio.gather(killer(), *(sender(ci) for ci in sender_idx))
    t_kill, new_pid, t_new = results[0]
    h.check(srv.alive(), "the supervisor died after a worker was SIGKILLed")
    h.check(new_pid is not None, f"no replacement worker within 5s of the kill; children now {srv.worker_pids()}")
    respawn = t_new - t_kill
    h.log(f"replacement worker {new_pid} appeared {respawn * 1000:.0f} ms after the kill")
    h.check(respawn <= RESPAWN_LIMIT_S, f"replacement worker took {respawn:.2f}s (> {RESPAWN_LIMIT_S}s)")

    survivor_rx = [r for i, r in enumerate(receivers) if owner[ports[i]] != victim]
    victim_rx = [r for i, r in enumerate(receivers) if owner[ports[i]] == victim]
    live_sids = [s for s in sent if s != victim_sid]

    def survivors_done():
        return all(r.got(s) >= sent[s] for r in survivor_rx for s in live_sids if s != r.own_sid)

    try:
        await h.wait_for(survivors_done, 10, "survivors to get every surviving sender's messages")
    except h.TestFailure:
        pass
    await h.wait_for(lambda: all(r.closed for r in victim_rx), 3,
                     "the killed worker's clients to see their connections closed")
    await asyncio.sleep(0.3)
    h.log(f"sent per sender: {sent} (victim sender {victim_sid} stopped at {sent[victim_sid]})")

    problems = []
    for r in survivor_rx:
        if r.closed:
            problems.append(f"{r.name} (surviving worker): disconnected {r.closed}")
        for s in live_sids:
            if s != r.own_sid and r.got(s) != sent[s]:
                problems.append(f"{r.name}: from sender {s} got {r.got(s)} of {sent[s]}")
        if r.got(victim_sid) > sent[victim_sid]:
            problems.append(f"{r.name}: got {r.got(victim_sid)} from the victim's sender, which sent {sent[victim_sid]}")
        if r.errors:
            problems.append(f"{r.name}: {r.n_errors} errors, first {r.errors[:3]}")
    h.check(not problems, "survivors lost or mangled messages across the worker kill:\n  " + "\n  ".join(problems[:30]))
    from_victim = sorted(r.got(victim_sid) for r in survivor_rx)
    h.log(f"{len(survivor_rx)} survivor clients got every message of {len(live_sids)} surviving senders; "
          f"from the victim's sender they got {from_victim[0]}..{from_victim[-1]} of {sent[victim_sid]} (in-order prefix)")
    h.log(f"{len(victim_rx)} clients of the killed worker were disconnected: {sorted(set(r.closed for r in victim_rx))}")

    # New connections succeed, at least one on the new worker, and chat both ways.
    fresh = []
    on_new = None
    for _ in range(8):
        batch = await h.ws_connect_many(srv.uri(), 6)
        fresh += batch
        own = h.owner_of_client_ports(srv.port, [h.ws_local_port(c) for c in batch], srv.worker_pids(), timeout=2)
        for c in batch:
            if own.get(h.ws_local_port(c)) == new_pid:
                on_new = c
                break
        if on_new is not None:
            break
    h.check(on_new is not None, f"none of {len(fresh)} new connections landed on the new worker {new_pid} "
                                f"(distribution {h.worker_distribution(srv.port, set(srv.worker_pids()))})")
    h.log(f"{len(fresh)} new connections; one is on the new worker {new_pid}")
    live_old = [r for r in survivor_rx]
    fresh_rx = [h.Receiver(f"new{i}", c, own_sid=200 if c is on_new else None).start() for i, c in enumerate(fresh)]
    await h.sync_barrier(on_new, live_old + fresh_rx, "new-worker")
    old_sender = clients[by_worker[survivors_w[0]][0]]
    await h.sync_barrier(old_sender, live_old + fresh_rx, "old-worker")
    for seq in range(20):
        await on_new.send(h.make_msg(200, seq))
    await h.wait_for(lambda: all(r.got(200) >= 20 for r in live_old + fresh_rx if r.own_sid != 200), 10,
                     "messages from the new worker's client to reach everyone")
    bad = [(r.name, r.errors[:2]) for r in live_old + fresh_rx if r.errors]
    h.check(not bad, f"errors after the restart: {bad[:5]}")
    h.log("the new worker's client chats with clients on the old workers (both directions)")
    h.check(srv.alive() and len(srv.worker_pids()) == 3,
            f"after the test: supervisor alive={srv.alive()}, workers {srv.worker_pids()}")
    await h.close_all(clients + fresh)
    srv.stop(check=True, allow_restarts=True)


if __name__ == "__main__":
    h.run_test(main, timeout=120)
