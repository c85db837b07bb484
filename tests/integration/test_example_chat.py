#!/usr/bin/python3
"""examples/chat.html in headless Chromium (browser_harness.py): two tabs and a
python3-websockets client in one room on the real server.

  * both tabs, opened as file://.../chat.html?url=ws://127.0.0.1:PORT/, say "connected";
  * a line typed in tab A (keyboard input + Enter) appears in tab B's log and reaches the
    python client, and in A only as "me: ..."; a line typed in B reaches A; text the python
    client sends appears in both, markup shown as text (never run);
  * the server stopped: both tabs say "disconnected (1001)" and retry with growing delays
    (exponential backoff, jitter at most ±20 %); a server started again on the same port:
    both reconnect by themselves and a line typed in B reaches A again;
  * no JS error.
"""
import asyncio
import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ringcast_harness as h  # noqa: E402
import browser_harness as bh  # noqa: E402

LOG = "[...document.querySelectorAll('#log p')].map((p) => p.textContent)"
STATE = "document.getElementById('state').textContent"
RETRY = re.compile(r"disconnected \((\d+)\); reconnecting in ([0-9.]+) s \(attempt (\d+)\)")


class SamePortServer(h.Server):
    """A server on a port chosen before: the one a previous server of the test used."""

    def __init__(self, name, port, **kw):
        super().__init__(name, **kw)
        self.fixed_port = port

    def build_config(self):
        self.port = self.fixed_port
        return super().build_config()


async def wait_log(page, text, what, timeout=10.0):
    await page.wait_for(f"{LOG}.includes({json.dumps(text)})", timeout, what)


async def main():
    h.import_websockets()
    browser = bh.Browser()
    srv = h.Server("chat", worker_processes=2, shards=2).start()
    await browser.start()
    try:
        await run(browser, srv)
    finally:
        await browser.stop()


async def run(browser, srv):
    page_url = "file://" + os.path.join(h.source_dir(), "examples", "chat.html") + f"?url={srv.uri()}"
    a = await browser.new_page(page_url)
    b = await browser.new_page(page_url)
    for name, p in (("A", a), ("B", b)):
        await p.wait_for(f"{STATE} === 'connected'", 10, f"tab {name} to connect")
    py = await h.ws_connect(srv.uri())
    h.log(f"two tabs of {page_url} and a python client connected")

    await a.type_line("#msg", "hello from tab A")
    await wait_log(b, "hello from tab A", "tab A's line in tab B")
    got = await asyncio.wait_for(py.recv(), 10)
    h.check(got == "hello from tab A", f"the python client got {got!r}")
    log_a = await a.evaluate(LOG)
    h.check("me: hello from tab A" in log_a and "hello from tab A" not in log_a,
            f"tab A should show its own line once, as 'me: ...': {log_a}")
    h.check(await a.evaluate("document.getElementById('msg').value") == "", "tab A's input was not cleared")
    await b.type_line("#msg", "and from tab B")
    await wait_log(a, "and from tab B", "tab B's line in tab A")
    markup = "<b id=x>python</b><img src=x onerror=alert(1)>"
    await py.send(markup)
    for name, p in (("A", a), ("B", b)):
        await wait_log(p, markup, f"the python client's text in tab {name}")
        h.check(await p.evaluate("document.querySelector('#log b, #log img') === null"),
                f"tab {name} turned a message into markup")
    h.log("typed in A -> B and python; typed in B -> A; python -> both, shown as text")

    # The server goes away and comes back on the same port: the tabs find it again.
    port = srv.port
    py.transport.abort()
    stopping = asyncio.get_running_loop().run_in_executor(None, srv.stop)  # watch the tabs meanwhile
    delays, codes = {"A": {}, "B": {}}, set()
    deadline = time.monotonic() + 8
    while time.monotonic() < deadline and min(len(d) for d in delays.values()) < 4:
        for name, p in (("A", a), ("B", b)):
            m = RETRY.search(await p.evaluate(STATE))
            if m:
                codes.add(int(m.group(1)))
                delays[name][int(m.group(3))] = float(m.group(2))
        await asyncio.sleep(0.03)
    await stopping
    h.check(codes <= {1001, 1006}, f"close codes shown: {codes} (want 1001 going away, 1006 refused)")
    for name, d in delays.items():
        h.check(len(d) >= 4, f"tab {name}: retries seen {d}")
        for attempt in sorted(d):
            nominal = min(8.0, 0.25 * 2 ** (attempt - 1))
            h.check(0.79 * nominal <= d[attempt] <= 1.21 * nominal,
                    f"tab {name}: attempt {attempt} waits {d[attempt]} s, want {nominal} s ±20 %: {d}")
    first = await a.evaluate(LOG)
    h.log(f"server stopped (codes {sorted(codes)}): retry delays A {delays['A']}, B {delays['B']}")
    srv2 = None
    for _ in range(3):
        try:
            srv2 = SamePortServer("chat-again", port, worker_processes=2, shards=2).start(attempts=1)
            break
        except h.TestFailure as e:  # the port taken meanwhile: rare, retried
            h.log(f"restart on port {port}: {e}")
            await asyncio.sleep(1)
    h.check(srv2 is not None, f"could not start a server on port {port} again")
    for name, p in (("A", a), ("B", b)):
        await p.wait_for(f"{STATE} === 'connected'", 20, f"tab {name} to reconnect")
    await b.type_line("#msg", "back again")
    await wait_log(a, "back again", "tab B's line in tab A after the reconnect")
    h.check(len(first) <= len(await a.evaluate(LOG)), "tab A lost its log")
    h.log("server back on the same port: both tabs reconnected by themselves; B -> A works again")
    for name, p in (("A", a), ("B", b)):
        h.check(not p.errors, f"tab {name} raised JS errors: {p.errors}")
    srv2.stop()


if __name__ == "__main__":
    h.run_test(main, timeout=120)
