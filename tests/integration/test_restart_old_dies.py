#!/usr/bin/python3
"""The old worker dies in the middle of a hot restart: the new process takes the worker's
members over (what did not arrive whole starts fresh), the supervisor does not mark them
dead behind its back, clients on the other workers lose nothing, and new clients are served
by the new process.

The old worker is stopped (SIGSTOP) so it cannot answer the handoff, the restart is asked
for, and the old worker is then SIGKILLed: its state never crosses, its own clients lose
their connections (expected), the new process starts its shard fresh.
"""
import asyncio
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ringcast_harness as h  # noqa: E402


async def main():
    h.import_websockets()
    h.require_ss()
    srv = h.Server("old-dies").start()
    sock = h.ctl_socket_of(srv)
    by_index = await h.workers_by_index(sock)
    victim = by_index[1]
    clients = await h.ws_connect_many(srv.uri(), 24)
    ports = [h.ws_local_port(c) for c in clients]
    owner = h.owner_of_client_ports(srv.port, ports, list(by_index.values()))
    others = [i for i, p in enumerate(ports) if owner.get(p) not in (None, victim)]
    h.check(len(others) >= 4, f"too few clients off worker 1: {len(others)} (owners {owner})")
    receivers = [h.Receiver(f"c{i}", clients[i], own_sid=(0 if i == others[0] else None)).start() for i in others]
    await h.sync_barrier(clients[others[0]], receivers, "pre")

    os.kill(victim, signal.SIGSTOP)
    restart = asyncio.create_task(h.actl_json(sock, "restart", "1", timeout=40, expect_ok=False))
    # Traffic between survivors goes on while worker 1 is frozen.
    for seq in range(50):
        await clients[others[0]].send(h.make_msg(0, seq))
        await asyncio.sleep(0.01)
    await asyncio.sleep(0.5)
    os.kill(victim, signal.SIGKILL)
    rc, ans = await restart
    h.log(f"restart 1 with the old worker killed mid-handoff: rc={rc} answer={ans}")
    h.check(rc == 0 and ans.get("ok") is True, f"restart should complete with the new process: rc={rc} {ans}")
    h.check("died mid-handoff" in ans.get("restarted", ""), f"answer should say the old one died: {ans}")

    after = await h.workers_by_index(sock)
    h.check(after[1] not in (victim, None) and after[0] == by_index[0] and after[2] == by_index[2],
            f"workers after: {after} (before {by_index})")
    await h.wait_for(lambda: all(r.got(0) >= 50 for r in receivers if r.own_sid != 0), 10,
                     "survivors to get every message sent while worker 1 was frozen")
    bad = [(r.name, r.closed, r.errors[:2]) for r in receivers if r.closed or r.errors]
    h.check(not bad, f"clients on the other workers were hurt: {bad}")

    # New clients reach the new worker 1 and chat with the old ones.
    fresh = await h.ws_connect_many(srv.uri(), 12)
    own = h.owner_of_client_ports(srv.port, [h.ws_local_port(c) for c in fresh], srv.worker_pids(), timeout=3)
    on_new = [c for c in fresh if own.get(h.ws_local_port(c)) == after[1]]
    h.check(on_new, f"no new client landed on the new worker {after[1]}: {own}")
    await on_new[0].send(h.make_msg(7, 0))
    await h.wait_for(lambda: all(r.got(7) >= 1 for r in receivers), 10, "a message from the new worker's client")
    _, probes = await h.actl_json(sock, "probes")
    h.check(all(s["state"] == "live" for s in probes["shards"]), f"every shard live after: {probes['shards']}")
    await h.close_all(clients + fresh)
    srv.stop(check=True, allow_restarts=True)


if __name__ == "__main__":
    h.run_test(main, timeout=90)
