#!/usr/bin/python3
"""examples/client.py (python3-websockets) and examples/client.js (npm ws) against the real
server, each run as a user would: `client URL`, lines on stdin, messages on stdout.

For each example, with one python3-websockets peer connected beside it:
  * it says "connected to URL" on stderr;
  * a line written to its stdin reaches the peer, unchanged (UTF-8 included), and is not
    echoed back to the example;
  * text the peer sends is printed on one line, a binary message as "[binary, N bytes]";
  * the two examples side by side reach each other;
  * end of stdin closes the connection cleanly: exit status 0, the server counts one
    connection fewer;
  * a stopped server (1001) ends the example with status 0 and "closed: 1001".
"""
import asyncio
import os
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ringcast_harness as h  # noqa: E402


class Example:
    """One example client as a subprocess; its stdout and stderr collected line by line."""

    def __init__(self, name, argv, env=None):
        self.name = name
        self.argv = argv
        self.env = env
        self.proc = None
        self.out = []
        self.err = []

    async def start(self, url):
        self.proc = await asyncio.create_subprocess_exec(
            *self.argv, url, stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
            env=self.env, preexec_fn=h._pdeathsig_term)
        self.readers = [asyncio.create_task(self._collect(self.proc.stdout, self.out)),
                        asyncio.create_task(self._collect(self.proc.stderr, self.err))]
        await self.wait_line(self.err, f"connected to {url}", "its connected line")
        return self

    @staticmethod
    async def _collect(stream, lines):
        while line := await stream.readline():
            lines.append(line.decode("utf-8", "replace").rstrip("\n"))

    async def wait_line(self, lines, want, what, timeout=10.0):
        await h.wait_for(lambda: want in lines, timeout,
                         lambda: f"{self.name}: {what} ({want!r}); stdout {self.out[-5:]}, stderr {self.err[-5:]}")

    async def type(self, line):
        self.proc.stdin.write(line.encode() + b"\n")
        await self.proc.stdin.drain()

    async def wait_exit(self, timeout=10.0):
        try:
            rc = await asyncio.wait_for(self.proc.wait(), timeout)
        except asyncio.TimeoutError:
            raise h.TestFailure(f"{self.name}: still running {timeout}s later; stderr {self.err[-5:]}")
        await asyncio.gather(*self.readers)
        return rc

    def kill(self):
        if self.proc is not None and self.proc.returncode is None:
            self.proc.kill()


async def next_message(peer, timeout=10.0):
    return await asyncio.wait_for(peer.recv(), timeout)


async def connections(ctl):
    _, st = await h.actl_json(ctl, "status")
    return st["totals"]["connections"]


async def main():
    h.import_websockets()
    src = h.source_dir()
    node_path = os.environ.get("NODE_PATH") or os.path.join(src, "tests", "integration", "node_modules")
    if not os.path.isdir(os.path.join(node_path, "ws")):
        raise h.TestFailure(f"npm 'ws' not found in {node_path} (deploy/install-deps.sh installs it)")
    examples = [
        Example("client.py", [sys.executable, os.path.join(src, "examples", "client.py")]),
        Example("client.js", ["node", os.path.join(src, "examples", "client.js")],
                env=dict(os.environ, NODE_PATH=node_path)),
    ]
    srv = h.Server("examples", worker_processes=2, shards=2).start()
    ctl = h.ctl_socket_of(srv)
    try:
        for ex in examples:
            await ex.start(srv.uri())
        peer = await h.ws_connect(srv.uri())
        for ex, other in (examples, examples[::-1]):
            line = f"hello from {ex.name}: d\u00e9j\u00e0 vu \u20ac"
            await ex.type(line)
            got = await next_message(peer)
            h.check(got == line, f"{ex.name}: the peer got {got!r}, want {line!r}")
            await other.wait_line(other.out, line, f"{ex.name}'s line")
            await peer.send(f"to {ex.name}")
            await ex.wait_line(ex.out, f"to {ex.name}", "the peer's text")
            await peer.send(b"\x00\x01\x02")
            await ex.wait_line(ex.out, "[binary, 3 bytes]", "the peer's binary message")
            h.check(line not in ex.out, f"{ex.name}: its own line came back: {ex.out}")
            h.log(f"{ex.name}: its line reached the peer and {other.name}; the peer's text and binary were printed")

        # End of input: a clean close.
        before = await connections(ctl)
        ex = examples[0]
        ex.proc.stdin.close()
        rc = await ex.wait_exit()
        h.check(rc == 0, f"{ex.name}: exit status {rc} after end of input; stderr {ex.err}")
        deadline = time.monotonic() + 5
        while await connections(ctl) != before - 1 and time.monotonic() < deadline:
            await asyncio.sleep(0.05)
        h.check(await connections(ctl) == before - 1, f"{ex.name}: the server still counts its connection")
        h.log(f"{ex.name}: end of input -> exit 0, {before} -> {before - 1} connections; stderr {ex.err[-1]!r}")

        # The server going away (1001) ends the other one.
        ex = examples[1]
        srv.stop()
        rc = await ex.wait_exit()
        h.check(rc == 0 and "closed: 1001" in " ".join(ex.err), f"{ex.name}: after a server stop: exit {rc}, stderr {ex.err}")
        h.log(f"{ex.name}: server stopped -> {ex.err[-1]!r}, exit 0")
        peer.transport.abort()
    finally:
        for ex in examples:
            ex.kill()


if __name__ == "__main__":
    h.run_test(main, timeout=90)
