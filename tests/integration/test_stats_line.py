#!/usr/bin/python3
"""The supervisor prints `[HH:MM:SS] Conns: N, Msgs: M` on stdout every stats_interval_ms.

With stats_interval_ms 500: 4 stats lines arrive within 3 s, arrival gaps stay between
200 ms and 1.5 s (which also catches a block-buffered stdout), and every stdout line that
looks like a stats line matches `^\\[\\d\\d:\\d\\d:\\d\\d\\] Conns: \\d+, Msgs: \\d+$` exactly.
With no client Conns is 0; after 5 clients connect Conns reaches 5 (never more); after 10
messages Msgs grows; after the clients disconnect Conns returns to 0.
"""
import asyncio
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ringcast_harness as h  # noqa: E402

STATS_RE = re.compile(r"^\[(\d\d):(\d\d):(\d\d)\] Conns: (\d+), Msgs: (\d+)$")


class StatsTail:
    """Reads new complete stdout lines from the server's capture file, timestamped on arrival."""

    def __init__(self, srv):
        self.srv = srv
        self.pos = 0
        self.partial = b""
        self.stats = []      # (arrival monotonic, conns, msgs, raw line)
        self.bad = []        # lines that start like a stats line but do not match
        self.other = []

    def poll(self):
        with open(self.srv.stdout_path, "rb") as f:
            f.seek(self.pos)
            data = f.read()
            self.pos += len(data)
        data = self.partial + data
        *lines, self.partial = data.split(b"\n")
        now = time.monotonic()
        for raw in lines:
            line = raw.decode("utf-8", "replace")
            m = STATS_RE.match(line)
            if m:
                hh, mm, ss = int(m.group(1)), int(m.group(2)), int(m.group(3))
                if hh > 23 or mm > 59 or ss > 60:
                    self.bad.append(line)
                self.stats.append((now, int(m.group(4)), int(m.group(5)), line))
            elif "Conns" in line or "Msgs" in line or line.startswith("["):
                self.bad.append(line)
            elif line.strip():
                self.other.append(line)

    async def wait(self, pred, timeout, what):
        deadline = time.monotonic() + timeout
        while True:
            self.poll()
            if pred():
                return
            if time.monotonic() > deadline:
                last = [s[3] for s in self.stats[-5:]]
                raise h.TestFailure(f"timed out after {timeout}s waiting for {what}; last stats lines {last}")
            await asyncio.sleep(0.05)


async def main():
    h.import_websockets()
    srv = h.Server("stats", overrides={"stats_interval_ms": 500}).start()
    tail = StatsTail(srv)
    tail.poll()
    cadence_from = len(tail.stats)  # lines already in the file arrived together; time the later ones
    t0 = time.monotonic()
    await tail.wait(lambda: len(tail.stats) >= cadence_from + 4, 4, "4 stats lines")
    first_four = time.monotonic() - t0
    h.log(f"first stats lines: {[s[3] for s in tail.stats[:4]]}")
    h.check(not tail.bad, f"malformed stats lines on stdout: {tail.bad[:5]}")
    base_msgs = max(s[2] for s in tail.stats)
    h.check(all(s[1] == 0 for s in tail.stats), f"Conns should be 0 with no client: {[s[3] for s in tail.stats]}")

    clients = await h.ws_connect_many(srv.uri(), 5)
    await tail.wait(lambda: any(s[1] == 5 for s in tail.stats), 5, "a stats line with Conns: 5")
    h.log(f"Conns reached 5: {[s[3] for s in tail.stats if s[1] == 5][0]}")
    n_before = len(tail.stats)
    for i in range(10):
        await clients[i % 5].send(f"stats-msg-{i}")
    # drain what the others received so nobody is slow
    for c in clients:
        for _ in range(8):
            await asyncio.wait_for(c.recv(), 5)
    await tail.wait(lambda: any(s[2] > base_msgs for s in tail.stats[n_before:]), 5,
                    f"Msgs to grow above {base_msgs} after 10 messages")
    grown = [s for s in tail.stats[n_before:] if s[2] > base_msgs][0]
    h.log(f"Msgs grew after 10 messages: {grown[3]}")
    h.check(all(s[1] <= 5 for s in tail.stats), f"Conns above 5 with 5 clients: {[s[3] for s in tail.stats if s[1] > 5]}")

    await h.close_all(clients)
    await tail.wait(lambda: tail.stats[-1][1] == 0, 5, "Conns to return to 0 after the clients disconnected")
    h.log(f"after disconnect: {tail.stats[-1][3]}")

    # Cadence over the whole run: ~500 ms apart (arrival times jitter with our polling).
    # (a block-buffered stdout would show up here as bursts of lines with long pauses between)
    arrivals = [s[0] for s in tail.stats[cadence_from:]]
    gaps = [b - a for a, b in zip(arrivals, arrivals[1:])]
    h.check(first_four <= 3.0, f"4 stats lines took {first_four:.1f}s at stats_interval_ms=500")
    h.check(all(g >= 0.2 for g in gaps), f"stats lines closer than 200 ms apart: gaps {['%.2f' % g for g in gaps]}")
    h.check(all(g <= 1.5 for g in gaps), f"stats lines more than 1.5 s apart: gaps {['%.2f' % g for g in gaps]}")
    h.check(not tail.bad, f"malformed stats lines on stdout: {tail.bad[:5]}")
    if tail.other:
        h.log(f"note: other stdout lines: {tail.other[:5]}")
    h.log(f"{len(tail.stats)} stats lines, gaps {min(gaps):.2f}..{max(gaps):.2f}s")
    srv.stop(check=True)


if __name__ == "__main__":
    h.run_test(main, timeout=60)
