#!/usr/bin/python3
"""A broker blip and bridge restarts lose nothing and duplicate nothing across nodes.

Two nodes (A: 2 worker processes, B: 1) joined through one redis-server started by the test
(append-only file, so a stop and start keeps the stream). Each node has 3 python3-websockets
clients, 2 of which send 300 messages each at ~100 messages/s.

1. Redis outage: about 1 s into the traffic Redis is stopped (SIGTERM) for 2.5 s, then
   started again on the same port. Local delivery must go on meanwhile (checked), each bridge
   must report itself disconnected with messages buffered, then replay them; in the end every
   client has every other sender's messages exactly once, in order.
2. Bridge restarts: fresh clients and senders; under traffic `ringcastctl restart bridge` on
   A, then SIGKILL of B's bridge process (the supervisor restarts it on the same cursors).
   Again every message exactly once, in order, on both nodes.
"""
import asyncio
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ringcast_harness as h  # noqa: E402

CLIENTS_PER_NODE = 3
SENDERS_PER_NODE = 2
N_MSGS = 300
RATE = 100.0


class Round:
    """Clients on every node; senders paced at RATE; exactly-once + order checked at the end."""

    def __init__(self, nodes, tag, sid_base):
        self.nodes, self.tag, self.sid_base = nodes, tag, sid_base

    async def open(self):
        self.clients, self.node_of = [], []
        for n, srv in enumerate(self.nodes):
            for ws in await h.ws_connect_many(srv.uri(), CLIENTS_PER_NODE):
                self.clients.append(ws)
                self.node_of.append(n)
        self.senders = [i for i in range(len(self.clients)) if i % CLIENTS_PER_NODE < SENDERS_PER_NODE]
        self.sid_of = {ci: self.sid_base + k for k, ci in enumerate(self.senders)}
        self.receivers = [h.Receiver(f"{self.tag}-n{self.node_of[i]}c{i}", ws, own_sid=self.sid_of.get(i)).start()
                          for i, ws in enumerate(self.clients)]
        for n in range(len(self.nodes)):
            await h.sync_barrier(self.clients[n * CLIENTS_PER_NODE], self.receivers, f"{self.tag}-{n}", timeout=15)
        return self

    async def send_all(self):
        async def send(ci):
            t0 = time.monotonic()
            for seq in range(N_MSGS):
                await self.clients[ci].send(h.make_msg(self.sid_of[ci], seq))
                delay = t0 + (seq + 1) / RATE - time.monotonic()
                if delay > 0:
                    await asyncio.sleep(delay)
        await asyncio.wait_for(asyncio.gather(*(send(ci) for ci in self.senders)), N_MSGS / RATE + 30)

    def local_progress(self, node):
        """Messages a client of `node` has from the senders of `node` (local delivery)."""
        r = next(r for i, r in enumerate(self.receivers) if self.node_of[i] == node and r.own_sid is None)
        return sum(r.got(self.sid_of[ci]) for ci in self.senders if self.node_of[ci] == node)

    async def verify(self):
        sids = [self.sid_of[ci] for ci in self.senders]
        await h.check_exactly_once(self.receivers, sids, N_MSGS, self.tag, timeout=40, settle=1.0)
        h.log(f"{self.tag}: {len(self.clients)} clients on {len(self.nodes)} nodes received all {N_MSGS} messages "
              f"of each of the other {len(sids) - 1} senders exactly once, in order")
        await h.close_all(self.clients)


async def report(srv, pred, timeout=10.0):
    deadline = time.monotonic() + timeout
    while True:
        st = await h.bridge_status(srv)
        if pred(st) or time.monotonic() > deadline:
            return st
        await asyncio.sleep(0.1)


async def redis_outage(nodes, redis):
    rnd = await Round(nodes, "outage", 0).open()
    traffic = asyncio.get_running_loop().create_task(rnd.send_all())
    await asyncio.sleep(1.0)
    redis.stop()
    h.log("redis stopped")
    down_at = [rnd.local_progress(n) for n in range(len(nodes))]
    await asyncio.sleep(2.5)
    during = [rnd.local_progress(n) - down_at[n] for n in range(len(nodes))]
    states = [await report(srv, lambda st: st.get("connected") is False and st.get("buffered", 0) > 0, 3)
              for srv in nodes]
    redis.start()
    h.log(f"redis started again; local deliveries during the outage per node: {during}")
    for n, st in enumerate(states):
        h.check(st.get("connected") is False and st.get("buffered", 0) > 0,
                f"{nodes[n].name}: during the outage the bridge should say disconnected with messages buffered: {st}")
    h.check(all(d > 50 for d in during), f"local broadcast stalled while Redis was down: {during}")
    await traffic
    await rnd.verify()
    for srv in nodes:
        st = await report(srv, lambda st: st.get("connected") and st.get("buffered") == 0)
        h.log(f"{srv.name}: after the outage {st}")
        h.check(st.get("replayed", 0) > 0 and st.get("dropped") == 0 and st.get("buffered") == 0,
                f"{srv.name}: expected a replay and nothing dropped: {st}")


async def bridge_restarts(nodes):
    a, b = nodes
    rnd = await Round(nodes, "restart", 100).open()
    traffic = asyncio.get_running_loop().create_task(rnd.send_all())
    await asyncio.sleep(0.8)
    before = await h.bridge_status(a)
    rc, ans = await h.actl_json(h.ctl_socket_of(a), "restart", "bridge")
    after = await h.bridge_status(a)
    h.log(f"{a.name}: restart bridge -> {ans.get('restarted')}")
    h.check(after.get("pid") != before.get("pid"), f"{a.name}: bridge pid unchanged after restart: {before} {after}")
    await asyncio.sleep(0.6)
    victim = (await h.bridge_status(b)).get("pid")
    h.check(isinstance(victim, int) and victim > 0, f"{b.name}: no bridge pid to kill")
    os.kill(victim, signal.SIGKILL)
    h.log(f"{b.name}: bridge pid {victim} killed with SIGKILL")
    st = await report(b, lambda st: st.get("pid") not in (victim, -1) and st.get("state") == "running", 10)
    h.check(st.get("pid") not in (victim, -1), f"{b.name}: bridge not restarted after SIGKILL: {st}")
    await traffic
    await rnd.verify()
    log_b = open(b.stderr_path, "rb").read().decode("utf-8", "replace")
    h.check("event=bridge_process_died" in log_b and "resume=1" in log_b,
            f"{b.name}: the supervisor did not restart its bridge on the same cursors")
    for srv in nodes:
        st = await report(srv, lambda st: st.get("buffered") == 0)
        h.log(f"{srv.name}: after the restarts {st}")


async def main():
    h.import_websockets()
    redis = h.RedisServer().start()
    try:
        stream = "it-outage"
        a = h.Server("node-a", worker_processes=2, shards=2,
                     overrides=h.bridge_overrides(redis.address, "a", stream)).start()
        b = h.Server("node-b", worker_processes=1, shards=1,
                     overrides=h.bridge_overrides(redis.address, "b", stream)).start()
        nodes = [a, b]
        for srv in nodes:
            await h.wait_bridge_connected(srv)
        await redis_outage(nodes, redis)
        await bridge_restarts(nodes)
        for srv in nodes:
            srv.stop(check=True, allow_restarts=True)
    finally:
        redis.cleanup()


if __name__ == "__main__":
    h.run_test(main, timeout=300)
