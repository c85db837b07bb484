#!/usr/bin/env python3
"""Heap allocations per message of ringcast's workers in steady state.

Starts ringcast with LD_PRELOAD=libringcast_alloccount.so (bench/alloc/alloc_count.cpp),
so every process of the server (supervisor and workers: the supervisor's fork+exec keeps
the environment) counts its malloc/calloc/realloc/aligned allocations and frees in a file
RINGCAST_ALLOC_DIR/<pid> that this script reads live. Then ringcast-bench sends; the
counters and the server's own message counters (`ringcastctl --json stats`, read from
shared memory by the supervisor, so the workers do nothing to answer) are read at two
points inside the generator's measured window, and the differences give, per worker:

  allocs_per_message   allocations / messages the whole server received in the window
                       (every worker handles every message: it delivers it to its clients)
  allocs_per_delivery  allocations / frames that worker delivered in the window

Cases: 1 worker process with 1 shard, and 2 worker processes of 1 shard each (messages
cross between them through the shared-memory rings), each with 64-byte and 16 KiB
messages. --trace N records the call stacks of the first N allocations after the window
opens and prints their call sites (addr2line on the build's debug info).

    bench/alloc/allocs_per_message.py BUILD_DIR [--quick] [--trace 32] [--cases 1p-64,2p-64]

Progress and a table go to stderr; the last stdout line is one JSON object. Exit status:
0 the cases ran (whatever the counts), 1 a case failed to run, 2 usage, 77 the build has
no ringcast, ringcastctl, ringcast-bench or lib/libringcast_alloccount.so (a skip for CTest).
--expect-zero makes any worker allocation inside a window exit 1.
"""
from __future__ import annotations

import argparse
import base64
import json
import os
import re
import shutil
import signal
import socket
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]

# The counter file: little-endian uint64 words, as in alloc_count.cpp's `Shared`.
MAGIC = 0x31434F4C4C414352  # "RCALLOC1"
LAYOUT_VERSION = 1
W_COUNT, W_THREADS_USED, W_TRACE_WANT, W_TRACE_TAKEN, W_THREADS = 8, 16, 17, 18, 24
KINDS = ["malloc", "calloc", "realloc", "aligned", "free", "bytes"]
THREAD_WORDS, TRACE_FIXED_WORDS = 4, 6

CASES = {
    "1p-64": (1, "--conns 100 --senders 10 --size 64 --window 4"),
    "1p-16k": (1, "--conns 100 --senders 10 --size 16384 --window 4"),
    "2p-64": (2, "--conns 100 --senders 10 --size 64 --window 4"),
    "2p-16k": (2, "--conns 100 --senders 10 --size 16384 --window 4"),
}


def log(msg: str) -> None:
    print(f"[allocs {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


class Counters:
    """One process's counter file."""

    def __init__(self, path: Path):
        self.path = path

    def read(self) -> dict | None:
        try:
            b = self.path.read_bytes()
        except OSError:
            return None
        if len(b) < W_THREADS * 8:
            return None
        w = struct.unpack_from(f"<{W_THREADS}Q", b)
        if w[0] != MAGIC or w[1] != LAYOUT_VERSION or len(b) < w[2]:
            return None
        max_threads, trace_slots, frames = w[4], w[5], w[6]
        c = dict(zip(KINDS, w[W_COUNT:W_COUNT + len(KINDS)]))
        c["allocs"] = c["malloc"] + c["calloc"] + c["realloc"] + c["aligned"]
        threads = {}
        used = min(w[W_THREADS_USED], max_threads)
        for i in range(used):
            tid, allocs, frees, nbytes = struct.unpack_from("<4Q", b, (W_THREADS + i * THREAD_WORDS) * 8)
            if tid:
                threads[tid] = {"allocs": allocs, "frees": frees, "bytes": nbytes}
        c["threads"] = threads
        c["threads_overflow"] = w[W_THREADS_USED] > max_threads
        rec_words = TRACE_FIXED_WORDS + frames
        base = W_THREADS + max_threads * THREAD_WORDS
        traces = []
        for i in range(min(w[W_TRACE_TAKEN], w[W_TRACE_WANT], trace_slots)):
            r = struct.unpack_from(f"<{rec_words}Q", b, (base + i * rec_words) * 8)
            if r[0] == 1:
                traces.append({"tid": r[1], "kind": KINDS[r[2]] if r[2] < len(KINDS) else r[2],
                               "size": r[3], "mono_ns": r[4], "ips": list(r[6:6 + r[5]])})
        c["traces"] = traces
        return c

    def arm_trace(self, n: int) -> None:
        with open(self.path, "r+b") as f:
            f.seek(W_TRACE_WANT * 8)
            f.write(struct.pack("<Q", n))


def shown(path: Path) -> str:
    """A path as a report may name it: relative to the repository when inside it."""
    try:
        return str(Path(path).resolve().relative_to(REPO))
    except ValueError:
        return str(path)


def free_port(start: int) -> int:
    for p in range(start, start + 200):
        s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        try:
            s.bind(("127.0.0.1", p))  # fails against a listener, SO_REUSEPORT or not
            return p
        except OSError:
            continue
        finally:
            s.close()
    raise RuntimeError("no free port")


def prime(port: int, n: int) -> int:
    """Opens and drops n WebSocket connections, so one-time work on a worker's first
    handshake (libcrypto initializes itself lazily: thousands of allocations) is not
    counted per connection. SO_REUSEPORT spreads them over the workers. Returns how many
    were upgraded."""
    upgraded = 0
    for i in range(n):
        key = base64.b64encode(os.urandom(16)).decode()
        req = (f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
               f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\n"
               f"Sec-WebSocket-Version: 13\r\n\r\n")
        with socket.create_connection(("127.0.0.1", port), timeout=5) as s:
            s.sendall(req.encode())
            head = b""
            while b"\r\n\r\n" not in head:
                chunk = s.recv(4096)
                if not chunk:
                    break
                head += chunk
            upgraded += head.startswith(b"HTTP/1.1 101")
    return upgraded


def thread_name(pid: int, tid: int) -> str:
    try:
        return Path(f"/proc/{pid}/task/{tid}/comm").read_text().strip()
    except OSError:
        return "?"


# ---------------------------------------------------------------------------------------
# Naming call sites: return address -> module file offset -> ELF vaddr -> addr2line
# ---------------------------------------------------------------------------------------

def read_maps(pid: int) -> list[tuple[int, int, int, str]]:
    out = []
    try:
        for line in Path(f"/proc/{pid}/maps").read_text().splitlines():
            parts = line.split(None, 5)
            if len(parts) < 6 or not parts[5].startswith("/"):
                continue
            lo, hi = (int(x, 16) for x in parts[0].split("-"))
            out.append((lo, hi, int(parts[2], 16), parts[5]))
    except OSError:
        pass
    return out


def load_segments(path: str) -> list[tuple[int, int, int]]:
    """(p_offset, p_vaddr, p_filesz) of each PT_LOAD of an ELF64 file."""
    try:
        with open(path, "rb") as f:
            h = f.read(64)
            if h[:4] != b"\x7fELF" or h[4] != 2:
                return []
            phoff, = struct.unpack_from("<Q", h, 32)
            phentsize, phnum = struct.unpack_from("<HH", h, 54)
            f.seek(phoff)
            ph = f.read(phentsize * phnum)
    except OSError:
        return []
    segs = []
    for i in range(phnum):
        p_type, _, p_offset, p_vaddr, _, p_filesz = struct.unpack_from("<IIQQQQ", ph, i * phentsize)
        if p_type == 1:
            segs.append((p_offset, p_vaddr, p_filesz))
    return segs


def symbolize(ips: set[int], maps) -> dict[int, str]:
    by_module: dict[str, list[tuple[int, int]]] = {}
    names: dict[int, str] = {}
    for ip in ips:
        pc = ip - 1  # a return address: the call is the instruction before it
        m = next((m for m in maps if m[0] <= pc < m[1]), None)
        if not m:
            names[ip] = hex(ip)
            continue
        off = pc - m[0] + m[2]
        seg = next((s for s in load_segments(m[3]) if s[0] <= off < s[0] + s[2]), None)
        vaddr = off - seg[0] + seg[1] if seg else off
        by_module.setdefault(m[3], []).append((ip, vaddr))
    a2l = shutil.which("addr2line")
    for path, items in by_module.items():
        base = os.path.basename(path)
        res = None
        if a2l:
            r = subprocess.run([a2l, "-C", "-f", "-i", "-p", "-e", path] + [hex(v) for _, v in items],
                               capture_output=True, text=True)
            lines = r.stdout.splitlines() if r.returncode == 0 else []
            # -i adds " (inlined by) ..." lines after a frame: regroup them per address.
            groups, cur = [], None
            for ln in lines:
                if ln.startswith(" (inlined by)") and cur is not None:
                    cur.append(ln.strip())
                else:
                    cur = [ln.strip()]
                    groups.append(cur)
            if len(groups) == len(items):
                res = groups
        for k, (ip, vaddr) in enumerate(items):
            if res and not res[k][0].startswith("??"):
                names[ip] = f"{base}: {compact(res[k])}"
            else:
                names[ip] = f"{base}+{vaddr:#x}"
    return names


def compact(chain: list[str]) -> str:
    """One address's inline chain from addr2line -i -p, as "f (file:line) <- g (file:line)",
    keeping the repository's own code (not library headers) and the outermost function."""
    frames = []
    for text in chain:
        text = text.removeprefix("(inlined by) ").strip()
        func, _, where = text.rpartition(" at ")
        if not func:
            func, where = text, "?"
        where = where.replace(str(REPO) + "/", "")
        frames.append((short_name(func), where))
    keep = [f for f in frames if not f[1].startswith("/")] or frames[-1:]
    return " <- ".join(f"{fn} ({where})" for fn, where in keep)


def short_name(func: str) -> str:
    """A demangled name without its parameter list and template arguments."""
    out, depth = [], 0
    for ch in func:
        if ch in "<(":
            depth += 1
        elif ch in ">)" and depth:
            depth -= 1
        elif depth == 0:
            out.append(ch)
    name = "".join(out).strip().removesuffix(" const")
    at = name.find("operator")
    name = name[at:] if at >= 0 else name.split(" ")[-1]
    return (name or func)[:100]


def call_sites(traces: list[dict], maps, t0: int, t1: int) -> list[dict]:
    """Groups traced allocations by their stack, innermost frames outside this library."""
    names = symbolize({ip for t in traces for ip in t["ips"]}, maps)
    groups: dict[tuple, dict] = {}
    for t in traces:
        frames = [names[ip] for ip in t["ips"]]
        frames = [f for f in frames if "libringcast_alloccount" not in f and "libgcc_s" not in f]
        key = tuple(frames[:12])
        g = groups.setdefault(key, {"count": 0, "in_window": 0, "kinds": {}, "sizes": set(),
                                    "threads": set(), "stack": list(key)})
        g["count"] += 1
        g["in_window"] += int(t0 <= t["mono_ns"] <= t1)
        g["kinds"][t["kind"]] = g["kinds"].get(t["kind"], 0) + 1
        g["sizes"].add(t["size"])
        g["threads"].add(t["tid"])
    out = sorted(groups.values(), key=lambda g: -g["count"])
    for g in out:
        g["sizes"] = sorted(g["sizes"])[:8]
        g["threads"] = sorted(g["threads"])
    return out


# ---------------------------------------------------------------------------------------
# One case
# ---------------------------------------------------------------------------------------

class Case:
    def __init__(self, a, name: str, procs: int, flags: str, work: Path):
        self.a, self.name, self.procs, self.flags = a, name, procs, flags
        self.dir = work / name
        self.dir.mkdir(parents=True, exist_ok=True)
        self.counters_dir = self.dir / "counts"
        self.counters_dir.mkdir(exist_ok=True)
        self.ctl_socket = self.dir / "ctl.sock"

    def ctl(self, *words: str) -> dict:
        r = subprocess.run([str(self.a.bin / "ringcastctl"), "--socket", str(self.ctl_socket),
                            "--json", *words], capture_output=True, text=True, timeout=15)
        if r.returncode != 0:
            raise RuntimeError(f"ringcastctl {' '.join(words)}: {(r.stderr or r.stdout).strip()}")
        return json.loads(r.stdout.strip().splitlines()[-1])

    def sample(self, pids: list[int]) -> dict:
        """Allocation counters of every process, then the server's message counters."""
        c = {pid: Counters(self.counters_dir / str(pid)).read() for pid in pids}
        t = time.monotonic_ns()
        st = self.ctl("stats")
        per_worker: dict[int, dict] = {}
        for sh in st.get("shards", []):
            w = per_worker.setdefault(int(sh["worker"]), {"messages_in": 0, "deliveries": 0,
                                                          "connections": 0})
            w["connections"] += sh["connections"]
            w["messages_in"] += sh["messages_in"]
            w["deliveries"] += sh["deliveries"]
        return {"t": t, "alloc": c, "stats": per_worker,
                "messages_in": st["totals"]["messages_in"], "deliveries": st["totals"]["deliveries"]}

    def run(self) -> dict:
        a = self.a
        port = free_port(a.port)
        cfg = self.dir / "ringcast.json"
        cfg.write_text(json.dumps({"listen": f"127.0.0.1:{port}", "worker_processes": self.procs,
                                   "shards": self.procs, "control_socket": str(self.ctl_socket)}) + "\n")
        env = dict(os.environ, LD_PRELOAD=str(a.lib), RINGCAST_ALLOC_DIR=str(self.counters_dir))
        pin_srv = ["taskset", "-c", a.server_cpus] if a.server_cpus else []
        pin_gen = ["taskset", "-c", a.gen_cpus] if a.gen_cpus else []
        srv_argv = pin_srv + [str(a.bin / "ringcast"), "--config", str(cfg)]
        res: dict = {"name": self.name, "procs": self.procs, "shards": self.procs,
                     "gen_flags": self.flags, "ok": False,
                     "server_cmd": f"LD_PRELOAD={shown(a.lib)} RINGCAST_ALLOC_DIR=DIR "
                                   + " ".join(pin_srv + [shown(a.bin / "ringcast"), "--config",
                                                         "CONFIG"]),
                     "config": {"worker_processes": self.procs, "shards": self.procs}}
        err_path = self.dir / "server.log"
        srv = subprocess.Popen(srv_argv, env=env, stdin=subprocess.DEVNULL,
                               stdout=subprocess.DEVNULL, stderr=open(err_path, "wb"))
        gen = None
        try:
            deadline = time.monotonic() + 20
            while "event=ready" not in err_path.read_text(errors="replace"):
                if srv.poll() is not None or time.monotonic() > deadline:
                    raise RuntimeError(f"ringcast did not become ready; see {err_path}")
                time.sleep(0.05)
            workers = self.ctl("workers")["workers"]
            pids = [int(w["pid"]) for w in workers]
            index_of = {int(w["pid"]): int(w["index"]) for w in workers}
            for pid in pids + [srv.pid]:
                if Counters(self.counters_dir / str(pid)).read() is None:
                    raise RuntimeError(f"no allocation counters for pid {pid}: was the "
                                       f"preload library loaded? ({a.lib})")
            if prime(port, 8 * self.procs) != 8 * self.procs:
                raise RuntimeError("a priming connection was not upgraded")
            time.sleep(0.2)  # let the workers see the priming connections close
            idle = self.sample(pids + [srv.pid])
            step = a.progress
            gen_argv = pin_gen + [str(a.bin / "ringcast-bench"), "--url", f"ws://127.0.0.1:{port}/",
                                  *self.flags.split(), "--warmup", str(a.warmup),
                                  "--duration", str(a.duration), "--progress", str(step),
                                  "--label", self.name]
            res["gen_cmd"] = " ".join(pin_gen + [shown(a.bin / "ringcast-bench")] + gen_argv[len(pin_gen) + 1:])
            gen_out, gen_err = self.dir / "bench.json", self.dir / "bench.log"
            gen = subprocess.Popen(gen_argv, stdin=subprocess.DEVNULL, stdout=open(gen_out, "wb"),
                                   stderr=open(gen_err, "wb"))
            # The window: from the generator's first progress line (measured window + step)
            # to its last one (before the window ends), so it holds only steady sending.
            last_t = step * int((a.duration - 1e-6) / step)
            a_smp = b_smp = conn_smp = None
            if a.trace and a.trace_at == "connect":
                for pid in pids:
                    Counters(self.counters_dir / str(pid)).arm_trace(a.trace)
            start = time.monotonic()
            while gen.poll() is None and b_smp is None:
                text = gen_err.read_text(errors="replace")
                if conn_smp is None and re.search(r"^  connected \d+/\d+", text, re.M):
                    conn_smp = self.sample(pids + [srv.pid])
                    if a.trace and a.trace_at == "warmup":
                        for pid in pids:
                            Counters(self.counters_dir / str(pid)).arm_trace(a.trace)
                ts = [float(x) for x in re.findall(r"t=\s*([0-9.]+)s", text)]
                if ts and a_smp is None:
                    a_smp = self.sample(pids + [srv.pid])
                    if a.trace and a.trace_at == "window":
                        for pid in pids:
                            Counters(self.counters_dir / str(pid)).arm_trace(a.trace)
                if ts and max(ts) >= last_t - 1e-6 and a_smp is not None and len(ts) > 1:
                    b_smp = self.sample(pids + [srv.pid])
                if time.monotonic() - start > a.warmup + a.duration + 60:
                    raise RuntimeError("the generator did not report progress in time")
                time.sleep(0.01)
            maps = {pid: read_maps(pid) for pid in pids}
            gen.wait(timeout=a.duration + 120)
            lines = [ln for ln in gen_out.read_text().splitlines() if ln.strip()]
            gj = json.loads(lines[-1]) if lines else None
            if a_smp is None or b_smp is None or conn_smp is None:
                raise RuntimeError(f"no window: the generator's progress lines never came; see {gen_err}")
            if not gj or gj.get("status") != "completed":
                raise RuntimeError(f"ringcast-bench did not complete; see {gen_err}")
            res.update(self.figures(idle, conn_smp, a_smp, b_smp, pids, index_of, srv.pid, gj, maps))
            res["ok"] = True
        except (RuntimeError, OSError, ValueError, subprocess.SubprocessError) as e:
            res["error"] = str(e)
            log(f"{self.name}: FAILED: {e}")
        finally:
            if gen and gen.poll() is None:
                gen.kill()
                gen.wait()
            if srv.poll() is None:
                srv.send_signal(signal.SIGTERM)
                try:
                    srv.wait(timeout=15)
                except subprocess.TimeoutExpired:
                    srv.kill()
                    srv.wait()
        return res

    def figures(self, idle, conn_smp, a_smp, b_smp, pids, index_of, sup_pid, gj, maps) -> dict:
        msgs = b_smp["messages_in"] - a_smp["messages_in"]
        dels = b_smp["deliveries"] - a_smp["deliveries"]
        window = (b_smp["t"] - a_smp["t"]) / 1e9
        workers = []
        for pid in pids:
            ca, cb, ci = a_smp["alloc"][pid], b_smp["alloc"][pid], idle["alloc"][pid]
            cc = conn_smp["alloc"][pid]
            if ca is None or cb is None:
                raise RuntimeError(f"worker {pid}: counters unreadable")
            idx = index_of[pid]
            wa, wb = a_smp["stats"].get(idx, {}), b_smp["stats"].get(idx, {})
            wd = wb.get("deliveries", 0) - wa.get("deliveries", 0)
            allocs = cb["allocs"] - ca["allocs"]
            threads = []
            for tid, t in cb["threads"].items():
                t0 = ca["threads"].get(tid, {"allocs": 0, "frees": 0, "bytes": 0})
                if t["allocs"] - t0["allocs"] or t["frees"] - t0["frees"]:
                    threads.append({"tid": tid, "name": thread_name(pid, tid),
                                    "allocs": t["allocs"] - t0["allocs"], "frees": t["frees"] - t0["frees"],
                                    "bytes": t["bytes"] - t0["bytes"]})
            w = {"pid": pid, "index": idx, "allocs": allocs,
                 "frees": cb["free"] - ca["free"], "bytes": cb["bytes"] - ca["bytes"],
                 "by_kind": {k: cb[k] - ca[k] for k in ("malloc", "calloc", "realloc", "aligned")},
                 "messages_in": wb.get("messages_in", 0) - wa.get("messages_in", 0),
                 "deliveries": wd,
                 "allocs_per_message": allocs / msgs if msgs else None,
                 "allocs_per_delivery": allocs / wd if wd else None,
                 "threads": threads,
                 # Before the window: connecting (handshakes), then the warmup.
                 "connect_allocs": cc["allocs"] - ci["allocs"],
                 "connections": wa.get("connections", 0),
                 "connect_allocs_per_connection": (cc["allocs"] - ci["allocs"]) / wa["connections"]
                 if wa.get("connections") else None,
                 "warmup_allocs": ca["allocs"] - cc["allocs"]}
            if self.a.trace:
                traces = cb["traces"]
                w["traced"] = len(traces)
                w["call_sites"] = call_sites(traces, maps.get(pid, []), a_smp["t"], b_smp["t"]) if traces else []
            workers.append(w)
        sa, sb = a_smp["alloc"].get(sup_pid), b_smp["alloc"].get(sup_pid)
        total = sum(w["allocs"] for w in workers)
        return {"window_sec": round(window, 3), "messages": msgs, "deliveries": dels,
                "worker_allocs": total,
                "allocs_per_message": total / msgs if msgs else None,
                "allocs_per_delivery": total / dels if dels else None,
                "workers": workers,
                # Not on the message path; includes answering the first `ringcastctl stats`.
                "supervisor_allocs_in_window": sb["allocs"] - sa["allocs"] if sa and sb else None,
                "bench": {k: gj.get(k) for k in ("deliveries_per_sec", "loss", "errors",
                                                  "connections", "messages_sent")}}


def main() -> int:
    ap = argparse.ArgumentParser(prog="bench/alloc/allocs_per_message.py",
                                 description=__doc__.split("\n\n")[0])
    ap.add_argument("build_dir", help="build tree with bin/ringcast, bin/ringcastctl, "
                                      "bin/ringcast-bench and lib/libringcast_alloccount.so")
    ap.add_argument("--cases", default=",".join(CASES), help=f"comma list of {','.join(CASES)}")
    ap.add_argument("--quick", action="store_true",
                    help="short runs for the test suite: warmup 0.5 s, duration 2 s")
    ap.add_argument("--warmup", type=float, default=None, help="seconds before the measured window (1)")
    ap.add_argument("--duration", type=float, default=None, help="measured seconds (4)")
    ap.add_argument("--progress", type=float, default=0.5,
                    help="generator progress interval; the window runs from the first "
                         "progress line to the last (0.5)")
    ap.add_argument("--trace", type=int, default=0, metavar="N",
                    help="record and name the call sites of the first N allocations of each "
                         "worker after the window opens (at most 4096)")
    ap.add_argument("--trace-at", choices=("window", "connect", "warmup"), default="window",
                    help="start tracing when the window opens (default), before the "
                         "generator connects, or once it is connected (the warmup)")
    ap.add_argument("--expect-zero", action="store_true",
                    help="exit 1 when a worker allocated inside a window")
    ap.add_argument("--port", type=int, default=19950)
    ap.add_argument("--server-cpus", default="0", help="taskset for the server ('' = none)")
    ap.add_argument("--gen-cpus", default="1", help="taskset for the generator ('' = none)")
    ap.add_argument("--keep", action="store_true", help="keep the work directory (logs, counters)")
    a = ap.parse_args()
    a.warmup = a.warmup if a.warmup is not None else (0.5 if a.quick else 1.0)
    a.duration = a.duration if a.duration is not None else (2.0 if a.quick else 4.0)
    a.trace = min(max(a.trace, 0), 4096)
    if a.duration < 3 * a.progress:
        ap.error("--duration must be at least 3 progress intervals")
    build = Path(a.build_dir).resolve()
    a.bin, a.lib = build / "bin", build / "lib" / "libringcast_alloccount.so"
    for p in (a.bin / "ringcast", a.bin / "ringcastctl", a.bin / "ringcast-bench", a.lib):
        if not p.exists():
            log(f"skip: no {p} (build the ringcast, ringcastctl, ringcast-bench and "
                "ringcast_alloccount targets)")
            return 77
    names = a.cases.split(",")
    for n in names:
        if n not in CASES:
            ap.error(f"--cases: unknown case {n!r} (want {', '.join(CASES)})")
    def on_term(signum, frame):  # stop our server (Case.run's finally) before exiting
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)
    work = Path(tempfile.mkdtemp(prefix="ringcast-allocs."))
    results = []
    interrupted = False
    for n in names:
        procs, flags = CASES[n]
        log(f"{n}: ringcast with {procs} worker process(es), ringcast-bench {flags}")
        try:
            r = Case(a, n, procs, flags, work).run()
        except KeyboardInterrupt:
            interrupted = True
            results.append({"name": n, "ok": False, "error": "interrupted"})
            break
        results.append(r)
        if r["ok"]:
            for w in r["workers"]:
                log(f"{n}: worker {w['index']} pid {w['pid']}: {w['allocs']} allocations, "
                    f"{w['frees']} frees in {r['window_sec']:.2f} s; {w['messages_in']} messages in, "
                    f"{w['deliveries']} deliveries; per message {fmt(w['allocs_per_message'])}, "
                    f"per delivery {fmt(w['allocs_per_delivery'])}; before the window: "
                    f"{fmt(w['connect_allocs_per_connection'])} per connection while connecting, "
                    f"{w['warmup_allocs']} in the warmup")
                for t in w["threads"]:
                    log(f"    thread {t['tid']} ({t['name']}): {t['allocs']} allocations, "
                        f"{t['frees']} frees, {t['bytes']} bytes")
                for g in w.get("call_sites", [])[:10]:
                    log(f"    {g['count']} x {g['kinds']} sizes {g['sizes']} "
                        f"({g['in_window']} inside the window):")
                    for f in g["stack"][:8]:
                        log(f"        {f}")
            log(f"{n}: {r['messages']} messages, {r['deliveries']} deliveries in the window: "
                f"{fmt(r['allocs_per_message'])} allocations per message, "
                f"{fmt(r['allocs_per_delivery'])} per delivery (all workers)")
    if a.keep:
        log(f"work directory kept: {work}")
    else:
        shutil.rmtree(work, ignore_errors=True)
    ok = all(r["ok"] for r in results) and not interrupted
    per_msg = [r["allocs_per_message"] for r in results if r.get("allocs_per_message") is not None]
    nonzero = [r["name"] for r in results if r.get("worker_allocs")]
    out = {"status": "ok" if ok else "failed", "warmup": a.warmup, "duration": a.duration,
           "max_allocs_per_message": max(per_msg) if per_msg else None,
           "cases_with_worker_allocs": nonzero, "cases": results}
    print(json.dumps(out))
    if not ok:
        return 1
    return 1 if a.expect_zero and nonzero else 0


def fmt(v) -> str:
    return "-" if v is None else f"{v:.6f}" if v < 0.01 else f"{v:.3f}"


if __name__ == "__main__":
    sys.exit(main())
