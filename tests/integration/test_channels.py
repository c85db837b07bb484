#!/usr/bin/python3
"""Channels (issue 16): the upgrade's path names the audience; a message reaches every other
member of its channel, on every worker process, exactly once, and no one else.

Server C (3 worker processes, 3 shards, `"channels": "path"`, an HMAC key with auth not
required, /metrics on):
  * Traffic: 200 python3-websockets clients on 50 channels (4 each, over the 3 workers:
    `ss` must show every worker owning clients and most channels spanning 2+ workers). The
    names include the root channel "" (`/`), prefixes of each other (news, news/x, newsx),
    case (Rooms/1 vs rooms/1), deep names, every allowed punctuation character, "..." and
    ".x" segments, and one of exactly 128 bytes; one client joins with a query string
    (ignored). 3 senders per channel x 20 messages (text and binary): every member gets each
    other sender of its channel exactly once, in order, byte-exact, and nothing of any other
    channel (test messages and barrier syncs). `probes --connections` shows each client's
    "channel".
  * Bad paths -> HTTP 400, no upgrade: empty segments (`//x`, `/a//b`), a trailing '/',
    "." and ".." segments, percent-escapes, characters outside the set (`|`, `"`, `<`, `^`,
    a backslash), 129 bytes. ringcast_upgrades_rejected_total{reason="bad_request"} counts them.
  * Tokens: claim {"channels": ["rooms/*", "lobby"], "publish_channels": ["lobby"]}:
    `/lobby` (publishes), `/rooms/7`, `/rooms/7/deep`, `/rooms/9?token=` -> 101; `/rooms`,
    `/`, `/lobby/x`, `/roomsx/1`, `/other` -> 403 (no upgrade); on rooms/7 it is a listener
    (probes role), its message closes it with 1008 and reaches no one; on lobby its message
    reaches lobby only. {"channels": []} -> 403 everywhere; {"channels": ["*"]} joins
    anything and publishes. {reason="channel_forbidden"} counts the 403s.
Server O (3 workers, channels not configured = off): clients on `/`, `/rooms/1`, `/a//b`,
  `/x/../y`, `/%41`, `/rooms/2?x=1` are all upgraded and are one audience; probes show
  "channel": null.
Server S (3 workers, max_subscribers_per_channel 4, auth listener_send drop): 4 on "full",
  then every further join to it -> 503 (several tries, any worker) while other channels
  and the root take clients; one of the 4 leaves -> a join succeeds (bounded wait);
  {reason="max_subscribers"} counts the 503s. A token's publish-restricted channel with
  listener_send drop: its message is dropped, it stays and still receives.
Server M (1 worker, 1 shard, max_channels 3): a, b, c -> 101; d -> 503; a second client on a
  -> 101; c's only client leaves -> d gets in (bounded wait); then e -> 503.
  {reason="max_channels"} counts the 503s.
"""
import asyncio
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ringcast_harness as h  # noqa: E402
import admission_support as a  # noqa: E402
import channels_support as cs  # noqa: E402
import jwt_tokens as jt  # noqa: E402

N_CHANNELS = 50
PER_CHANNEL = 4
SENDERS_PER_CHANNEL = 3
N_MSGS = 20
MIN_SPREAD_CHANNELS = 30  # channels that must have members on 2+ workers (~48 of 50 expected)

LONG128 = "long/" + "L" * 123
SPECIAL_CHANNELS = ["", "news", "news/x", "newsx", "Rooms/1", "rooms/1", "rooms/1/thread/2",
                    "sym/-_.~:@!$&'()*+,;=", "a/.../b", "a/.x", "x.", "~user", LONG128]


def channel_names():
    names = list(SPECIAL_CHANNELS)
    i = 0
    while len(names) < N_CHANNELS:
        names.append(f"t/{i}")
        i += 1
    assert len(set(names)) == N_CHANNELS and len(LONG128) == 128
    return names


BAD_PATHS = [
    ("//x", "empty first segment"),
    ("/a//b", "empty segment"),
    ("/rooms/7/", "trailing slash"),
    ("/rooms/./7", "'.' segment"),
    ("/rooms/../7", "'..' segment"),
    ("/..", "'..' alone"),
    ("/rooms/.", "'.' last"),
    ("/rooms%2F7", "percent-escaped '/'"),
    ("/caf%C3%A9", "percent-escaped UTF-8"),
    ("/%41", "percent-escape of an allowed character"),
    ("/rooms/7|8", "'|'"),
    ('/a"b', "'\"'"),
    ("/a<b>", "'<' '>'"),
    ("/a^b", "'^'"),
    ("/a\\b", "backslash"),
    ("/" + "x" * 129, "129 bytes"),
    ("/" + "y/" * 64 + "z", "129 bytes of segments"),
]


def bearer(tok):
    return ("Authorization", f"Bearer {tok}")


async def traffic(srv):
    names = channel_names()
    # Client i joins channel i % 50: consecutive clients are on different channels, so each
    # channel's 4 members connect at different times (and the kernel spreads them).
    chans = [names[i % N_CHANNELS] for i in range(N_CHANNELS * PER_CHANNEL)]
    members = await cs.join_many(srv, chans, "c")
    # One more member joins with a query string, which names nothing.
    qch = names[-1]
    extra = await h.ws_connect(srv.uri(cs.path_of(qch, "?x=1&y=two")))
    members.append(cs.Member(f"c-query[{qch}]", qch, extra))
    workers = srv.worker_pids()
    h.check(len(workers) == 3, f"expected 3 worker processes, saw {workers}")
    owner = h.owner_of_client_ports(srv.port, [m.port for m in members], workers)
    missing = [m.name for m in members if m.port not in owner]
    h.check(not missing, f"ss shows no single worker owning {missing[:10]}")
    per_worker = {w: sum(1 for m in members if owner[m.port] == w) for w in workers}
    spans = {}
    for m in members:
        spans.setdefault(m.channel, set()).add(owner[m.port])
    multi = sum(1 for s in spans.values() if len(s) >= 2)
    h.log(f"{len(members)} clients on {len(spans)} channels; per worker {per_worker}; "
          f"{multi} channels span 2+ workers, {sum(1 for s in spans.values() if len(s) == 3)} all 3")
    h.check(all(per_worker.values()), f"a worker owns no client: {per_worker}")
    h.check(multi >= MIN_SPREAD_CHANNELS, f"only {multi} of {len(spans)} channels have members on 2+ workers")

    await cs.check_probe_channels(srv, members, "probes after the joins")
    h.log("probes --connections: every client's row names its channel (the query string named none)")

    # Senders: the first 3 members of each channel (by join order; they tend to be on
    # different workers); sids are global so a stray is recognised by its sender.
    groups = cs.by_channel(members)
    senders = []
    for ch in names:
        for m in groups[ch][:SENDERS_PER_CHANNEL]:
            m.sid = len(senders)
            senders.append(m)
    for m in members:
        m.start()
    # Two syncs per channel, from members that usually sit on different workers.
    allowed = await cs.channel_barriers(members, "pre")
    t0 = time.monotonic()
    sent = await cs.send_all(senders, N_MSGS)
    h.log(f"{len(senders)} senders sent {sum(sent.values())} messages in {time.monotonic() - t0:.2f}s")
    await cs.check_channels(members, sent, allowed, f"{N_CHANNELS} channels", diagnose=srv.diagnose)
    h.log(f"every one of {len(members)} members got each other sender of its channel exactly once, in order; "
          "nothing crossed channels")
    await h.close_all([m.ws for m in members])


async def bad_paths(srv):
    for path, why in BAD_PATHS:
        await a.aexpect_refused(srv.port, 400, f"bad path {path[:40]!r} ({why})", path=path)
    # The edges that are fine: 128 bytes, '.'-containing segments, the query ignored.
    for path in ("/" + "x" * 128, "/a/.../b", "/.x/x.", "/rooms/7?", "/?a=1"):
        st = await cs.status_of(srv, path)
        h.check(st == 101, f"path {path[:40]!r}: expected 101, got {st}")
    h.log(f"bad paths: {len(BAD_PATHS)} refused with 400; 128 bytes, dotted segments, empty query upgraded")
    return len(BAD_PATHS)


async def tokens(srv, keys):
    sec = keys.secret("ch")

    def tok(rc, sub):
        return jt.sign_hs(sec, jt.claims(sub=sub, ringcast=rc))

    t_rooms = tok({"publish": True, "channels": ["rooms/*", "lobby"], "publish_channels": ["lobby"]}, "rooms-lobby")
    t_none = tok({"channels": []}, "nothing")
    t_all = tok({"channels": ["*"]}, "everything")

    forbidden = [(t_rooms, p) for p in ("/rooms", "/", "/lobby/x", "/roomsx/1", "/other", "/Rooms/7", "/lobbyx")]
    forbidden += [(t_none, p) for p in ("/", "/lobby", "/rooms/7")]
    for t, p in forbidden:
        await a.aexpect_refused(srv.port, 403, f"token join {p}", path=p, headers=[bearer(t)])
    # The query's token is read, and the query still names nothing.
    await a.aexpect_refused(srv.port, 403, "token in the query, /other", path="/other?token=" + t_none)
    n_forbidden = len(forbidden) + 1
    for p in ("/rooms/7/deep", "/rooms/1"):
        st = await cs.status_of(srv, p, headers=[bearer(t_rooms)])
        h.check(st == 101, f"token rooms/* joining {p}: expected 101, got {st}")
    h.log(f"token join restriction: {n_forbidden} joins refused with 403, rooms/* admits what is under rooms/")

    # Live clients: observers without tokens (unrestricted publishers) on rooms/7 and lobby.
    obs7 = a.Collector("obs-rooms7", await h.ws_connect(srv.uri("/rooms/7")))
    pub7 = await h.ws_connect(srv.uri("/rooms/7"))
    pub7c = a.Collector("pub-rooms7", pub7)
    obs_lobby = a.Collector("obs-lobby", await h.ws_connect(srv.uri("/lobby")))
    obs_other = a.Collector("obs-other", await h.ws_connect(srv.uri("/other")))
    lis7 = await a.connect(srv.uri("/rooms/7"), t_rooms, "header")
    lis7c = a.Collector("token-rooms7", lis7)
    lob = await a.connect(srv.uri("/lobby"), t_rooms, "header")
    lobc = a.Collector("token-lobby", lob)
    q9 = await a.connect(srv.uri("/rooms/9"), t_rooms, "query")
    q9c = a.Collector("token-rooms9-query", q9)
    anyc = a.Collector("token-any", await a.connect(srv.uri("/other"), t_all, "header"))
    everyone = [obs7, pub7c, obs_lobby, obs_other, lis7c, lobc, q9c, anyc]
    await asyncio.sleep(0.3)  # every worker has them subscribed (no barrier: listeners cannot send one)

    rows = await cs.probe_rows(srv)
    for ws, ch, role in ((lis7, "rooms/7", "listener"), (lob, "lobby", "publisher"), (q9, "rooms/9", "listener"),
                         (pub7, "rooms/7", "publisher")):
        r = rows.get(h.ws_local_port(ws), {})
        h.check(r.get("channel") == ch and r.get("role") == role,
                f"probes row: want channel {ch!r} role {role!r}, got {r}")
    h.log("probes: the token client is a listener on rooms/7 and rooms/9, a publisher on lobby")

    await pub7.send("p7: to rooms/7")
    for c in (obs7, lis7c):
        await c.wait_count("p7:", 1)
    await lob.send("lb: to lobby")
    await obs_lobby.wait_count("lb:", 1)
    await anyc.ws.send("any: to other")
    await obs_other.wait_count("any:", 1)
    await asyncio.sleep(0.4)
    for c in everyone:
        want = {"p7:": c in (obs7, lis7c), "lb:": c is obs_lobby, "any:": c is obs_other}
        for prefix, should in want.items():
            n = len(c.with_prefix(prefix))
            h.check(n == (1 if should else 0), f"{c.name}: {n} messages {prefix!r}, want {1 if should else 0}")
    h.log("publish rights: lobby published by the token; rooms/7's publisher reached the listener; no crossing")

    await lis7.send("l7: listener on rooms/7")
    code, reason = await lis7c.wait_closed(3.0)
    h.check(code == 1008, f"listener on rooms/7 sent: closed {code} {reason!r}, want 1008")
    await asyncio.sleep(0.4)
    leaked = [c.name for c in everyone if c.with_prefix("l7:")]
    h.check(not leaked, f"the listener's message reached {leaked}")
    h.check(all(c.closed is None for c in everyone if c is not lis7c),
            f"only the listener may be closed: {[(c.name, c.closed) for c in everyone]}")
    h.log(f"listener's message on rooms/7: closed {code} {reason!r}, delivered to no one")
    await h.close_all([c.ws for c in everyone])
    return n_forbidden


async def channels_off():
    srv = h.Server("channels-off").start()
    paths = ["/", "/rooms/1", "/a//b", "/x/../y", "/%41", "/rooms/2?x=1", "/rooms/1"]
    clients = [await h.ws_connect(srv.uri(p)) for p in paths]
    cols = [a.Collector(f"off{p}", c) for p, c in zip(paths, clients)]
    await asyncio.sleep(0.3)
    for i, c in enumerate(clients[:3]):
        await c.send(f"off{i}: hello")
    for i in range(3):
        for j, col in enumerate(cols):
            if j != i:
                await col.wait_count(f"off{i}:", 1)
    await asyncio.sleep(0.3)
    for j, col in enumerate(cols):
        for i in range(3):
            n = len(col.with_prefix(f"off{i}:"))
            h.check(n == (0 if i == j else 1), f"channels off: {col.name} got {n} of off{i}'s message")
    rows = await cs.probe_rows(srv)
    for p, c in zip(paths, clients):
        r = rows.get(h.ws_local_port(c))
        h.check(r is not None and "channel" in r and r["channel"] is None,
                f"channels off: probes row for {p} should hold \"channel\": null, got {r}")
    h.log(f"channels off: {len(paths)} clients on {len(set(paths))} paths are one audience; probes channel null")
    await h.close_all(clients)
    srv.stop(check=True)


async def max_subscribers(keys):
    mport = h.free_port()
    srv = h.Server("channels-maxsubs", overrides={
        "channels": "path", "max_subscribers_per_channel": 4, "metrics_listen": f"127.0.0.1:{mport}",
        "auth": {"required": False, "listener_send": "drop", "jwt": {"hmac_secret_file": keys.public_paths["ch"]}},
    }).start()
    full = [await h.ws_connect(srv.uri("/full")) for _ in range(4)]
    owners = h.owner_of_client_ports(srv.port, [h.ws_local_port(c) for c in full], srv.worker_pids())
    h.log(f"4 subscribers of 'full' on workers {sorted(set(owners.values()))}")
    refused = 0
    for k in range(6):
        st = await cs.status_of(srv, "/full")
        h.check(st == 503, f"join #{5 + k} of 'full' (limit 4 per node): expected 503, got {st}")
        refused += 1
    others = [await h.ws_connect(srv.uri(p)) for p in ("/", "/", "/", "/full/x", "/fullx", "/fullx", "/fullx")]
    h.log(f"'full': {refused} further joins refused with 503; the root, full/x and fullx took clients")
    await full[0].close()
    deadline = time.monotonic() + 5
    newcomer = None
    while newcomer is None:
        st, ws = await a.connect_status(srv.uri("/full"))
        if st == 101:
            newcomer = ws
            break
        h.check(st == 503, f"a join of 'full' after one left: {st}")
        refused += 1
        h.check(time.monotonic() < deadline, "one of 'full' left, yet joins are still refused after 5 s")
        await asyncio.sleep(0.1)
    st = await cs.status_of(srv, "/full")
    h.check(st == 503, f"'full' is at 4 again: expected 503, got {st}")
    refused += 1
    h.log("a subscriber of 'full' left: one join got in, the next was refused again")

    # listener_send drop: a token that may join rooms/* but publish only lobby.
    sec = keys.secret("ch")
    t = jt.sign_hs(sec, jt.claims(sub="drop", ringcast={"channels": ["rooms/*"], "publish_channels": ["lobby"]}))
    lis = a.Collector("drop-listener", await a.connect(srv.uri("/rooms/2"), t, "header"))
    peer = a.Collector("rooms2-peer", await h.ws_connect(srv.uri("/rooms/2")))
    await asyncio.sleep(0.3)
    await lis.ws.send("dropped: from the listener")
    await peer.ws.send("kept: from the peer")
    await lis.wait_count("kept:", 1)
    await asyncio.sleep(0.4)
    h.check(not peer.with_prefix("dropped:") and lis.closed is None,
            f"listener_send drop: peer got {peer.messages}, listener closed {lis.closed}")
    h.log("listener_send drop: the listener's message was dropped; it stays and receives")

    m = await a.scrape_until(mport, lambda m: m.total("ringcast_upgrades_rejected_total", reason="max_subscribers")
                             >= refused, f"upgrades_rejected{{max_subscribers}} >= {refused}")
    got = m.total("ringcast_upgrades_rejected_total", reason="max_subscribers")
    h.check(got == refused, f"upgrades_rejected_total{{reason=max_subscribers}} {got}, want {refused}")
    await h.close_all(full[1:] + others + [newcomer, lis.ws, peer.ws])
    srv.stop(check=True)


async def max_channels():
    mport = h.free_port()
    srv = h.Server("channels-maxch", worker_processes=1, shards=1, overrides={
        "channels": "path", "max_channels": 3, "metrics_listen": f"127.0.0.1:{mport}"}).start()
    held = {ch: await h.ws_connect(srv.uri("/" + ch)) for ch in ("a", "b", "c")}
    st = await cs.status_of(srv, "/d")
    h.check(st == 503, f"a 4th channel on a shard with max_channels 3: expected 503, got {st}")
    refused = 1
    second_a = await h.ws_connect(srv.uri("/a"))  # not a new channel
    await held["c"].close()
    deadline = time.monotonic() + 5
    d = None
    while d is None:
        st, ws = await a.connect_status(srv.uri("/d"))
        if st == 101:
            d = ws
            break
        h.check(st == 503, f"/d after c's only member left: {st}")
        refused += 1
        h.check(time.monotonic() < deadline, "channel c was left empty, yet /d is still refused after 5 s")
        await asyncio.sleep(0.1)
    st = await cs.status_of(srv, "/e")
    h.check(st == 503, f"a, b, d held: /e expected 503, got {st}")
    refused += 1
    h.log("max_channels 3: the 4th channel refused (503), an existing one joined, a freed slot reused")
    m = await a.scrape_until(mport, lambda m: m.total("ringcast_upgrades_rejected_total", reason="max_channels")
                             >= refused, f"upgrades_rejected{{max_channels}} >= {refused}")
    got = m.total("ringcast_upgrades_rejected_total", reason="max_channels")
    h.check(got == refused, f"upgrades_rejected_total{{reason=max_channels}} {got}, want {refused}")
    await h.close_all([held["a"], held["b"], second_a, d])
    srv.stop(check=True)


async def main():
    h.import_websockets()
    h.require_ss()
    keys = jt.Keys(a.tmpdir("channels-keys"))
    secret = keys.hmac_secret("ch")
    mport = h.free_port()
    srv = h.Server("channels", overrides={
        "channels": "path", "metrics_listen": f"127.0.0.1:{mport}",
        "auth": {"required": False, "default_role": "publisher", "listener_send": "close",
                 "jwt": {"hmac_secret_file": secret}},
    }).start()
    await traffic(srv)
    n_bad = await bad_paths(srv)
    n_forbidden = await tokens(srv, keys)
    m = await a.scrape_until(mport, lambda m: m.total("ringcast_upgrades_rejected_total", reason="bad_request")
                             >= n_bad and m.total("ringcast_upgrades_rejected_total", reason="channel_forbidden")
                             >= n_forbidden, "the 400s and 403s to be counted")
    got = {r: m.total("ringcast_upgrades_rejected_total", reason=r)
           for r in ("bad_request", "channel_forbidden", "max_channels", "max_subscribers", "auth")}
    h.check(got == {"bad_request": n_bad, "channel_forbidden": n_forbidden, "max_channels": 0,
                    "max_subscribers": 0, "auth": 0},
            f"upgrades_rejected_total by reason {got}, want bad_request {n_bad} channel_forbidden {n_forbidden}")
    present = {l.get("reason") for n, l, _ in m.samples if n == "ringcast_upgrades_rejected_total"}
    h.check({"bad_request", "channel_forbidden", "max_channels", "max_subscribers"} <= present,
            f"upgrades_rejected_total should carry every reason (0 included); reasons present: {sorted(present)}")
    h.log(f"/metrics: upgrades_rejected {got}")
    srv.stop(check=True)
    await channels_off()
    await max_subscribers(keys)
    await max_channels()


if __name__ == "__main__":
    h.run_test(main, timeout=60)
