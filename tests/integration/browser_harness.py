"""Headless Chromium for the integration tests of ringcast's pages (the status page, the chat
example), driven over the DevTools protocol with python3-websockets.

  * Browser  -- starts Debian's chromium-headless-shell (or chromium) with a fresh profile
                and --remote-debugging-port=0, reads the port it chose from the profile's
                DevToolsActivePort, speaks CDP over one browser-level websocket; stops the
                browser by pid and removes the profile.
  * Page     -- one tab (Target.createTarget + a flat session): evaluate JS, wait for a
                condition, type like a person (Input.insertText + Enter), take a screenshot;
                JS exceptions and console errors are collected for failure messages.

No browser on the machine: TestSkip (exit 77) naming the package. Every wait is bounded.
"""

import asyncio
import base64
import itertools
import json
import os
import shutil
import signal
import subprocess
import tempfile
import time

import ringcast_harness as h

# Debian's /usr/bin entries are shell wrappers that fork the real binary: it is started
# directly, so that its pid is the browser's (and it dies with the test, PR_SET_PDEATHSIG).
CANDIDATES = ("/usr/lib/chromium/chromium-headless-shell", "chromium-headless-shell",
              "/usr/lib/chromium/chromium", "chromium")
# As root Chromium refuses to start without --no-sandbox; the rest keep a test run quiet and
# free of anything it did not ask for (no network, no updates, no throttled timers).
FLAGS = ["--no-sandbox", "--headless", "--disable-gpu", "--no-first-run", "--disable-background-networking",
         "--disable-component-update", "--disable-sync", "--disable-background-timer-throttling",
         "--disable-renderer-backgrounding", "--disable-backgrounding-occluded-windows",
         "--window-size=1280,1000", "--remote-debugging-port=0"]


def chromium_binary():
    for name in CANDIDATES:
        path = shutil.which(name)
        if path:
            return os.path.realpath(path)
    raise h.TestSkip("no headless Chromium: install Debian's chromium-headless-shell "
                     "(deploy/install-deps.sh does)")


def _own_group_dying_with_us():
    os.setpgid(0, 0)
    h._pdeathsig_term()


def group_alive(pgid):
    """Whether any live (not zombie) process is in the group."""
    for d in os.listdir("/proc"):
        if d.isdigit():
            try:
                if os.getpgid(int(d)) == pgid and h.pid_alive(int(d)):
                    return True
            except ProcessLookupError:
                pass
    return False


class Browser:
    def __init__(self, name="browser"):
        self.name = name
        self.binary = chromium_binary()
        self.profile = tempfile.mkdtemp(prefix="ringcast-it-chromium-")
        self.log_path = os.path.join(self.profile, "chromium.log")
        self.proc = None
        self.ws = None
        self.ids = itertools.count(1)
        self.pending = {}
        self.sessions = {}  # sessionId -> Page
        self.reader = None

    async def start(self, timeout=30.0):
        import websockets
        with open(self.log_path, "ab") as log_file:
            self.proc = subprocess.Popen([self.binary] + FLAGS + [f"--user-data-dir={self.profile}", "about:blank"],
                                         stdin=subprocess.DEVNULL, stdout=log_file, stderr=log_file,
                                         preexec_fn=_own_group_dying_with_us, close_fds=True)
        active = os.path.join(self.profile, "DevToolsActivePort")
        deadline = time.monotonic() + timeout
        while True:
            if self.proc.poll() is not None:
                raise h.TestFailure(f"{self.name}: {self.binary} exited with {self.proc.returncode}: "
                                    + h.tail(self.log_path, 3000))
            try:
                with open(active) as f:
                    lines = f.read().split()
                if len(lines) >= 2:
                    break
            except OSError:
                pass
            if time.monotonic() > deadline:
                raise h.TestFailure(f"{self.name}: no DevToolsActivePort within {timeout}s: "
                                    + h.tail(self.log_path, 3000))
            await asyncio.sleep(0.05)
        url = f"ws://127.0.0.1:{int(lines[0])}{lines[1]}"
        self.ws = await asyncio.wait_for(websockets.connect(url, max_size=None, ping_interval=None), timeout)
        self.reader = asyncio.get_running_loop().create_task(self._read())
        h.log(f"{self.name}: {os.path.basename(self.binary)} pid={self.proc.pid} devtools {url}")
        return self

    async def _read(self):
        import websockets
        try:
            async for raw in self.ws:
                msg = json.loads(raw)
                if "id" in msg:
                    fut = self.pending.pop(msg["id"], None)
                    if fut is not None and not fut.done():
                        fut.set_result(msg)
                elif msg.get("sessionId") in self.sessions:
                    self.sessions[msg["sessionId"]].on_event(msg["method"], msg.get("params", {}))
        except websockets.ConnectionClosed:
            pass
        for fut in self.pending.values():
            if not fut.done():
                fut.set_exception(h.TestFailure(f"{self.name}: DevTools connection closed"))

    async def send(self, method, params=None, session=None, timeout=15.0):
        msg_id = next(self.ids)
        msg = {"id": msg_id, "method": method, "params": params or {}}
        if session:
            msg["sessionId"] = session
        fut = asyncio.get_running_loop().create_future()
        self.pending[msg_id] = fut
        await self.ws.send(json.dumps(msg))
        try:
            answer = await asyncio.wait_for(fut, timeout)
        except asyncio.TimeoutError:
            raise h.TestFailure(f"{self.name}: {method} not answered within {timeout}s")
        if "error" in answer:
            raise h.TestFailure(f"{self.name}: {method} failed: {answer['error']}")
        return answer.get("result", {})

    async def new_page(self, url):
        target = (await self.send("Target.createTarget", {"url": "about:blank"}))["targetId"]
        session = (await self.send("Target.attachToTarget", {"targetId": target, "flatten": True}))["sessionId"]
        page = Page(self, target, session)
        self.sessions[session] = page
        await page.send("Runtime.enable")
        await page.send("Page.enable")
        await page.send("Page.navigate", {"url": url})
        return page

    async def stop(self):
        if self.ws is not None:
            try:
                await asyncio.wait_for(self.ws.close(), 3)
            except Exception:  # noqa: BLE001 - the browser goes anyway
                pass
        if self.reader is not None:
            self.reader.cancel()
        if self.proc is not None:
            # The browser's helpers (zygotes, renderers, GPU, network) share its process group,
            # whose id is the browser's pid: signal that group, and wait until it is empty so
            # that nothing writes into the profile as it is removed.
            group = self.proc.pid
            for sig, wait_s in ((signal.SIGTERM, 10), (signal.SIGKILL, 5)):
                try:
                    os.killpg(group, sig)
                except ProcessLookupError:
                    break
                deadline = time.monotonic() + wait_s
                while group_alive(group) and time.monotonic() < deadline:
                    self.proc.poll()  # reaps the browser itself
                    time.sleep(0.05)
                if not group_alive(group):
                    break
            self.proc.poll()
        shutil.rmtree(self.profile, ignore_errors=True)


class Page:
    def __init__(self, browser, target, session):
        self.browser = browser
        self.target = target
        self.session = session
        self.errors = []  # uncaught exceptions and console.error lines

    def on_event(self, method, params):
        if method == "Runtime.exceptionThrown":
            d = params.get("exceptionDetails", {})
            self.errors.append(f"exception: {d.get('exception', {}).get('description') or d.get('text')}")
        elif method == "Runtime.consoleAPICalled" and params.get("type") == "error":
            self.errors.append("console.error: " + " ".join(str(a.get("value", a.get("description")))
                                                            for a in params.get("args", [])))

    async def send(self, method, params=None, timeout=15.0):
        return await self.browser.send(method, params, session=self.session, timeout=timeout)

    async def evaluate(self, expression):
        """The value of a JS expression (JSON-able; promises awaited); a JS exception fails."""
        r = await self.send("Runtime.evaluate", {"expression": expression, "returnByValue": True,
                                                 "awaitPromise": True})
        if "exceptionDetails" in r:
            d = r["exceptionDetails"]
            raise h.TestFailure(f"evaluating {expression[:120]!r}: "
                                f"{d.get('exception', {}).get('description') or d.get('text')}")
        return r.get("result", {}).get("value")

    async def wait_for(self, expression, timeout, what, interval=0.1):
        """Polls a JS expression until it is truthy; returns its value."""
        deadline = time.monotonic() + timeout
        last = None
        while time.monotonic() < deadline:
            try:
                last = await self.evaluate(expression)
            except h.TestFailure as e:  # e.g. the page is still loading
                last = str(e)
            else:
                if last:
                    return last
            await asyncio.sleep(interval)
        raise h.TestFailure(f"timed out after {timeout}s waiting for {what} (last value {str(last)[:300]!r}; "
                            f"page errors {self.errors[:5]})")

    async def type_line(self, selector, text):
        """Focus an input, type text as keyboard input, press Enter."""
        await self.evaluate(f"document.querySelector({json.dumps(selector)}).focus()")
        await self.send("Input.insertText", {"text": text})
        for kind in ("keyDown", "keyUp"):
            params = {"type": kind, "key": "Enter", "code": "Enter", "windowsVirtualKeyCode": 13}
            if kind == "keyDown":
                params["text"] = "\r"
            await self.send("Input.dispatchKeyEvent", params)

    async def screenshot(self, path):
        data = (await self.send("Page.captureScreenshot", {"format": "png", "captureBeyondViewport": True}))["data"]
        with open(path, "wb") as f:
            f.write(base64.b64decode(data))
        return path
