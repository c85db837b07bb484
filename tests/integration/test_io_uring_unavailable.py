#!/usr/bin/python3
"""Without io_uring, ringcast says so and stops: no restart loop, nothing left behind.

`$RINGCAST_BIN/no_io_uring ringcast --config F` runs ringcast with io_uring_setup refused
by seccomp (EPERM), as a container's default profile or kernel.io_uring_disabled would.
Checks: the supervisor exits non-zero (1, as docs/cluster.md says for a fatal worker exit)
within 10 s; its stderr has event=io_uring_unavailable with a non-empty hint= and
event=worker_fatal; each of the 3 workers was started once (no restart loop, no
event=worker_died); no process of ours remains (supervisor, any worker pid seen, anything
whose command line names this config or this supervisor's segment); the control socket
and the shared-memory segment are gone.
"""
import json
import os
import re
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ringcast_harness as h  # noqa: E402

EXIT_LIMIT_S = 10.0


def main():
    wrapper = os.path.join(h.bin_dir(), "no_io_uring")
    if not os.access(wrapper, os.X_OK):
        raise h.TestFailure(f"{wrapper} not found (built by the no_io_uring target of tests/CMakeLists.txt)")
    binary = h.ringcast_path()
    srv = h.Server("no-io-uring")  # only for its temp dir and config; started by hand below
    srv.port = h.free_port()
    srv.config = srv.build_config()
    with open(srv.config_path, "w") as f:
        json.dump(srv.config, f, indent=2)
    out = open(srv.stdout_path, "ab")
    err = open(srv.stderr_path, "ab")
    t0 = time.monotonic()
    proc = subprocess.Popen([wrapper, binary, "--config", srv.config_path], stdin=subprocess.DEVNULL,
                            stdout=out, stderr=err, preexec_fn=h._pdeathsig_term, close_fds=True)
    out.close()
    err.close()
    h.log(f"started {wrapper} ringcast --config ... as pid {proc.pid}")
    seen = set()
    rc = None
    try:
        while time.monotonic() - t0 < EXIT_LIMIT_S:
            seen.update(h.children_of(proc.pid))
            rc = proc.poll()
            if rc is not None:
                break
            time.sleep(0.01)
        took = time.monotonic() - t0
        stderr = h.tail(srv.stderr_path, 200000)
        if rc == 77 and "no_io_uring: seccomp" in stderr:
            h.skip(f"seccomp is not available here: {stderr.strip()[:200]}")
        h.check(rc is not None, f"ringcast still running {EXIT_LIMIT_S}s after start without io_uring "
                                f"(workers seen {sorted(seen)})\n" + srv.log_tails())
        h.log(f"exited with status {rc} after {took:.2f}s; worker pids seen running: {sorted(seen)}")
        h.check(rc != 0, "exit status 0 without io_uring\n" + srv.log_tails())
        h.check(rc == 1, f"exit status {rc}, docs/cluster.md says 1 for a fatal worker exit\n" + srv.log_tails())

        unavailable = [l for l in stderr.splitlines() if "event=io_uring_unavailable" in l]
        h.check(unavailable, "stderr has no event=io_uring_unavailable\n" + srv.log_tails())
        hints = [re.search(r'hint="([^"]*)"', l) for l in unavailable]
        h.check(all(m and m.group(1).strip() for m in hints), f"io_uring_unavailable without a hint: {unavailable}")
        h.log(f"stderr: {unavailable[0]}")
        fatal = [l for l in stderr.splitlines() if "event=worker_fatal" in l]
        h.check(fatal, "stderr has no event=worker_fatal\n" + srv.log_tails())
        started = [l for l in stderr.splitlines() if "event=worker_started" in l]
        died = [l for l in stderr.splitlines() if "event=worker_died" in l]
        h.check(len(started) <= 3 and not died,
                f"restart loop: {len(started)} worker starts, {len(died)} worker_died lines:\n" + "\n".join(started + died))
        seen.update(int(m) for l in started for m in re.findall(r" pid=(\d+)", l))
        h.log(f"{len(started)} worker starts, {len(fatal)} worker_fatal lines, no worker_died; "
              f"first fatal: {fatal[0].split('supervisor ')[-1]}")

        # nothing left
        deadline = time.monotonic() + 3
        while time.monotonic() < deadline and any(h.pid_alive(p) for p in seen):
            time.sleep(0.05)
        left = [p for p in seen if h.pid_alive(p)]
        h.check(not left, f"worker processes left: {[(p, h.proc_cmdline(p)) for p in left]}")
        h.check(not h.pid_alive(proc.pid), "supervisor pid still alive")
        ours = set(h.proc_pids_with_arg(srv.config_path)) | set(h.proc_pids_with_arg(f'"/ringcast-{proc.pid}"'))
        h.check(not ours, f"processes of this ringcast left: {[(p, h.proc_cmdline(p)) for p in ours]}")
        sock = srv.config["control_socket"]
        h.check(not os.path.exists(sock), f"control socket {sock} left behind")
        seg = f"/dev/shm/ringcast-{proc.pid}"
        h.check(not os.path.exists(seg), f"shared-memory segment {seg} left behind")
        h.log("no process, control socket or segment left")
        srv.cleanup_tmp()  # never started through Server.start, so run_test does not know it
    finally:
        if proc.poll() is None:
            proc.send_signal(signal.SIGTERM)
            try:
                proc.wait(5)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait(5)
        for p in seen:
            if h.pid_alive(p):
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass


if __name__ == "__main__":
    h.run_test(main, timeout=40)
