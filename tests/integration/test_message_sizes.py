#!/usr/bin/python3
"""Messages of every length class arrive byte for byte; the 16 MiB limit is exact.

Sizes 0, 1, 125, 126 (first 16-bit length), 65535 (last 16-bit), 65536 (first 64-bit),
1 MiB and 16 MiB (= the default max_message_bytes, so it must be delivered), each as text
(valid UTF-8 with multi-byte characters, exact byte length) and as binary; every receiver
compares content and type exactly. Then one byte over the limit (text and binary) closes
the sender with 1009, nobody receives it, and the others keep working.
"""
import asyncio
import hashlib
import os
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ringcast_harness as h  # noqa: E402

LIMIT = 16 * 1024 * 1024  # default max_message_bytes (not set in the config on purpose)
SIZES = [0, 1, 125, 126, 65535, 65536, 1024 * 1024, LIMIT]
N_RECEIVERS = 5


def text_of_size(n, salt):
    """A str whose UTF-8 encoding is exactly n bytes, mixing 1-, 2-, 3- and 4-byte characters."""
    unit = "a\u00e9\u20ac\U0001F600" + chr(ord("A") + salt % 26)  # 1+2+3+4+1 = 11 bytes
    s = unit * (n // 11) + "z" * (n % 11)
    assert len(s.encode()) == n
    return s


def binary_of_size(n, salt):
    block = hashlib.sha256(f"{salt}".encode()).digest() * 2048  # 64 KiB of varied bytes
    return (block * (n // len(block) + 1))[:n]


def describe(m):
    b = m.encode() if isinstance(m, str) else m
    return f"{type(m).__name__}[{len(b)}] sha256={hashlib.sha256(b).hexdigest()[:12]}"


async def recv_one(ws, timeout):
    return await asyncio.wait_for(ws.recv(), timeout)


async def main():
    h.import_websockets()
    srv = h.Server("sizes").start()
    sender = await h.ws_connect(srv.uri())
    receivers = await h.ws_connect_many(srv.uri(), N_RECEIVERS)
    # barrier: all registered
    await sender.send("sync:0")
    for r in receivers:
        got = await recv_one(r, 10)
        h.check(got == "sync:0", f"barrier: got {got!r}")

    salt = 0
    for size in SIZES:
        for kind in ("text", "binary"):
            salt += 1
            msg = text_of_size(size, salt) if kind == "text" else binary_of_size(size, salt)
            t0 = asyncio.get_running_loop().time()
            await asyncio.wait_for(sender.send(msg), 60)
            for i, r in enumerate(receivers):
                got = await recv_one(r, 60)
                h.check(type(got) is type(msg),
                        f"{kind} {size} B: receiver {i} got {type(got).__name__}, expected {type(msg).__name__}")
                if got != msg:
                    h.check(False, f"{kind} {size} B: receiver {i} got {describe(got)}, expected {describe(msg)}")
            h.log(f"{kind:6} {size:>9} B delivered intact to {N_RECEIVERS} receivers "
                  f"({asyncio.get_running_loop().time() - t0:.2f}s)")
            # The sender must not get its own message back.
            try:
                echo = await asyncio.wait_for(sender.recv(), 0.05)
                h.check(False, f"sender received its own {kind} {size} B message back: {describe(echo)}")
            except asyncio.TimeoutError:
                pass

    # One byte over the limit: the sender is closed with 1009; nobody receives it.
    for kind in ("binary", "text"):
        big_sender = await h.ws_connect(srv.uri())
        await big_sender.send("sync:" + kind)
        for r in receivers + [sender]:
            got = await recv_one(r, 10)
            h.check(got == "sync:" + kind, f"barrier before oversize {kind}: got {got!r}")
        msg = text_of_size(LIMIT + 1, 99) if kind == "text" else binary_of_size(LIMIT + 1, 99)
        send_task = asyncio.ensure_future(big_sender.send(msg))
        # The server should answer as soon as it has parsed the frame header: we look at the
        # close frame websockets has received (close_rcvd, websockets 10.4 legacy protocol)
        # rather than waiting for the whole closing handshake, which cannot finish while our
        # 16 MiB write is stuck in a socket the server no longer reads.
        await h.wait_for(lambda: big_sender.close_rcvd is not None or big_sender.closed, 15,
                         f"the server to close the sender of a {kind} message of {LIMIT + 1} B (limit + 1)")
        rcvd = big_sender.close_rcvd
        code, reason = (rcvd.code, rcvd.reason) if rcvd is not None else (None, "no close frame, TCP closed")
        send_task.cancel()
        try:
            big_sender.transport.abort()
        except (AttributeError, RuntimeError):
            pass  # already closed: the server's close won the race (asyncio then has no loop)
        await asyncio.gather(send_task, return_exceptions=True)
        h.check(code == 1009, f"{kind} message of {LIMIT + 1} B: sender closed with {code} {reason!r}, expected 1009")
        h.log(f"{kind} {LIMIT + 1} B (limit + 1): sender closed with 1009 {reason!r}")

    # Nobody got the oversized messages; the others are alive and still chatting.
    await sender.send("after")
    for i, r in enumerate(receivers):
        got = await recv_one(r, 10)
        h.check(got == "after", f"receiver {i}: after the oversized messages expected 'after', got {describe(got)}"
                " (an oversized message must not be delivered)")
    await receivers[0].send(b"\x00back")
    got = await recv_one(sender, 10)
    h.check(got == b"\x00back", f"sender: expected b'\\x00back', got {got!r}")
    await h.close_all([sender] + receivers)
    h.log("clients closed")
    srv.stop(check=True)
    h.log("server stopped")


if __name__ == "__main__":
    h.run_test(main, timeout=150)
