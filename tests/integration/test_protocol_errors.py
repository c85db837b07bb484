#!/usr/bin/python3
"""Bad input closes exactly the offending connection with the right code; others are untouched.

While a pair of clients keeps chatting (checked gap-free at the end), raw clients commit
one protocol violation each and must get a close frame with the RFC 6455 code, then a
TCP close:
  unmasked client frame -> 1002           invalid UTF-8 text (several kinds) -> 1007
  invalid UTF-8 across fragments -> 1007  reserved opcodes 3, 7, 0xB, 0xF -> 1002
  RSV1 / RSV2 / RSV3 set (no extension negotiated) -> 1002
  declared length far over max_message_bytes -> 1009
  continuation with nothing to continue / new data frame inside a fragmented one -> 1002
  fragmented ping / ping with a 126-byte payload -> 1002
Bad upgrade requests get HTTP errors: missing Sec-WebSocket-Key -> 400; version 8 -> 426
with `Sec-WebSocket-Version: 13`; POST -> 405. The server keeps serving afterwards.
"""
import os
import socket
import sys
import threading
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ringcast_harness as h  # noqa: E402
from ringcast_harness import OP_BIN, OP_CONT, OP_PING, OP_TEXT, encode_frame  # noqa: E402


class Chatters(threading.Thread):
    """Two raw clients alternately sending numbered messages; each checks the other's sequence."""

    def __init__(self, port):
        super().__init__(daemon=True)
        self.a = h.raw_client(port)
        self.b = h.raw_client(port)
        self.stop_flag = threading.Event()
        self.errors = []
        self.rounds = 0

    def run(self):
        try:
            for i in range(100000):
                if self.stop_flag.is_set():
                    return
                for src, dst, tag in ((self.a, self.b, "a"), (self.b, self.a, "b")):
                    msg = f"{tag}:{i}".encode()
                    src.send_frame(OP_TEXT, msg)
                    op, got = dst.recv_message(5)
                    if (op, got) != (OP_TEXT, msg):
                        self.errors.append(f"round {i}: expected {msg!r}, got {op} {got!r}")
                        return
                self.rounds = i + 1
                time.sleep(0.005)
        except Exception as e:  # noqa: BLE001
            self.errors.append(f"chatter failed after {self.rounds} rounds: {e!r}")


def violation(port, name, frames, want_code, chatters):
    c = h.raw_client(port)
    rounds0 = chatters.rounds
    c.send_raw(b"".join(frames))
    try:
        code, reason, skipped = c.read_until_close(5)
    except h.ConnectionGone as g:
        h.check(False, f"{name}: connection ended ({g.kind}) without a close frame; expected close {want_code}")
    except socket.timeout:
        h.check(False, f"{name}: no close frame within 5s; expected close {want_code}")
    h.check(code == want_code, f"{name}: close code {code} {reason!r}, expected {want_code}")
    gone = c.expect_eof(5)
    c.close()
    # the other pair keeps chatting in between violations
    deadline = time.monotonic() + 5
    while chatters.rounds < rounds0 + 3 and not chatters.errors and time.monotonic() < deadline:
        time.sleep(0.01)
    h.check(not chatters.errors, f"{name}: the chatting pair broke: {chatters.errors}")
    h.check(chatters.rounds >= rounds0 + 3, f"{name}: the chatting pair stalled at round {chatters.rounds}")
    h.log(f"{name:45} -> close {code} {reason!r}, then {gone}; chatters at round {chatters.rounds} (was {rounds0})")


def http_error(port, name, want_status, **kw):
    c = h.RawWS(port)
    try:
        status, headers = c.handshake(expect=None, **kw)
    except h.ConnectionGone as g:
        h.check(False, f"{name}: connection ended ({g.kind}) without an HTTP response; expected {want_status}")
    c.close()
    h.check(status == want_status, f"{name}: HTTP {status}, expected {want_status}; headers {headers}")
    h.log(f"{name:45} -> HTTP {status}")
    return headers


def main():
    srv = h.Server("protocol-errors").start()
    port = srv.port
    chatters = Chatters(port)
    chatters.start()

    F = encode_frame
    cases = [
        ("unmasked text frame", [F(OP_TEXT, b"hello", mask=False)], 1002),
        ("invalid UTF-8: 0xFF 0xFE", [F(OP_TEXT, b"ok \xff\xfe")], 1007),
        ("invalid UTF-8: overlong '/' (C0 AF)", [F(OP_TEXT, b"\xc0\xaf")], 1007),
        ("invalid UTF-8: surrogate (ED A0 80)", [F(OP_TEXT, b"a\xed\xa0\x80b")], 1007),
        ("invalid UTF-8: truncated at end of message", [F(OP_TEXT, b"abc\xe2\x82")], 1007),
        ("invalid UTF-8: above U+10FFFF (F4 90 80 80)", [F(OP_TEXT, b"\xf4\x90\x80\x80")], 1007),
        ("invalid UTF-8 in 2nd fragment", [F(OP_TEXT, b"fine", fin=False), F(OP_CONT, b"\x80bad")], 1007),
        ("reserved opcode 3", [F(3, b"x")], 1002),
        ("reserved opcode 7", [F(7, b"")], 1002),
        ("reserved control opcode 0xB", [F(0xB, b"")], 1002),
        ("reserved control opcode 0xF", [F(0xF, b"x")], 1002),
        ("RSV1 set without extension", [F(OP_TEXT, b"x", rsv=4)], 1002),
        ("RSV2 set", [F(OP_BIN, b"x", rsv=2)], 1002),
        ("RSV3 set", [F(OP_BIN, b"x", rsv=1)], 1002),
        ("declared length 2^40 (> max_message_bytes)", [F(OP_BIN, b"\x00" * 64, declared_len=1 << 40)], 1009),
        ("declared length 16 MiB + 1", [F(OP_BIN, b"\x00" * 64, declared_len=(16 << 20) + 1)], 1009),
        ("continuation without a start", [F(OP_CONT, b"orphan")], 1002),
        ("new text frame inside fragmented message", [F(OP_TEXT, b"a", fin=False), F(OP_TEXT, b"b")], 1002),
        ("fragmented ping (FIN=0)", [F(OP_PING, b"p", fin=False)], 1002),
        ("ping with 126-byte payload", [F(OP_PING, b"p" * 126)], 1002),
    ]
    for name, frames, code in cases:
        violation(port, name, frames, code, chatters)

    # Bad upgrade requests.
    http_error(port, "upgrade without Sec-WebSocket-Key", 400, omit=("Sec-WebSocket-Key",))
    hdrs = http_error(port, "upgrade with Sec-WebSocket-Version: 8", 426, version="8")
    h.check(hdrs.get("sec-websocket-version") == "13",
            f"426 response must carry 'Sec-WebSocket-Version: 13', got headers {hdrs}")
    http_error(port, "POST instead of GET", 405, method="POST")

    # The server still serves: the pair never broke, new clients connect and chat.
    time.sleep(0.2)
    chatters.stop_flag.set()
    chatters.join(10)
    h.check(not chatters.errors, f"the chatting pair broke: {chatters.errors}")
    h.check(chatters.rounds >= 10, f"the chatting pair only completed {chatters.rounds} rounds")
    x, y = h.raw_client(port), h.raw_client(port)
    x.send_frame(OP_BIN, b"after")
    op, got = y.recv_message(5)
    h.check((op, got) == (OP_BIN, b"after"), f"new pair after the errors: got {op} {got!r}")
    # chatters' sockets are still connected and receive it too
    for c in (chatters.a, chatters.b):
        op, got = c.recv_message(5)
        h.check((op, got) == (OP_BIN, b"after"), f"chatter after the errors: got {op} {got!r}")
    h.log(f"chatting pair completed {chatters.rounds} rounds without a gap; server still serving")
    h.check(srv.alive(), "supervisor died")
    h.check(len(srv.worker_pids()) == 3, f"worker count changed: {srv.worker_pids()} (seen {srv.seen_workers})")
    h.check(len(srv.seen_workers) == 3,
            f"a worker was replaced during the test (bad input must not take a worker down): seen {srv.seen_workers}")
    for c in (x, y, chatters.a, chatters.b):
        c.close()
    srv.stop(check=True)


if __name__ == "__main__":
    h.run_test(main, timeout=120)
