#!/usr/bin/python3
"""A headless Chromium page (browser_harness.py) joins a channel by its URL and exchanges
messages with a python client on the same channel; clients on other channels get nothing.

3 worker processes, `"channels": "path"`.
  * The page opens `ws://127.0.0.1:PORT/rooms/7`; python3-websockets clients join
    `/rooms/7` (the peer), `/rooms/8`, `/rooms/7/x` and `/` (the root channel).
  * The page sends text and binary: the peer gets both, intact, with their types; the
    others get nothing. The peer sends text and binary: the page gets both; the rooms/8
    client sends too: the page gets nothing of it (nor does the peer).
  * `probes --connections` shows the page's connection (and the others) on its channel.
  * A second page opening `/rooms//7` (an empty segment) is refused: its WebSocket never
    opens and closes with 1006 (the browser's code for a failed handshake).
Skips (77) without Chromium.
"""
import asyncio
import json
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ringcast_harness as h  # noqa: E402
import admission_support as a  # noqa: E402
import browser_harness as bh  # noqa: E402
import channels_support as cs  # noqa: E402

PAGE_SETUP = """
window.got = []; window.state = 'connecting';
window.ws = new WebSocket(%s);
ws.binaryType = 'arraybuffer';
ws.onopen = () => { window.state = 'open'; };
ws.onclose = (e) => { window.state = 'closed ' + e.code; };
ws.onmessage = (e) => {
  if (typeof e.data === 'string') window.got.push({text: true, data: e.data});
  else window.got.push({text: false, data: Array.from(new Uint8Array(e.data))});
};
true
"""

PAGE_TEXT = "from the page on rooms/7 – ça va? 😀"
PAGE_BIN = bytes(range(256)) * 3
PEER_TEXT = "from the python peer on rooms/7 ✓"
PEER_BIN = bytes((i * 7) & 0xFF for i in range(500))
OTHER_TEXT = "from rooms/8: must not reach rooms/7"


async def open_page(browser, srv, name, path):
    html = os.path.join(srv.tmp, f"{name}.html")
    with open(html, "w") as f:
        f.write(f"<!doctype html><title>{name}</title><p>ringcast channels</p>")
    page = await browser.new_page("file://" + html)
    await page.wait_for(f"document.title === '{name}' && document.readyState === 'complete'", 10, f"page {name}")
    await page.evaluate(PAGE_SETUP % json.dumps(srv.uri(path)))
    state = await page.wait_for("window.state !== 'connecting' && window.state", 10,
                                f"page {name}'s WebSocket to open or close")
    return page, state


async def main():
    h.import_websockets()
    browser = bh.Browser()
    srv = h.Server("browser-channels", overrides={"channels": "path"}).start()
    await browser.start()
    try:
        await run(browser, srv)
    finally:
        await browser.stop()
    srv.stop(check=True)


async def run(browser, srv):
    peer = a.Collector("rooms/7", await h.ws_connect(srv.uri("/rooms/7")))
    others = [a.Collector(ch or "root", await h.ws_connect(srv.uri("/" + ch))) for ch in ("rooms/8", "rooms/7/x", "")]
    page, state = await open_page(browser, srv, "channels", "/rooms/7")
    h.check(state == "open", f"the page's WebSocket to /rooms/7: {state}")
    await asyncio.sleep(0.3)  # every worker has the page subscribed

    rows = await cs.probe_rows(srv)
    chans = sorted(r.get("channel", "<none>") for r in rows.values())
    h.check(chans == sorted(["rooms/7", "rooms/7", "rooms/8", "rooms/7/x", ""]),
            f"probes --connections channels: {chans} (rows {list(rows.values())[:2]})")
    h.log(f"probes: connections on channels {chans}")

    # Page -> peer.
    await page.evaluate(f"ws.send({json.dumps(PAGE_TEXT)}); ws.send(new Uint8Array({json.dumps(list(PAGE_BIN))}).buffer); true")
    await h.wait_for(lambda: len(peer.messages) >= 2, 10, lambda: f"the peer to get the page's 2 messages ({peer.messages})")
    h.check(peer.messages[:2] == [PAGE_TEXT, PAGE_BIN],
            f"peer got {[(type(m).__name__, m[:40]) for m in peer.messages]}")
    h.log("the python peer on rooms/7 got the page's text and binary intact")

    # Peer -> page, and rooms/8 -> no one on rooms/7.
    await others[0].ws.send(OTHER_TEXT)
    await peer.ws.send(PEER_TEXT)
    await peer.ws.send(PEER_BIN)
    await page.wait_for("window.got.length >= 2", 10, "the peer's messages in the page")
    await asyncio.sleep(0.5)  # a stray would arrive now
    got = await page.evaluate("window.got")
    h.check(got == [{"text": True, "data": PEER_TEXT}, {"text": False, "data": list(PEER_BIN)}],
            f"page got {[(g['text'], str(g['data'])[:60]) for g in got]}, want exactly the peer's text and binary")
    h.check(len(peer.messages) == 2, f"the peer got more than the page's 2 messages: {peer.messages[2:]}")
    for c in others:
        h.check(not c.messages, f"{c.name} got {c.messages[:3]}, want nothing (other channel)")
    h.check(await page.evaluate("window.state") == "open", "the page's WebSocket closed")
    h.log("the page got the peer's text and binary; nothing of rooms/8; rooms/8, rooms/7/x and the root got nothing")

    bad, state = await open_page(browser, srv, "badpath", "/rooms//7")
    h.check(state == "closed 1006", f"a page opening /rooms//7: WebSocket state {state!r}, want 'closed 1006'")
    h.log("a page opening /rooms//7: refused, the WebSocket closed 1006 without opening")
    h.check(not page.errors, f"page errors: {page.errors}")
    await page.evaluate("ws.close(1000); true")
    await h.close_all([peer.ws] + [c.ws for c in others])


if __name__ == "__main__":
    h.run_test(main, timeout=60)
