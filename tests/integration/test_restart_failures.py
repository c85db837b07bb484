#!/usr/bin/python3
"""Restarts that cannot happen leave the cluster as it was; drain-mode restarts close with 1012.

Server A runs from a private copy of the ringcast binary (so the file on disk can be
replaced, as an upgrade would), 24 clients, 3 senders (one per worker) at 100 msg/s:

  (a) the binary on disk replaced (new file + rename) by `#!/bin/sh` `exit 1`:
      `restart 1` exits 1 with an error naming worker 1 and the new process's exit; worker
      1 keeps its pid, its clients keep their connections and chat on; the real binary put
      back: `restart 1` succeeds (new pid, ss shows worker 1's clients on it);
  (b) two restarts at once: with a binary that takes 2 s to fail on disk, `restart all` is
      started, and `restart 0` meanwhile exits 1 with "a restart is already running"; the
      same over one raw control connection carrying both requests in one write (real
      binary): the second is refused, the first succeeds;
  (c) `restart 3` (workers are 0..2) and `restart 99` exit 1 with "no such worker"; a raw
      {"worker": -1} and {"worker": "x"} are refused with an error; nothing restarts;
  over all of it: no client saw a close, and every client got every message of every other
  sender exactly once, in order.

Server B, restart_mode "drain": `restart 1` answers ok; worker 1's clients get Close 1012
(after an in-order prefix of the traffic, no gap, no duplicate); the others see no close
and get everything; the drained clients reconnect, one lands on the new worker 1, and it
chats both ways with the old clients.
"""
import asyncio
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ringcast_harness as h  # noqa: E402

N_CLIENTS = 24
RATE_HZ = 100
MAX_TRAFFIC_S = 25.0
FAIL_SCRIPT = b"#!/bin/sh\nexit 1\n"
SLOW_FAIL_SCRIPT = b"#!/bin/sh\nsleep 2\nexit 1\n"


async def connect_and_map(srv, n, by_index):
    clients = await h.ws_connect_many(srv.uri(), n)
    ports = [h.ws_local_port(c) for c in clients]
    owner = h.owner_of_client_ports(srv.port, ports, list(by_index.values()))
    missing = [p for p in ports if p not in owner]
    h.check(not missing, f"ss shows no single worker owner for client ports {missing[:10]}")
    index_of_pid = {p: i for i, p in by_index.items()}
    return clients, ports, [index_of_pid[owner[p]] for p in ports]


class Traffic:
    """Fixed-rate senders that run until stopped; `sent` counts what each sent."""

    def __init__(self, clients, sid_of):
        self.clients, self.sid_of = clients, sid_of
        self.sent = {s: 0 for s in sid_of.values()}
        self.stop = asyncio.Event()
        self.errors = []
        self.tasks = []

    def start(self):
        self.tasks = [asyncio.get_running_loop().create_task(self.sender(ci)) for ci in self.sid_of]
        return self

    async def sender(self, ci):
        import websockets
        ws, sid = self.clients[ci], self.sid_of[ci]
        loop = asyncio.get_running_loop()
        t0 = loop.time()
        for seq in range(int(MAX_TRAFFIC_S * RATE_HZ)):
            if self.stop.is_set():
                return
            delay = t0 + seq / RATE_HZ - loop.time()
            if delay > 0:
                await asyncio.sleep(delay)
            try:
                await ws.send(h.make_msg(sid, seq))
            except websockets.ConnectionClosed as e:
                self.errors.append(f"sender {sid} closed at seq {seq}: {e!r}")
                return
            self.sent[sid] = seq + 1

    async def finish(self):
        self.stop.set()
        await asyncio.gather(*self.tasks)


def delivery_problems(receivers, sent, prefix_ok=()):
    """Exactly-once/in-order problems; receivers in prefix_ok may stop early (in-order prefix)."""
    problems = []
    for r in receivers:
        for s in sent:
            if s == r.own_sid:
                continue
            if r in prefix_ok:
                if r.got(s) > sent[s]:
                    problems.append(f"{r.name}: from sender {s} got {r.got(s)}, more than the {sent[s]} sent")
            elif r.got(s) != sent[s]:
                problems.append(f"{r.name}: from sender {s} got {r.got(s)} of {sent[s]}")
        if r.errors:
            problems.append(f"{r.name}: {r.n_errors} errors, first: {r.errors[:4]}")
    return problems


async def wait_delivered(receivers, sent, timeout=15):
    def done():
        return all(r.got(s) >= sent[s] for r in receivers for s in sent if s != r.own_sid)
    try:
        await h.wait_for(done, timeout, "every client to get every message")
    except h.TestFailure:
        pass
    await asyncio.sleep(0.4)


async def part_a_b_c():
    srv = h.CopiedBinaryServer("restart-failures").start()
    ctl = h.ctl_socket_of(srv)
    stderr = h.LogTail(srv.stderr_path, from_end=False)
    by_index = await h.workers_by_index(ctl)
    h.check(sorted(by_index.values()) == srv.worker_pids(), f"`workers` {by_index} vs children {srv.worker_pids()}")
    h.log(f"running from the copy {srv.bin_copy}: {h.proc_cmdline(srv.pid)!r}")
    h.check(h.proc_cmdline(srv.pid).startswith(srv.bin_copy), "the supervisor does not run from the copy")

    clients, ports, index_of_client = await connect_and_map(srv, N_CLIENTS, by_index)
    counts = {i: index_of_client.count(i) for i in by_index}
    h.log(f"{len(clients)} clients per worker index {counts}")
    h.check(counts[1] >= 2, f"worker 1 owns fewer than 2 of {N_CLIENTS} clients: {counts}")
    senders = [index_of_client.index(i) for i in sorted(by_index) if counts[i] > 0]
    sid_of = {ci: s for s, ci in enumerate(senders)}
    receivers = [h.Receiver(f"c{i}", c, own_sid=sid_of.get(i)).start() for i, c in enumerate(clients)]
    for ci in senders:
        await h.sync_barrier(clients[ci], receivers, f"pre{ci}")
    traffic = Traffic(clients, sid_of).start()

    def no_closes(when):
        closed = [(r.name, r.closed) for r in receivers if r.closed]
        h.check(not closed, f"{when}: clients saw a close: {closed[:10]}")

    async def expect_same_workers(when):
        now = await h.workers_by_index(ctl)
        h.check(now == by_index, f"{when}: workers changed {by_index} -> {now}")
        h.check(sorted(now.values()) == srv.worker_pids(), f"{when}: children {srv.worker_pids()} vs {now}")

    async def worker1_still_serves(when):
        """a client on worker 1 sends a sync that everybody gets; worker 1's clients get one too"""
        on1 = [ci for ci, w in enumerate(index_of_client) if w == 1]
        await h.sync_barrier(clients[on1[0]], receivers, f"{when}-from-w1")
        other = next(ci for ci, w in enumerate(index_of_client) if w != 1)
        await h.sync_barrier(clients[other], receivers, f"{when}-to-w1")

    await asyncio.sleep(0.5)

    # (a) broken binary on disk
    srv.install_binary(FAIL_SCRIPT)
    t0 = time.monotonic()
    rc, out, err = await h.actl(ctl, "restart", "1", timeout=40)
    took = time.monotonic() - t0
    h.log(f"(a) restart 1 with `exit 1` on disk: rc={rc} in {took * 1000:.0f} ms, stderr {err.strip()!r}")
    h.check(rc == 1, f"(a) restart with a broken binary on disk: exit {rc}, expected 1 (stdout {out!r})")
    h.check("worker 1" in err and "exit code 1" in err and "restart failed" in err,
            f"(a) the error should say the restart of worker 1 failed and how the new process exited: {err!r}")
    no_closes("(a) after the failed restart")
    await expect_same_workers("(a) after the failed restart")
    await worker1_still_serves("a-failed")
    h.check(stderr.find("event=restart_failed"), "(a) no event=restart_failed in the log")
    await asyncio.sleep(0.5)
    h.check(all(r.got(s) > 0 for r in receivers for s in traffic.sent if s != r.own_sid), "(a) traffic stalled")

    srv.restore_binary()
    rc, ans = await h.actl_json(ctl, "restart", "1", timeout=40)
    m = re.search(r"worker 1: pid (\d+) -> (\d+)", ans.get("restarted", ""))
    h.check(m and int(m.group(1)) == by_index[1], f"(a) restart 1 after restoring the binary: {ans}")
    new1 = int(m.group(2))
    now = await h.workers_by_index(ctl)
    h.check(now[1] == new1 and now[0] == by_index[0] and now[2] == by_index[2], f"(a) workers now {now}")
    h.check(sorted(now.values()) == srv.worker_pids(), f"(a) children {srv.worker_pids()} vs {now}")
    want = {ports[ci]: new1 for ci, w in enumerate(index_of_client) if w == 1}
    got = h.owner_of_client_ports(srv.port, list(want), list(now.values()))
    h.check(all(got.get(p) == new1 for p in want), f"(a) worker 1's clients not on its new pid {new1}: {got}")
    no_closes("(a) after the good restart")
    h.log(f"(a) restored binary: {ans['restarted']}; worker 1's {len(want)} clients now owned by {new1}")
    by_index.update(now)

    # (b) two restarts at once
    srv.install_binary(SLOW_FAIL_SCRIPT)
    first = asyncio.get_running_loop().create_task(h.actl(ctl, "restart", "all", timeout=40))
    await stderr.wait_for("event=restart_begin", f"old_pid={by_index[0]} ", timeout=5)
    rc2, out2, err2 = await h.actl(ctl, "restart", "0", timeout=10)
    h.log(f"(b) second restart while one runs: rc={rc2} stderr {err2.strip()!r}")
    h.check(rc2 == 1 and "a restart is already running" in err2,
            f"(b) a second restart should be refused with 'a restart is already running': rc={rc2} {err2!r}")
    rc1, out1, err1 = await first
    h.log(f"(b) the first (binary that fails after 2 s): rc={rc1} stderr {err1.strip()!r}")
    h.check(rc1 == 1 and "worker 0" in err1, f"(b) the first restart should fail on worker 0: rc={rc1} {err1!r}")
    await expect_same_workers("(b) after the refused and the failed restart")
    srv.restore_binary()
    # the same race over one connection: both requests in one write, real binary
    cc = h.ControlClient(ctl)
    try:
        cc.send('{"cmd":"restart","worker":2}\n{"cmd":"restart","worker":0}\n')
        loop = asyncio.get_running_loop()
        a1 = await loop.run_in_executor(None, cc.read_line, 30)
        a2 = await loop.run_in_executor(None, cc.read_line, 30)
    finally:
        cc.close()
    h.log(f"(b) pipelined: {a1} / {a2}")
    refused = [a for a in (a1, a2) if not a["ok"]]
    accepted = [a for a in (a1, a2) if a["ok"]]
    h.check(len(refused) == 1 and "a restart is already running" in refused[0]["error"],
            f"(b) pipelined restarts: exactly one should be refused as already running: {a1} {a2}")
    h.check(len(accepted) == 1 and re.search(rf"worker 2: pid {by_index[2]} -> \d+", accepted[0]["restarted"]),
            f"(b) pipelined restarts: the first (worker 2) should succeed: {a1} {a2}")
    h.check(a1 is refused[0], f"(b) the refusal should be answered first (the restart answers when done): {a1} {a2}")
    by_index = await h.workers_by_index(ctl)
    no_closes("(b)")

    # (c) no such worker
    for arg in ("3", "99"):
        rc, out, err = await h.actl(ctl, "restart", arg)
        h.check(rc == 1 and "no such worker" in err and "0..2" in err,
                f"(c) restart {arg}: rc={rc}, stderr {err!r} (want exit 1, 'no such worker', 'workers are 0..2')")
        h.log(f"(c) restart {arg}: {err.strip()!r}")
    cc = h.ControlClient(ctl)
    try:
        for bad in ({"cmd": "restart", "worker": -1}, {"cmd": "restart", "worker": "x"},
                    {"cmd": "restart", "worker": 1.5}, {"cmd": "restart"}):
            a = cc.request(bad)
            h.check(a["ok"] is False and a["error"], f"(c) {bad} should be refused: {a}")
            h.log(f"(c) {bad} -> {a['error']!r}")
    finally:
        cc.close()
    await expect_same_workers("(c)")

    await asyncio.sleep(0.5)
    await traffic.finish()
    h.check(not traffic.errors, f"senders failed: {traffic.errors}")
    await wait_delivered(receivers, traffic.sent)
    no_closes("end of part a-c")
    problems = delivery_problems(receivers, traffic.sent)
    h.check(not problems, "delivery problems across the failed restarts:\n  " + "\n  ".join(problems[:30]))
    h.log(f"(a-c) all {len(clients)} clients got all of {traffic.sent} exactly once, in order; no close")
    await h.close_all(clients)
    srv.stop(check=True, allow_restarts=True)


async def part_d():
    srv = h.Server("restart-drain", overrides={"restart_mode": "drain"}).start()
    ctl = h.ctl_socket_of(srv)
    by_index = await h.workers_by_index(ctl)
    clients, ports, index_of_client = await connect_and_map(srv, N_CLIENTS, by_index)
    counts = {i: index_of_client.count(i) for i in by_index}
    h.log(f"(d) {len(clients)} clients per worker index {counts}")
    h.check(counts[1] >= 1 and counts[0] + counts[2] >= 2, f"(d) need clients on worker 1 and elsewhere: {counts}")
    senders = [ci for ci, w in enumerate(index_of_client) if w != 1][:2] + \
              [ci for ci, w in enumerate(index_of_client) if w == 1][:1]
    sid_of = {ci: s for s, ci in enumerate(senders)}
    receivers = [h.Receiver(f"c{i}", c, own_sid=sid_of.get(i)).start() for i, c in enumerate(clients)]
    for ci in senders:
        await h.sync_barrier(clients[ci], receivers, f"pre{ci}")
    traffic = Traffic(clients, sid_of).start()
    await asyncio.sleep(0.8)
    rc, ans = await h.actl_json(ctl, "restart", "1", timeout=40)
    h.log(f"(d) restart 1 in drain mode: {ans}")
    on1 = [r for r, w in zip(receivers, index_of_client) if w == 1]
    others = [r for r, w in zip(receivers, index_of_client) if w != 1]
    await h.wait_for(lambda: all(r.closed for r in on1), 5, "worker 1's clients to be closed")
    codes = sorted(set(r.closed for r in on1))
    h.log(f"(d) worker 1's {len(on1)} clients closed with {codes}")
    h.check(all(r.closed[0] == 1012 for r in on1), f"(d) worker 1's clients should get Close 1012: {codes}")
    now = await h.workers_by_index(ctl)
    h.check(now[1] != by_index[1] and now[0] == by_index[0] and now[2] == by_index[2],
            f"(d) only worker 1 should have a new pid: {by_index} -> {now}")
    h.check(not h.pid_alive(by_index[1]), f"(d) old worker 1 pid {by_index[1]} still alive")
    h.check(sorted(now.values()) == srv.worker_pids(), f"(d) children {srv.worker_pids()} vs {now}")
    await asyncio.sleep(0.5)  # the others keep chatting past the restart
    await traffic.finish()
    h.check(all(e.startswith("sender 2 ") for e in traffic.errors), f"(d) senders off worker 1 failed: {traffic.errors}")
    live_sent = {s: n for s, n in traffic.sent.items() if s != 2}
    await wait_delivered(others, live_sent)  # nothing of it still in flight when the new clients join

    # the drained clients reconnect (bounded) until one is on the new worker 1
    fresh, on_new = [], None
    for _ in range(8):
        batch = await h.ws_connect_many(srv.uri(), len(on1))
        fresh += batch
        own = h.owner_of_client_ports(srv.port, [h.ws_local_port(c) for c in batch], list(now.values()), timeout=3)
        on_new = next((c for c in batch if own.get(h.ws_local_port(c)) == now[1]), None)
        if on_new is not None:
            break
    h.check(on_new is not None, f"(d) none of {len(fresh)} reconnections landed on the new worker 1 ({now[1]})")
    h.log(f"(d) {len(fresh)} reconnections; one on the new worker 1 pid {now[1]}")
    fresh_rx = [h.Receiver(f"new{i}", c, own_sid=100 if c is on_new else None).start() for i, c in enumerate(fresh)]
    await h.sync_barrier(on_new, others + fresh_rx, "from-new-w1")
    await h.sync_barrier(clients[senders[0]], others + fresh_rx, "to-new-w1")
    for seq in range(20):
        await on_new.send(h.make_msg(100, seq))
    await h.wait_for(lambda: all(r.got(100) >= 20 for r in others + fresh_rx if r.own_sid != 100), 10,
                     "(d) messages from the new worker 1's client to reach everyone")
    problems = delivery_problems(others, live_sent) + delivery_problems(on1, traffic.sent, prefix_ok=on1)
    problems += [f"{r.name}: errors {r.errors[:3]}" for r in fresh_rx if r.errors]
    problems += [f"{r.name} (not on worker 1): closed {r.closed}" for r in others if r.closed]
    h.check(not problems, "(d) problems:\n  " + "\n  ".join(problems[:30]))
    h.log(f"(d) the {len(others)} clients on workers 0 and 2 saw no close and got all of {live_sent}; "
          f"worker 1's clients got in-order prefixes, then 1012")
    await h.close_all(clients + fresh)
    srv.stop(check=True, allow_restarts=True)


async def main():
    h.import_websockets()
    h.require_ss()
    await part_a_b_c()
    await part_d()


if __name__ == "__main__":
    h.run_test(main, timeout=90)
