#!/usr/bin/python3
"""A headless Chromium page (browser_harness.py) negotiates permessage-deflate with ringcast and
exchanges text and binary with non-browser clients, on 3 worker processes.

  * the page's WebSocket reports `extensions` = the server's answer to Chromium's offer
    ("permessage-deflate; client_max_window_bits"): permessage-deflate with
    server_no_context_takeover, and no client_no_context_takeover (Chromium did not offer it,
    so it keeps its context and the server inflates with a kept window);
  * the page sends compressible text (a 64 KB JSON string, and ten short ones in a row, so its
    context carries over), UTF-8 text, and binary (compressible and random); a
    python3-websockets client with compression and one without get each exactly, with its type;
  * both python clients send text and binary; the page gets each once, intact;
  * `ringcastctl probes --connections` shows the page's connection with the extension; the
    server inflated the page's messages and compressed the python clients' ones.
Skips (77) without Chromium.
"""
import asyncio
import json
import os
import random
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ringcast_harness as h  # noqa: E402
import browser_harness as bh  # noqa: E402

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

BIG_TEXT = json.dumps([{"id": i, "name": f"item {i}", "tags": ["a", "b", "ç€😀"]} for i in range(900)])
SMALL = [json.dumps({"seq": i, "msg": "the same short JSON from the page, again"}) for i in range(10)]
UTF8 = "héllo wörld – ça va? 😀 " * 20
BIN_Z = bytes(range(256)) * 16
BIN_R = random.Random(7).randbytes(3000)


async def main():
    websockets = h.import_websockets()
    browser = bh.Browser()
    srv = h.Server("browser-deflate").start()
    await browser.start()
    try:
        await run(browser, srv)
    finally:
        await browser.stop()
    srv.stop(check=True)


async def run(browser, srv):
    py_z = await h.ws_connect(srv.uri(), compression="deflate")
    py_plain = await h.ws_connect(srv.uri())
    # A file:// page of our own, like the chat example's (Chromium keeps an opaque data: or
    # about:blank origin from reaching a loopback address).
    html = os.path.join(srv.tmp, "deflate.html")
    with open(html, "w") as f:
        f.write("<!doctype html><title>deflate</title><p>ringcast</p>")
    page = await browser.new_page("file://" + html)
    await page.wait_for("document.title === 'deflate' && document.readyState === 'complete'", 10, "the page")
    await page.evaluate(PAGE_SETUP % json.dumps(srv.uri()))
    await page.wait_for("window.state === 'open' || window.state", 10, "the page's WebSocket to open")
    state = await page.wait_for("window.state !== 'connecting' && window.state", 10, "the page's WebSocket to open")
    h.check(state == "open", f"the page's WebSocket: {state}")
    ext = await page.evaluate("ws.extensions")
    h.log(f"Chromium negotiated: {ext!r}")
    h.check(ext.startswith("permessage-deflate") and "server_no_context_takeover" in ext,
            f"page: extensions {ext!r}")
    h.check("client_no_context_takeover" not in ext, f"page: unexpected client_no_context_takeover in {ext!r}")
    await asyncio.sleep(0.2)  # every producer sees the gauge

    # Page -> python clients.
    await page.evaluate(f"""
      ws.send({json.dumps(BIG_TEXT)});
      for (const s of {json.dumps(SMALL)}) ws.send(s);
      ws.send({json.dumps(UTF8)});
      ws.send(new Uint8Array({json.dumps(list(BIN_Z))}).buffer);
      ws.send(new Uint8Array({json.dumps(list(BIN_R))}).buffer);
      true""")
    want = [BIG_TEXT] + SMALL + [UTF8, BIN_Z, BIN_R]
    for name, py in (("compressing", py_z), ("plain", py_plain)):
        got = [await asyncio.wait_for(py.recv(), 10) for _ in want]
        for i, (g, w) in enumerate(zip(got, want)):
            h.check(type(g) is type(w) and g == w,
                    f"{name} python client: message {i} differs ({type(g).__name__} {len(g)} vs {len(w)})")
    h.log(f"both python clients got the page's {len(want)} messages (64 KB JSON, 10 short, UTF-8, 2 binary) intact")

    # Python clients -> page.
    from_py = [("text", "from compressing python " + "x" * 500), ("bin", bytes(range(200)) * 5),
               ("text", "from plain python ✓"), ("bin", BIN_R[:777])]
    await py_z.send(from_py[0][1])
    await py_z.send(from_py[1][1])
    await py_plain.send(from_py[2][1])
    await py_plain.send(from_py[3][1])
    await page.wait_for(f"window.got.length >= {len(from_py)}", 10, "the python clients' messages in the page")
    got = await page.evaluate("window.got")
    h.check(len(got) == len(from_py), f"page got {len(got)} messages, want {len(from_py)}")
    # Each sender's two in its order; the two senders' messages may interleave either way.
    as_sent = [(kind == "text", w if kind == "text" else list(w)) for kind, w in from_py]
    as_got = [(g["text"], g["data"]) for g in got]
    for pair in (as_sent[:2], as_sent[2:]):
        idx = [as_got.index(m) if m in as_got else -1 for m in pair]
        h.check(-1 not in idx and idx[0] < idx[1],
                f"page: a python sender's messages missing, altered or out of order ({idx}): "
                f"{[(t, str(d)[:60]) for t, d in as_got]}")
    h.log("the page got both python clients' text and binary intact")
    # The python clients also got each other's (not the page's own, which never comes back).
    await asyncio.wait_for(py_z.recv(), 5)
    await asyncio.wait_for(py_z.recv(), 5)

    _, probes = await h.actl_json(h.ctl_socket_of(srv), "probes", "--connections")
    agreements = sorted(json.dumps(c["deflate"]) for c in probes["connections"])
    h.log(f"probes --connections: {agreements}")
    h.check(sum(1 for c in probes["connections"] if c["deflate"]) == 2,
            f"two connections (page, compressing python) should show the extension: {agreements}")
    _, stats = await h.actl_json(h.ctl_socket_of(srv), "stats")
    t = stats["totals"]
    h.check(t["inflated_messages"] >= len(want) - 1 and t["deflated_messages"] > 0 and t["inflate_errors"] == 0,
            f"counters: {t}")
    h.check(await page.evaluate("window.state") == "open", "the page's WebSocket closed")
    h.check(not page.errors, f"page errors: {page.errors}")
    await page.evaluate("ws.close(1000); true")
    await h.close_all([py_z, py_plain])


if __name__ == "__main__":
    h.run_test(main, timeout=120)
