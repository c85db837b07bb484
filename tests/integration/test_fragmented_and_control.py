#!/usr/bin/python3
"""Fragmentation, control frames and frame splitting, with a raw client we control byte by byte.

  * a text message sent in 5 fragments (a multi-byte UTF-8 character split across two of
    them) with a ping interleaved arrives at every other client as ONE text message; the
    pong comes back to the sender with the ping's payload; likewise a binary message in
    5 fragments with an empty ping in between;
  * a frame (16-bit extended length, 300 B) and a small frame written byte by byte over
    separate send() calls (TCP_NODELAY) arrive intact;
  * several frames in one send() arrive as separate messages, in order;
  * a close from the client (code 4001 + reason) gets a close reply echoing the code, then
    the server closes TCP; the other clients keep working.
"""
import os
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ringcast_harness as h  # noqa: E402
from ringcast_harness import OP_BIN, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT  # noqa: E402

N_OTHERS = 6


def expect_all(others, op, data, what, timeout=5.0):
    for i, c in enumerate(others):
        got_op, got = c.recv_message(timeout)
        h.check(got_op != "close", f"{what}: client {i} got a close frame {got}")
        h.check((got_op, got) == (op, data),
                f"{what}: client {i} got op={got_op} {got[:60]!r}... ({len(got)} B), expected op={op} "
                f"{data[:60]!r}... ({len(data)} B)")


def expect_quiet(c, what, timeout=0.3):
    """Nothing (but pings/pongs) arrives at c within timeout."""
    try:
        op, data = c.recv_message(timeout)
    except h.socket.timeout:
        return
    h.check(False, f"{what}: unexpected message op={op} {data!r}")


def main():
    srv = h.Server("fragments").start()
    sender = h.raw_client(srv.port)
    others = [h.raw_client(srv.port) for _ in range(N_OTHERS)]
    # barrier: everyone registered everywhere
    sender.send_frame(OP_TEXT, b"sync")
    expect_all(others, OP_TEXT, b"sync", "barrier")

    # 1. text in 5 fragments, "é" (C3 A9) split between fragments 2 and 3, ping in the middle.
    frags = [b"fragment-0|", b"fragment-1|\xc3", b"\xa9|fragment-2|", b"fragment-3|", b"fragment-4-end"]
    whole = b"".join(frags)
    ping_payload = b"ping-payload-123"
    sender.send_frame(OP_TEXT, frags[0], fin=False)
    sender.send_frame(OP_CONT, frags[1], fin=False)
    sender.send_frame(OP_PING, ping_payload)
    sender.send_frame(OP_CONT, frags[2], fin=False)
    sender.send_frame(OP_CONT, frags[3], fin=False)
    sender.send_frame(OP_CONT, frags[4], fin=True)
    fin, _, op, payload = sender.recv_frame(5)
    h.check(op == OP_PONG, f"after a ping the sender expected a pong, got opcode {op} {payload!r}")
    h.check(payload == ping_payload, f"pong payload {payload!r}, expected the ping's {ping_payload!r}")
    expect_all(others, OP_TEXT, whole, "5-fragment text message with interleaved ping")
    expect_quiet(sender, "sender after its fragmented message (no self-echo)")
    h.log("5-fragment text with interleaved ping: one message at every other client; pong echoed the payload")

    # 2. binary in 5 fragments (one of them empty) with an empty ping after the first.
    bfrags = [bytes(range(256)), b"", bytes(range(255, -1, -1)) * 3, b"\x00" * 1000, b"\xff"]
    sender.send_frame(OP_BIN, bfrags[0], fin=False)
    sender.send_frame(OP_PING, b"")
    for i, f in enumerate(bfrags[1:], 1):
        sender.send_frame(OP_CONT, f, fin=(i == len(bfrags) - 1))
    fin, _, op, payload = sender.recv_frame(5)
    h.check(op == OP_PONG and payload == b"", f"empty ping: expected an empty pong, got opcode {op} {payload!r}")
    expect_all(others, OP_BIN, b"".join(bfrags), "5-fragment binary message with interleaved empty ping")
    h.log("5-fragment binary with interleaved empty ping: intact")

    # 3. frames written byte by byte in separate send() calls.
    big = ("byte-by-byte \u00e9\u20ac " * 20).encode()[:300]
    big = big.decode("utf-8", "ignore").encode()  # keep it valid UTF-8
    t0 = time.monotonic()
    sender.send_bytes_slowly(h.encode_frame(OP_TEXT, big), delay=0.001)
    expect_all(others, OP_TEXT, big, f"text frame of {len(big)} B sent one byte per send()")
    small = b"\x01\x02tiny"
    sender.send_bytes_slowly(h.encode_frame(OP_BIN, small), delay=0.003)
    expect_all(others, OP_BIN, small, "small binary frame sent one byte per send()")
    # a ping split byte by byte too
    sender.send_bytes_slowly(h.encode_frame(OP_PING, b"split-ping"), delay=0.002)
    fin, _, op, payload = sender.recv_frame(5)
    h.check(op == OP_PONG and payload == b"split-ping", f"byte-split ping: got opcode {op} {payload!r}")
    h.log(f"byte-by-byte frames intact ({time.monotonic() - t0:.2f}s)")

    # 4. several frames in one send(): separate messages, in order.
    batch = [(OP_TEXT, b"one"), (OP_BIN, b"\x02two"), (OP_TEXT, b"three"), (OP_BIN, b""), (OP_TEXT, b"")]
    sender.send_raw(b"".join(h.encode_frame(op, p) for op, p in batch))
    for op, p in batch:
        expect_all(others, op, p, f"frame {p!r} of a 5-frame batch written in one send()")
    h.log("5 frames in one send(): 5 messages in order")

    # 5. client-initiated close: the reply echoes the code, then TCP is closed.
    sender.send_frame(OP_CLOSE, h.close_payload(4001, "bye now"))
    code, reason, skipped = sender.read_until_close(5)
    h.check(code == 4001, f"close reply code {code} {reason!r}, expected the client's 4001 echoed")
    gone = sender.expect_eof(5)
    h.log(f"client close 4001: server replied {code} {reason!r} and closed TCP ({gone})")

    # A close with 1000 and no reason from another client, ditto.
    closer = others.pop()
    closer.send_frame(OP_CLOSE, h.close_payload(1000))
    code, reason, _ = closer.read_until_close(5)
    h.check(code == 1000, f"close 1000: reply code {code}, expected 1000")
    closer.expect_eof(5)

    # The rest keep chatting.
    others[0].send_frame(OP_TEXT, b"still here")
    expect_all(others[1:], OP_TEXT, b"still here", "after two clients closed")
    for c in others:
        c.close()
    srv.stop(check=True)


if __name__ == "__main__":
    h.run_test(main, timeout=90)
