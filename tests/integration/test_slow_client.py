#!/usr/bin/python3
"""A client that stops reading is cut off at max_buffered_bytes (1008 "slow client" or a
dropped connection); nobody else loses anything and nobody else is stalled.

max_buffered_bytes = 256 KiB. One raw client completes the handshake and then never reads
(SO_RCVBUF 4 KiB set before connect). 50 websockets clients read normally. One sender
blasts ~40 MiB as 2560 messages of ~16 KiB (text and binary alternating), paced by a
window of at most 8 messages (128 KiB) ahead of the slowest *normal* reader, so that a
normal client can never legitimately exceed the 256 KiB bound. Checks:
  * all 50 normal clients get all 2560 messages exactly once, in order, byte-exact, none is
    closed, and they never stall for 20 s;
  * the bound is real: every 16 messages the test estimates what the server holds for the
    slow client in user space (bytes of frames sent to it minus the server socket's Send-Q
    from `ss` minus the slow client's unread Recv-Q); once that is over 2 x 256 KiB, the
    server must drop the slow client (its socket leaves ESTABLISHED) within 5 s;
  * afterwards the slow client, read out, holds an in-order prefix of the stream followed
    by a close frame 1008 (reason mentioning "slow") or EOF / reset, within a bounded time.
"""
import asyncio
import fcntl
import os
import socket
import struct
import sys
import termios
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ringcast_harness as h  # noqa: E402

MAX_BUFFERED = 256 * 1024
N_NORMAL = 50
MSG_BYTES = 16 * 1024
N_MSGS = 2560            # 2560 x 16 KiB = 40 MiB
WINDOW = 8               # messages the sender may run ahead of the slowest normal reader
SENDER_SID = 7
GIVE_UP_S = 5.0          # once > 2x max_buffered_bytes is queued, the slow client must be dropped this fast


def read_slow_client(slow, timeout):
    """Read everything the slow client has: (n_data_msgs, prefix_ok, ending, detail)."""
    deadline = time.monotonic() + timeout
    n = 0
    first_bad = None
    ending = None
    detail = ""
    slow.sock.settimeout(2)
    try:
        while time.monotonic() < deadline:
            op, data = slow.recv_message(max(0.01, deadline - time.monotonic()), auto_pong=False)
            if op == "close":
                ending, detail = "close", data
                break
            key = h.parse_msg(data.decode() if op == h.OP_TEXT else data)
            if key != (SENDER_SID, n) and first_bad is None:
                first_bad = f"message {n}: got key {key}"
            n += 1
        else:
            ending = "timeout"
    except h.ConnectionGone as g:
        ending = g.kind
    except socket.timeout:
        ending = "timeout"
    return n, first_bad, ending, detail


async def main():
    h.import_websockets()
    srv = h.Server("slow-client", overrides={"max_buffered_bytes": MAX_BUFFERED}).start()

    msgs = [h.make_msg(SENDER_SID, seq, MSG_BYTES - 64) for seq in range(N_MSGS)]
    total_bytes = sum(len(m.encode()) if isinstance(m, str) else len(m) for m in msgs)

    slow = h.RawWS(srv.port, rcvbuf=4096)
    slow.handshake()
    h.log(f"slow client connected from port {slow.local_port} with SO_RCVBUF "
          f"{slow.sock.getsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF)}; it will not read until the blast is over")

    sender = await h.ws_connect(srv.uri())
    normal = await h.ws_connect_many(srv.uri(), N_NORMAL)
    progress = asyncio.Event()
    receivers = []
    for i, ws in enumerate(normal):
        r = h.Receiver(f"n{i}", ws, expect_fn=lambda sid, seq: msgs[seq] if sid == SENDER_SID else None)
        r.on_message = progress.set
        receivers.append(r.start())
    await h.sync_barrier(sender, receivers, "go")
    # the slow client got "sync:go" too; it stays unread in its socket (it is not a test message)

    t0 = time.monotonic()
    stalls = [0]

    async def wait_readers(upto, what):
        """Wait until every normal reader has at least `upto` messages (bounded, with a stall report)."""
        deadline = time.monotonic() + 20
        while True:
            lowest = min(r.got(SENDER_SID) for r in receivers)
            if lowest >= upto:
                return
            dead = [(r.name, r.closed) for r in receivers if r.closed]
            h.check(not dead, f"{len(dead)} normal clients closed during the blast ({what}): {dead[:5]}")
            if time.monotonic() > deadline:
                got = sorted(r.got(SENDER_SID) for r in receivers)
                h.check(False, f"normal readers stalled for 20s: slowest at {lowest} ({what}); counts {got[:10]}... "
                               f"errors {[r.errors[:2] for r in receivers if r.errors][:3]} "
                               f"(one slow client must not stall the others)\n" + srv.diagnose())
            progress.clear()
            stalls[0] += 1
            try:
                await asyncio.wait_for(progress.wait(), 1)
            except asyncio.TimeoutError:
                pass

    # How much does the server hold for the slow client in user space? bytes of frames sent to it,
    # minus what the kernel holds (server socket Send-Q from ss, slow client's Recv-Q via FIONREAD).
    watch = h.have_ss()
    sent_to_slow = 2 + len(b"sync:go")
    gave_up = None          # (seq, state) once the server's socket to the slow client left ESTABLISHED
    bound_violation = None
    max_queued_seen = 0

    def slow_socket():
        lines = h.ss_lines(["-tnH", f"( sport = :{srv.port} and dport = :{slow.local_port} )"])
        if not lines:
            return "gone", 0
        f = lines[0].split()
        return f[0], int(f[2])

    def slow_queued():
        st, sendq = slow_socket()
        recvq = struct.unpack("i", fcntl.ioctl(slow.sock.fileno(), termios.FIONREAD, b"\0\0\0\0"))[0]
        return st, sent_to_slow - sendq - recvq, sendq, recvq

    for seq, m in enumerate(msgs):
        await wait_readers(seq - WINDOW + 1, f"sending {seq}")
        await sender.send(m)
        n = len(m.encode()) if isinstance(m, str) else len(m)
        sent_to_slow += n + (2 if n < 126 else 4 if n < 65536 else 10)
        if watch and gave_up is None and bound_violation is None and seq % 16 == 15:
            st, queued, sendq, recvq = slow_queued()
            if st != "ESTAB":
                gave_up = (seq, st)
                h.log(f"server gave up on the slow client by message {seq} (socket {st}); "
                      f"estimated user-space queue {max_queued_seen} B at the previous check")
                continue
            max_queued_seen = max(max_queued_seen, queued)
            if queued >= 2 * MAX_BUFFERED:
                # Over twice the bound by our estimate: let everything settle, re-measure, then the
                # server must drop the slow client within GIVE_UP_S (it cannot flush a close frame
                # into a full socket, so a prompt close/shutdown/reset is the only way out).
                await wait_readers(seq + 1, "settling before the bound check")
                await asyncio.sleep(0.3)
                st, queued, sendq, recvq = slow_queued()
                if st == "ESTAB" and queued >= 2 * MAX_BUFFERED:
                    h.log(f"after {seq + 1} messages ~{queued} B are queued for the slow client in the server "
                          f"(kernel holds Send-Q {sendq} + Recv-Q {recvq}); waiting up to {GIVE_UP_S}s for it to be dropped")
                    deadline = time.monotonic() + GIVE_UP_S
                    while st == "ESTAB" and time.monotonic() < deadline:
                        await asyncio.sleep(0.1)
                        st, queued2, _, _ = slow_queued()
                    if st == "ESTAB":
                        bound_violation = (f"max_buffered_bytes={MAX_BUFFERED} is not enforced: ~{queued} B "
                                           f"({queued / MAX_BUFFERED:.1f}x the bound) were queued for a client that "
                                           f"reads nothing, and its connection was still open {GIVE_UP_S}s later")
                        h.log("BOUND VIOLATION: " + bound_violation)
                    else:
                        gave_up = (seq, st)
                        h.log(f"server dropped the slow client with ~{queued} B queued (socket now {st})")
                elif st != "ESTAB":
                    gave_up = (seq, st)
    await h.wait_for(lambda: all(r.got(SENDER_SID) >= N_MSGS or r.closed for r in receivers), 30,
                     "normal clients to receive the whole blast")
    blast_s = time.monotonic() - t0
    h.log(f"blast: {N_MSGS} messages, {total_bytes / 1e6:.1f} MB, to {N_NORMAL} readers in {blast_s:.1f}s "
          f"({total_bytes * N_NORMAL / blast_s / 1e6:.0f} MB/s delivered, sender waited {stalls}x)")
    await asyncio.sleep(0.3)

    problems = []
    for r in receivers:
        if r.closed:
            problems.append(f"{r.name}: closed {r.closed}")
        if r.got(SENDER_SID) != N_MSGS:
            problems.append(f"{r.name}: got {r.got(SENDER_SID)} of {N_MSGS}")
        if r.errors:
            problems.append(f"{r.name}: {r.n_errors} errors, first {r.errors[:3]}")
    h.check(not problems, "normal clients were affected by the slow one:\n  " + "\n  ".join(problems[:20]))
    h.log(f"all {N_NORMAL} normal clients got all {N_MSGS} messages in order, byte-exact")

    # Now read what the slow client has: a prefix of the stream, then close 1008 or EOF/RST.
    t1 = time.monotonic()
    # First the barrier message it was sent before the blast, then the blast's prefix.
    try:
        op, data = slow.recv_message(5, auto_pong=False)
    except h.ConnectionGone as g:
        op, data = g.kind, None
    except socket.timeout:
        op, data = "timeout", None
    if op == "close":
        n, first_bad, ending, detail = 0, None, "close", data
    elif op in ("EOF", "RST", "timeout"):
        n, first_bad, ending, detail = 0, None, op, ""
    else:
        h.check(data == b"sync:go", f"slow client: first message {data[:40]!r}, expected the barrier b'sync:go'")
        n, first_bad, ending, detail = await asyncio.to_thread(read_slow_client, slow, 20)
    h.log(f"slow client: read {n} of {N_MSGS} blast messages, then {ending} {detail} "
          f"({time.monotonic() - t1:.2f}s of reading)")
    h.check(first_bad is None, f"slow client: the messages it got are not an in-order prefix: {first_bad}")
    h.check(ending != "timeout",
            f"slow client was NOT cut off: it read {n} of {N_MSGS} messages and the connection is still open "
            f"(max_buffered_bytes={MAX_BUFFERED} must bound what is queued for it)")
    h.check(n < N_MSGS, f"slow client received all {N_MSGS} messages before being closed: nothing was bounded")
    h.check(bound_violation is None, bound_violation)
    if ending == "close":
        code, reason = detail
        h.check(code == 1008, f"slow client: close code {code} {reason!r}, expected 1008")
        h.check("slow" in reason.lower(), f"slow client: close reason {reason!r} should say it is a slow client")
    slow.close()
    if "event=slow_client_closed" in srv.read_stderr():
        h.log("server log: " + [l for l in srv.read_stderr().splitlines() if "event=slow_client_closed" in l][0])

    # The service still works for everyone else.
    await normal[0].send("sync:after")
    await h.wait_for(lambda: all("sync:after" in r.syncs for r in receivers[1:]), 10, "a message after the blast")
    h.check(srv.alive(), "supervisor died")
    await h.close_all([sender] + normal)
    srv.stop(check=True)


if __name__ == "__main__":
    h.run_test(main, timeout=180)
