#!/usr/bin/python3
"""Channels across nodes: two ringcast nodes joined through one Redis stream (a
redis-server the test starts on a free loopback port, as test_bridge.py), both with
`"channels": "path"`. A message on channel A on node 1 reaches channel A on node 2, exactly
once, and never channel B, on either node.

Node 1: 2 worker processes x 2 shards; node 2: 1 x 1. Channels: "rooms/a", "rooms/b", the
root "" and "rooms/a/sub" (under A, but another channel), with 2 clients per channel per
node, plus one client on "quiet" on node 2 only (no one sends there). One sender per
channel per node x 40 messages (text and binary). Every member gets every other sender of
its channel (both nodes) exactly once, in order, byte-exact, and nothing of any other
channel (test messages and syncs). The bridges report no drops and no duplicates.
"""
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ringcast_harness as h  # noqa: E402
import channels_support as cs  # noqa: E402

CHANNELS = ["rooms/a", "rooms/b", "", "rooms/a/sub"]
PER_CHANNEL_PER_NODE = 2
N_MSGS = 40
QUIET = "quiet"  # node 2 only, no sender
STREAM = "it-channels"


async def main():
    h.import_websockets()
    redis = h.RedisServer().start()
    try:
        n1 = h.Server("node-1", worker_processes=2, shards=2,
                      overrides={**h.bridge_overrides(redis.address, "n1", STREAM), "channels": "path"}).start()
        n2 = h.Server("node-2", worker_processes=1, shards=1,
                      overrides={**h.bridge_overrides(redis.address, "n2", STREAM), "channels": "path"}).start()
        nodes = [n1, n2]
        for srv in nodes:
            await h.wait_bridge_connected(srv)
        members = []
        for n, srv in enumerate(nodes):
            chans = [ch for ch in CHANNELS for _ in range(PER_CHANNEL_PER_NODE)]
            if n == 1 and QUIET is not None:
                chans.append(QUIET)
            members += await cs.join_many(srv, chans, f"n{n + 1}-", node=n)
        groups = cs.by_channel(members)
        for ch in CHANNELS:
            firsts = {}
            for m in groups[ch]:
                firsts.setdefault(m.node, m)
            for m in firsts.values():  # one sender per channel per node
                m.sid = sum(1 for x in members if x.sid is not None)
        senders = [m for m in members if m.sid is not None]
        for m in members:
            m.start()
        barrier_order = []
        for ch, ms in groups.items():
            # Each channel's two barrier syncs come from node 1's first member, then node 2's.
            n1s = [m for m in ms if m.node == 0]
            n2s = [m for m in ms if m.node == 1]
            barrier_order += ([n1s[0]] if n1s else []) + ([n2s[0]] if n2s else []) + n1s[1:] + n2s[1:]
        allowed = await cs.channel_barriers(barrier_order, "pre", timeout=15)
        await cs.check_probe_channels(n1, [m for m in members if m.node == 0], "node 1")
        await cs.check_probe_channels(n2, [m for m in members if m.node == 1], "node 2")
        sent = await cs.send_all(senders, N_MSGS, timeout=60)
        h.log(f"{len(senders)} senders ({len(CHANNELS)} channels x 2 nodes) sent {sum(sent.values())} messages")
        await cs.check_channels(members, sent, allowed, "two nodes")
        h.log(f"all {len(members)} members on 2 nodes got each other sender of their channel exactly once; "
              "nothing crossed channels, within a node or through Redis")
        for srv in nodes:
            st = await h.bridge_status(srv)
            h.check(st.get("connected") is True and st.get("dropped") == 0 and st.get("duplicates") == 0,
                    f"{srv.name}: bridge {st}")
            h.log(f"{srv.name}: bridge {st}")
        await h.close_all([m.ws for m in members])
        for srv in nodes:
            srv.stop(check=True)
    finally:
        redis.cleanup()


if __name__ == "__main__":
    h.run_test(main, timeout=60)
