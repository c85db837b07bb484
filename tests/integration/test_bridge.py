#!/usr/bin/python3
"""Three ringcast nodes joined through one Redis stream: every message reaches every other
client on every node exactly once, in per-sender order, with its type; and a node whose Redis
is unreachable at start serves its own clients, says so, and relays once Redis appears.

Nodes: A (2 worker processes x 1 shard), B and C (1 x 1), each with its bridge on the same
stream, distinct node ids, one redis-server the test starts on a free loopback port. 4
python3-websockets clients per node, 2 senders per node x 150 messages (text and binary,
multi-byte UTF-8). Then `ringcastctl status` and /metrics must show the bridge connected with
the counts that match, and the stream must hold each message once.
"""
import asyncio
import os
import signal
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ringcast_harness as h  # noqa: E402

CLIENTS_PER_NODE = 4
SENDERS_PER_NODE = 2
N_MSGS = 150


async def exchange(nodes, tag):
    """Connects clients to every node, sends, checks exactly-once + order everywhere."""
    clients, node_of = [], []
    for n, srv in enumerate(nodes):
        for ws in await h.ws_connect_many(srv.uri(), CLIENTS_PER_NODE):
            clients.append(ws)
            node_of.append(n)
    senders = [i for i in range(len(clients)) if i % CLIENTS_PER_NODE < SENDERS_PER_NODE]
    sid_of = {ci: s for s, ci in enumerate(senders)}
    receivers = [h.Receiver(f"{tag}-n{node_of[i]}c{i}", ws, own_sid=sid_of.get(i)).start()
                 for i, ws in enumerate(clients)]
    # A barrier from each node: every client on every node is registered and every bridge reads.
    for n in range(len(nodes)):
        await h.sync_barrier(clients[n * CLIENTS_PER_NODE], receivers, f"{tag}-{n}", timeout=15)

    async def send(ci):
        for seq in range(N_MSGS):
            await clients[ci].send(h.make_msg(sid_of[ci], seq))
            if seq % 25 == 24:
                await asyncio.sleep(0.005)

    await asyncio.wait_for(asyncio.gather(*(send(ci) for ci in senders)), 60)
    n_senders = len(senders)
    await h.check_exactly_once(receivers, list(range(n_senders)), N_MSGS, f"{tag} (cross-node)")
    h.log(f"{tag}: {len(clients)} clients on {len(nodes)} nodes each received all {N_MSGS} messages of "
          f"each of the other {n_senders - 1} senders exactly once, in order")
    await h.close_all(clients)
    return n_senders


async def three_nodes(redis):
    stream = "it-three"
    metrics_port = h.free_port()
    a = h.Server("node-a", worker_processes=2, shards=2,
                 overrides={**h.bridge_overrides(redis.address, "a", stream),
                            "metrics_listen": f"127.0.0.1:{metrics_port}"}).start()
    b = h.Server("node-b", worker_processes=1, shards=1, overrides=h.bridge_overrides(redis.address, "b", stream)).start()
    c = h.Server("node-c", worker_processes=1, shards=1, overrides=h.bridge_overrides(redis.address, "c", stream)).start()
    nodes = [a, b, c]
    for srv in nodes:
        await h.wait_bridge_connected(srv)
    n_senders = await exchange(nodes, "three")

    # Every message went into the stream once (3 barriers + the test messages).
    xlen = redis.command("XLEN", stream)
    h.check(xlen == n_senders * N_MSGS + 3, f"stream holds {xlen} entries, expected {n_senders * N_MSGS + 3}")
    per_node_sent = SENDERS_PER_NODE * N_MSGS + 1  # + its barrier
    for srv in nodes:
        st = await h.wait_bridge_report(srv, lambda st: st.get("sent") == per_node_sent
                                      and st.get("received") == xlen - per_node_sent)
        h.log(f"{srv.name}: bridge {st}")
        h.check(st.get("connected") is True and st.get("state") == "running", f"{srv.name}: bridge state {st}")
        h.check(st.get("sent") == per_node_sent, f"{srv.name}: bridge sent {st.get('sent')}, expected {per_node_sent}")
        h.check(st.get("received") == xlen - per_node_sent,
                f"{srv.name}: bridge received {st.get('received')}, expected {xlen - per_node_sent}")
        h.check(st.get("dropped") == 0 and st.get("duplicates") == 0, f"{srv.name}: {st}")
    rc, out, err = h.ctl_run(h.ctl_socket_of(a), "status")
    h.check(rc == 0 and "connected to redis " + redis.address in out and f"{per_node_sent} sent" in out,
            f"ringcastctl status does not show the bridge: rc={rc}\n{out}{err}")
    status, _, body = h.http_request(metrics_port, "/metrics")
    text = body.decode()
    for line in ("ringcast_bridge_connected 1", f"ringcast_bridge_sent_total {per_node_sent}",
                 "ringcast_bridge_dropped_total 0", "ringcast_bridge_buffered_messages 0"):
        h.check(line in text, f"/metrics lacks {line!r} (status {status})")
    await usr2_rolls_the_bridge(nodes)
    for srv in nodes:
        srv.stop(check=True, allow_restarts=True)


async def usr2_rolls_the_bridge(nodes):
    """SIGUSR2 (an upgrade) replaces B's workers and its bridge; the nodes still hear each other."""
    b = nodes[1]
    before = await h.bridge_status(b)
    os.kill(b.pid, signal.SIGUSR2)
    st = await h.wait_bridge_report(b, lambda st: st.get("pid") not in (before.get("pid"), -1)
                                  and st.get("connected") is True, timeout=20)
    h.check(st.get("pid") != before.get("pid") and st.get("restarts") == before.get("restarts", 0) + 1,
            f"SIGUSR2 did not roll the bridge: before {before}, after {st}")
    clients = [await h.ws_connect(srv.uri()) for srv in nodes]
    receivers = [h.Receiver(f"usr2-{i}", ws).start() for i, ws in enumerate(clients)]
    for i in range(len(nodes)):
        await h.sync_barrier(clients[i], receivers, f"usr2-{i}", timeout=15)
    h.log(f"after SIGUSR2 on {b.name}: bridge pid {before.get('pid')} -> {st.get('pid')}, nodes still joined")
    await h.close_all(clients)


async def unreachable_at_start():
    """Redis is not there when the node starts: it serves, says so, and catches up later."""
    redis = h.RedisServer("redis-late")  # port chosen, not started yet
    stream = "it-late"
    srv = h.Server("node-alone", worker_processes=1, shards=1,
                   overrides=h.bridge_overrides(redis.address, "alone", stream)).start()
    try:
        c1, c2 = await h.local_broadcast(srv, 20, "local")
        st = await h.wait_bridge_report(srv, lambda st: st.get("buffered") == 20)
        h.check(st.get("connected") is False and st.get("buffered") == 20,
                f"bridge should say it is not connected and hold 20 messages: {st}")
        log = open(srv.stderr_path, "rb").read().decode("utf-8", "replace")
        h.check("event=bridge_disconnected" in log and "local broadcast goes on" in log,
                "the node does not say that Redis is unreachable")
        redis.start()
        await h.wait_for(lambda: _xlen(redis, stream) == 20, 15, "the 20 buffered messages to reach the stream")
        await h.wait_bridge_connected(srv)
        st = await h.wait_bridge_report(srv, lambda st: st.get("buffered") == 0)
        h.check(st.get("replayed") == 20 and st.get("buffered") == 0, f"after Redis came: {st}")
        h.log(f"unreachable at start: served locally, then relayed the 20 buffered messages: {st}")
        await h.close_all([c1, c2])
        srv.stop(check=True)
    finally:
        redis.cleanup()



def _xlen(redis, stream):
    try:
        return redis.command("XLEN", stream)
    except OSError:
        return -1


async def main():
    h.import_websockets()
    redis = h.RedisServer().start()
    try:
        await three_nodes(redis)
    finally:
        redis.cleanup()
    await unreachable_at_start()


if __name__ == "__main__":
    h.run_test(main, timeout=240)
