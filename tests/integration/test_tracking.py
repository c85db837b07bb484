#!/usr/bin/python3
"""Connection tracking and the connection log: `ringcastctl probes --connections` lists every
connection with its peer, worker/shard, age, bytes and messages in/out and queued bytes; the
figures follow the traffic, survive a hot restart, and `connection_log` writes one key=value
line when a connection opens and when it closes. `probes` reports per shard loop iterations,
completions per iteration, ring occupancy, slab usage and the oldest unreleased record.
"""
import asyncio
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ringcast_harness as h  # noqa: E402

N = 6
SENT = 5


async def listing(sock):
    _, ans = await h.actl_json(sock, "probes", "--connections")
    h.check(isinstance(ans.get("connections"), list), f"probes --connections: no list in {ans}")
    h.check(not ans.get("incomplete"), f"probes --connections: workers did not answer: {ans}")
    return {c["peer"]: c for c in ans["connections"]}


async def main():
    h.import_websockets()
    srv = h.Server("tracking", overrides={"connection_log": True}).start()
    sock = h.ctl_socket_of(srv)
    clients = await h.ws_connect_many(srv.uri(), N)
    peers = [f"127.0.0.1:{h.ws_local_port(c)}" for c in clients]
    for i in range(SENT):
        await clients[0].send(f"m{i}")
    for c in clients[1:]:
        for i in range(SENT):
            got = await asyncio.wait_for(c.recv(), 10)
            h.check(got == f"m{i}", f"expected m{i}, got {got!r}")

    conns = await listing(sock)
    h.check(set(peers) <= set(conns), f"tracked peers {sorted(conns)} miss clients {sorted(set(peers) - set(conns))}")
    workers = set(srv.worker_pids())
    for p in peers:
        c = conns[p]
        for key in ("conn", "worker", "shard", "state", "age_ms", "bytes_in", "bytes_out", "msgs_in", "msgs_out",
                    "queued_bytes"):
            h.check(key in c, f"{p}: tracked connection lacks {key}: {c}")
        h.check(c["state"] == "open", f"{p}: state {c['state']}")
        h.check(c["queued_bytes"] == 0, f"{p}: {c['queued_bytes']} bytes still queued after delivery")
    h.check(conns[peers[0]]["msgs_in"] == SENT, f"sender msgs_in {conns[peers[0]]['msgs_in']} != {SENT}")
    for p in peers[1:]:
        h.check(conns[p]["msgs_out"] == SENT, f"{p}: msgs_out {conns[p]['msgs_out']} != {SENT}")
        h.check(conns[p]["bytes_out"] > 0 and conns[p]["bytes_in"] > 0, f"{p}: byte counters did not move: {conns[p]}")
    h.log(f"{len(peers)} tracked connections match the clients; sender msgs_in={SENT}, receivers msgs_out={SENT}")

    _, probes = await h.actl_json(sock, "probes")
    shards = probes.get("shards", [])
    h.check(len(shards) == 3, f"probes: expected 3 shards, got {shards}")
    for s in shards:
        for key in ("loop_iterations", "completions_per_iteration", "ring_occupancy", "slab_used_bytes",
                    "oldest_unreleased_seq", "heartbeat_age_ms"):
            h.check(key in s, f"probes: shard lacks {key}: {s}")
        h.check(s["loop_iterations"] > 0, f"probes: shard {s['member']} never looped: {s}")
    h.check(probes.get("healthy") is True, f"probes: not healthy: {probes}")

    # Tracking survives a hot restart: same peers, counters carried over, age kept.
    await h.actl_json(sock, "restart", "all", timeout=60)
    after = await listing(sock)
    h.check(set(peers) <= set(after), f"after restart all, tracked peers {sorted(after)} miss {sorted(set(peers) - set(after))}")
    h.check(after[peers[0]]["msgs_in"] == SENT, f"after restart: sender msgs_in {after[peers[0]]['msgs_in']}")
    h.check(after[peers[0]]["age_ms"] >= conns[peers[0]]["age_ms"], "after restart: connection age went back")
    h.check(set(srv.worker_pids()).isdisjoint(workers), "restart all left an old worker pid")

    await h.close_all(clients)
    await asyncio.sleep(0.5)
    err = srv.read_stderr()
    opens = [p for p in peers if f"event=conn_open" in err and f"peer={p}" in err]
    h.check(len(opens) == N, f"connection_log: conn_open lines for {len(opens)} of {N} peers")
    closes = [l for l in err.splitlines() if "event=conn_close" in l and any(f"peer={p} " in l for p in peers)]
    h.check(len(closes) == N, f"connection_log: {len(closes)} conn_close lines for {N} clients")
    sender_close = [l for l in closes if f"peer={peers[0]} " in l]
    h.check(sender_close and f"msgs_in={SENT}" in sender_close[0], f"sender's close line lacks msgs_in={SENT}: {sender_close}")
    h.log("connection_log wrote one open and one close line per client, with its counters")
    srv.stop(check=True, allow_restarts=True)


if __name__ == "__main__":
    h.run_test(main, timeout=90)
