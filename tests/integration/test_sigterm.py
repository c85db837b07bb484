#!/usr/bin/python3
"""SIGTERM to the supervisor: every client gets a close frame 1001 (Going Away), the
supervisor exits 0 within shutdown_timeout_ms (3000) + 2 s, and no ringcast process
(supervisor or any worker it had) is left; the port stops accepting.
"""
import asyncio
import os
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ringcast_harness as h  # noqa: E402

N_CLIENTS = 20
SHUTDOWN_MS = 3000
MARGIN_S = 2.0


async def main():
    h.import_websockets()
    srv = h.Server("sigterm", overrides={"shutdown_timeout_ms": SHUTDOWN_MS}).start()
    workers = srv.worker_pids()
    h.check(len(workers) == 3, f"expected 3 worker processes (children of supervisor {srv.pid}), saw {workers}")
    clients = await h.ws_connect_many(srv.uri(), N_CLIENTS)
    receivers = [h.Receiver(f"c{i}", c).start() for i, c in enumerate(clients)]
    await h.sync_barrier(clients[0], receivers, "all-connected")
    # some traffic in flight is fine; the point is the close code
    for i in range(10):
        await clients[1].send(h.make_msg(1, i))

    os.kill(srv.pid, signal.SIGTERM)
    t0 = time.monotonic()
    h.log(f"SIGTERM -> supervisor {srv.pid}")
    loop = asyncio.get_running_loop()
    rc = await loop.run_in_executor(None, srv.wait_exit, SHUTDOWN_MS / 1000 + MARGIN_S)
    took = time.monotonic() - t0
    h.check(rc is not None, f"supervisor still running {took:.1f}s after SIGTERM "
                            f"(shutdown_timeout_ms={SHUTDOWN_MS} + {MARGIN_S}s margin)")
    h.log(f"supervisor exited with status {rc} after {took:.2f}s")
    h.check(rc == 0, f"supervisor exit status {rc} after SIGTERM, expected 0")

    await h.wait_for(lambda: all(r.closed for r in receivers), 3, "every client to see its connection closed")
    codes = {}
    for r in receivers:
        codes.setdefault(r.closed, []).append(r.name)
    h.log(f"client close codes: { {k: len(v) for k, v in codes.items()} }")
    wrong = {k: v for k, v in codes.items() if k[0] != 1001}
    h.check(not wrong, f"clients not closed with 1001 Going Away: {wrong} "
                       f"(1006 means the TCP connection ended without a close frame)")

    deadline = time.monotonic() + 2
    while time.monotonic() < deadline and any(h.pid_alive(p) for p in srv.seen_workers):
        await asyncio.sleep(0.05)
    left = [p for p in srv.seen_workers if h.pid_alive(p)]
    h.check(not left, f"worker processes left running after the supervisor exited: "
                      f"{[(p, h.proc_cmdline(p)) for p in left]}")
    h.check(not h.pid_alive(srv.pid), "supervisor pid still alive")
    h.check(not h.port_accepts(srv.port), f"port {srv.port} still accepts connections after shutdown")
    if os.path.exists(srv.config["control_socket"]):
        h.log(f"note: control socket {srv.config['control_socket']} left behind after a clean shutdown")
    h.log(f"no ringcast process left (supervisor {srv.pid}, workers {sorted(srv.seen_workers)})")


if __name__ == "__main__":
    h.run_test(main, timeout=60)
