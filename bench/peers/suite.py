#!/usr/bin/env python3
"""The benchmark suite behind bench/run.sh: ringcast against uWebSockets, npm ws, Boost.Beast
and Go gorilla/websocket, every scenario repeated, the median kept, a report and a chart
written.

Each run starts a fresh server pinned to --server-cpus (taskset), runs ringcast-bench pinned
to --gen-cpus with --server-pid (so the server's CPU and RSS are sampled), parses the JSON
line the generator prints last, and stops the server. Before the suite it waits (bounded)
for the 1-minute load average to drop below --max-load; before each run it waits (bounded)
until the machine's busy CPU, sampled over one second, is below --quiet-cores. Whatever it
waited, and what the generator saw of other work during the measured window
(host_other_cores), is written down next to the figures.

Only processes this script started are ever signalled, by PID.
"""
from __future__ import annotations

import argparse
import base64
import datetime as dt
import hashlib
import hmac
import json
import os
import platform
import re
import resource
import shlex
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[2]
PEERS = REPO / "bench" / "peers"

# The generator's flags per scenario (the measured duration is added by the runner).
SCENARIOS = {
    "s1": "--conns 1000 --senders 10 --size 64 --window 4",
    "s1w16": "--conns 1000 --senders 10 --size 64 --window 16",
    "s2": "--conns 100 --senders 1 --size 16384 --window 4",
    "s3": "--conns 10000 --senders 1 --size 64 --rate 100 --idle-hold 3",
    "s3lo": "--conns 10000 --senders 1 --size 64 --rate 2 --idle-hold 3",
    "z1": "--conns 1000 --senders 10 --size 512 --window 4 --json --deflate",
    # s1 twice, auth off then on; the on run adds --token-file (one JWT per connection).
    "s1auth": "--conns 1000 --senders 10 --size 64 --window 4",
    # Channels (issue 16): 100 channels by URL path of 100 connections each, 1 sender per
    # channel, paced (bench/README.md says why this rate).
    "c1": "--conns 10000 --senders 100 --channels 100 --size 64 --rate 10",
    # Run as part of c1: s1 against ringcast as configured and with `channels: "off"`.
    "c1off": "--conns 1000 --senders 10 --size 64 --window 4",
}
DESCRIPTIONS = {
    "s1": "1000 connections, 10 senders, 64 B, window 4 (max rate)",
    "s1w16": "as s1 with window 16",
    "s2": "100 connections, 1 sender, 16 KiB, window 4 (max rate)",
    "s3": "10,000 connections idle 3 s (RSS per connection), then 1 sender at 100 msg/s",
    "s3lo": "as s3 at 2 msg/s",
    "z1": "permessage-deflate: 1000 connections, 10 senders, 512 B compressible JSON text, "
          "window 4 (max rate); every client negotiates the extension (no context takeover)",
    "s1auth": "s1 against ringcast with auth off, then on (`auth.required`, HS256; every "
              "client sends its own token on the upgrade): the hot path must not get slower",
    "c1": "channels: 10,000 connections over 100 channels by URL path (`/ch/0` .. `/ch/99`, "
          "100 each), 1 sender per channel at 10 msg/s, 64 B; ringcast with "
          "`channels: \"path\"` against uWebSockets with a topic per path",
    "c1off": "s1 against ringcast with `channels: \"off\"` written out, and as configured "
             "today (no `channels` key), back to back: with channels off s1 must not get "
             "slower",
    "scale": "s1 against ringcast with 1, 2 and 3 worker processes of one shard each, "
             "all on the server CPU",
    "restart": "s1 at a fixed rate while `ringcastctl restart all` replaces every worker",
}
PEER_SERVERS = ["uws", "ws", "beast", "gorilla"]
ALL_SERVERS = ["ringcast"] + PEER_SERVERS
SERVER_TITLES = {
    "ringcast": "ringcast",
    "uws": "uWebSockets",
    "ws": "npm ws (Node.js)",
    "beast": "Boost.Beast",
    "gorilla": "Go gorilla/websocket",
    "uws-deflate": "uWebSockets, shared compressor",
    "ws-deflate": "npm ws, perMessageDeflate",
    "ringcast-auth-off": "ringcast, auth off",
    "ringcast-auth-on": "ringcast, auth on (a token per client)",
    "uws-topics": "uWebSockets, a topic per path",
    "ringcast-ch-path": "ringcast, `channels: \"path\"`",
    "ringcast-ch-absent": "ringcast, no `channels` key (as today)",
    "ringcast-ch-off": "ringcast, `channels: \"off\"`",
}
# z1's servers: each with permessage-deflate on (ringcast's is on by default).
DEFLATE_SERVERS = ["ringcast", "uws-deflate", "ws-deflate"]
# uWebSockets is neither a Debian nor an npm package: its source is kept beside the project.
SHARED_PEERS = REPO.parent / "shared" / "peers"
PEER_SCENARIOS = ["s1", "s1w16", "s2", "s3", "s3lo"]
# Ringcast-only scenarios with s1's generator flags: their × uWS is against s1's uWebSockets.
UWS_FROM_S1 = ("scale", "s1auth", "c1off")
# c1 also runs c1off (its s1 pair); c1off is not named on the command line.
ALL_SCENARIOS = PEER_SCENARIOS + ["z1", "s1auth", "c1", "scale", "restart"]


def log(msg: str) -> None:
    print(f"[bench {time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)


# ---------------------------------------------------------------------------------------
# The machine
# ---------------------------------------------------------------------------------------

def cpu_model() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def loadavg() -> tuple[float, float, float]:
    a = Path("/proc/loadavg").read_text().split()
    return float(a[0]), float(a[1]), float(a[2])


def busy_jiffies() -> tuple[int, int]:
    """(busy, total) jiffies of all CPUs from /proc/stat."""
    f = [int(x) for x in Path("/proc/stat").read_text().splitlines()[0].split()[1:]]
    idle = f[3] + (f[4] if len(f) > 4 else 0)
    total = sum(f[:8])
    return total - idle, total


def busy_cores(seconds: float = 1.0) -> float:
    b0, t0 = busy_jiffies()
    time.sleep(seconds)
    b1, t1 = busy_jiffies()
    ncpu = os.cpu_count() or 1
    return (b1 - b0) / max(1, t1 - t0) * ncpu


def irq_time_accounting() -> bool | None:
    """Whether the kernel was built with CONFIG_IRQ_TIME_ACCOUNTING (None: no config found).
    It decides what /proc/stat's softirq column overlaps with (bench/README.md)."""
    import gzip
    rel = platform.release()
    for path, opener in ((Path("/proc/config.gz"), gzip.open),
                         (Path(f"/boot/config-{rel}"), open)):
        try:
            with opener(path, "rt") as f:
                text = f.read()
        except OSError:
            continue
        return "\nCONFIG_IRQ_TIME_ACCOUNTING=y" in "\n" + text
    return None


def kernel_figures(j: dict, irqtime: bool | None) -> dict:
    """The kernel's work on the server's CPU(s) from a generator JSON
    (`server_cpus_kernel`), and the server's CPU with it, without counting a tick twice:

    - ksoftirqd/N's time is inside /proc/stat's softirq column under either accounting;
    - tick accounting (no CONFIG_IRQ_TIME_ACCOUNTING): a softirq that ran in the server's
      own context (e.g. on loopback, the receive side of what it sent, run when it
      re-enabled bottom halves) is charged to the server's stime *and* to softirq, so what
      the server's figure leaves out is ksoftirqd's time: total = server + ksoftirqd;
    - CONFIG_IRQ_TIME_ACCOUNTING: irq and softirq time are taken out of whatever task they
      interrupted, except ksoftirqd's: total = server + softirq + irq.
    `other_cores` is what else kept the server's CPU(s) busy: busy − server − ksoftirqd
    (other processes, kernel threads, interrupts and softirqs in the idle task)."""
    k = j.get("server_cpus_kernel")
    srv = j.get("server_cpu_sec")
    sec = (j.get("measured") or {}).get("seconds") or j.get("duration_sec")
    dlv = (j.get("measured") or {}).get("deliveries")
    if not k or srv is None or not sec:
        return {}
    extra = k["softirq_sec"] + k["irq_sec"] if irqtime else k["ksoftirqd_sec"]
    total = srv + extra
    return {"kernel_cpus": k.get("cpus"), "softirq_cores": k["softirq_cores"],
            "irq_cores": k["irq_cores"], "ksoftirqd_cores": k["ksoftirqd_cores"],
            "srv_cpu_busy_cores": k["busy_cores"],
            "srv_cpu_other_cores": (k["busy_sec"] - srv - k["ksoftirqd_sec"]) / sec,
            "kernel_extra_cores": extra / sec,
            "total_cpu_cores": total / sec,
            "total_us_per_delivery": total * 1e6 / dlv if dlv else None}


def wait_for_load(max_load: float, max_wait: float) -> dict:
    start = time.monotonic()
    first = loadavg()[0]
    while True:
        la = loadavg()[0]
        waited = time.monotonic() - start
        if la < max_load:
            return {"loadavg_1m_first": first, "loadavg_1m": la, "waited_sec": round(waited, 1),
                    "quiet": True}
        if waited >= max_wait:
            return {"loadavg_1m_first": first, "loadavg_1m": la, "waited_sec": round(waited, 1),
                    "quiet": False}
        time.sleep(2)


def wait_for_quiet(quiet_cores: float, max_wait: float) -> dict:
    """Waits until other work keeps fewer than quiet_cores CPUs busy (1 s samples)."""
    if max_wait <= 0:
        return {"busy_cores": None, "waited_sec": 0.0, "quiet": None}
    start = time.monotonic()
    while True:
        b = busy_cores(1.0)
        waited = time.monotonic() - start
        if b < quiet_cores or waited >= max_wait:
            return {"busy_cores": round(b, 2), "waited_sec": round(waited, 1),
                    "quiet": b < quiet_cores}


# ---------------------------------------------------------------------------------------
# Processes (only ours, by PID)
# ---------------------------------------------------------------------------------------

def descendants(pid: int) -> list[int]:
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        try:
            tasks = os.listdir(f"/proc/{p}/task")
        except OSError:
            continue
        for t in tasks:
            try:
                kids = Path(f"/proc/{p}/task/{t}/children").read_text().split()
            except OSError:
                continue
            for k in kids:
                out.append(int(k))
                todo.append(int(k))
    return out


def alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie child of ours is "alive" to kill(0); check the state.
    try:
        st = Path(f"/proc/{pid}/stat").read_text()
        return st[st.rfind(")") + 2] != "Z"
    except OSError:
        return False


def start_time(pid: int) -> str:
    """Field 22 of /proc/PID/stat (start time in clock ticks): with the pid, names one process."""
    try:
        st = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return ""
    return st[st.rfind(")") + 2:].split()[19]


def port_listeners(port: int) -> str:
    r = subprocess.run(["ss", "-Htlnp", f"sport = :{port}"], capture_output=True, text=True)
    return r.stdout


def raise_nofile() -> int:
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    if soft < hard:
        resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))
    return resource.getrlimit(resource.RLIMIT_NOFILE)[0]


class Server:
    """One server process we started (argv[0] is exec'd by taskset, so the PID is its own)."""

    def __init__(self, kind: str, argv: list[str], env: dict | None, logdir: Path, tag: str,
                 port: int, ready_pattern: str, ready_file: str):
        self.kind, self.argv, self.port, self.tag = kind, argv, port, tag
        self.out_path = logdir / f"{tag}.server.out"
        self.err_path = logdir / f"{tag}.server.log"
        self.ready_pattern, self.ready_file = ready_pattern, ready_file
        self.env = env
        self.proc: subprocess.Popen | None = None
        self.known: dict[int, str] = {}  # descendant pid -> its start time (pid reuse guard)

    @property
    def pid(self) -> int:
        assert self.proc
        return self.proc.pid

    def start(self, timeout: float = 20.0) -> str:
        """Starts it and waits until it listens; returns "" or why it did not."""
        if port_listeners(self.port).strip():
            return f"port {self.port} is already in use"
        with open(self.out_path, "wb") as out, open(self.err_path, "wb") as err:
            self.proc = subprocess.Popen(self.argv, env=self.env, stdin=subprocess.DEVNULL,
                                         stdout=out, stderr=err)
        deadline = time.monotonic() + timeout
        path = self.out_path if self.ready_file == "out" else self.err_path
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                return f"{self.kind} exited with {self.proc.returncode} before listening; " \
                       f"see {self.err_path}"
            try:
                ready = self.ready_pattern in path.read_text(errors="replace")
            except OSError:
                ready = False
            if ready:
                owners = port_listeners(self.port)
                if f"pid={self.pid}," in owners:
                    return ""
                if owners.strip():
                    return f"port {self.port} is held by another process: {owners.strip()}"
            time.sleep(0.05)
        return f"{self.kind} did not listen on {self.port} within {timeout:.0f} s"

    def note_children(self) -> None:
        if self.proc and self.proc.poll() is None:
            for pid in descendants(self.pid):
                if pid not in self.known:
                    st = start_time(pid)
                    if st:
                        self.known[pid] = st

    def stop(self) -> dict:
        """SIGTERM, then SIGKILL after 10 s; any child of ours left behind is killed by PID."""
        if not self.proc:
            return {}
        self.note_children()
        was_alive = self.proc.poll() is None
        code = self.proc.returncode
        if was_alive:
            self.proc.send_signal(signal.SIGTERM)
            try:
                code = self.proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                code = self.proc.wait()
        leftovers = []
        for pid, st in sorted(self.known.items()):
            if alive(pid) and start_time(pid) == st:  # still the process we saw
                leftovers.append(pid)
                try:
                    os.kill(pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        for _ in range(100):
            if not port_listeners(self.port).strip():
                break
            time.sleep(0.05)
        return {"alive_at_end": was_alive, "exit_code": code, "killed_leftovers": leftovers}


def prio_prefix(nice: int) -> list[str]:
    """A new session whose autogroup gets `nice`, then exec all the way down (same PID)."""
    if nice == 0:
        return []
    return ["setsid", "bash", "-c",
            'echo "$0" > /proc/self/autogroup 2>/dev/null; exec nice -n "$0" "$@"', str(nice)]


# ---------------------------------------------------------------------------------------
# Peers: make them runnable
# ---------------------------------------------------------------------------------------

class Tools:
    def __init__(self, args):
        self.bin_dir = Path(args.bin_dir).resolve()
        self.build_dir = Path(args.build_dir).resolve() if args.build_dir else self.bin_dir.parent
        self.peer_dir = self.build_dir / "bench-peers"
        self.bench = self.bin_dir / "ringcast-bench"
        self.ringcast = self.bin_dir / "ringcast"
        self.ctl = self.bin_dir / "ringcastctl"
        self.beast = self.bin_dir / "bench-peer-beast"
        self.gorilla = self.peer_dir / "bench-peer-gorilla"
        self.ws_modules = self.peer_dir / "ws" / "node_modules"
        self.uws = self.peer_dir / "uws" / "uws_broadcast"
        self.uws_deflate = self.peer_dir / "uws" / "uws_broadcast_deflate"
        self.uws_topics = self.peer_dir / "uws" / "uws_topics"
        self._uws_lib: str | None = None  # "" once uSockets is built in this suite run
        self.notes: dict[str, str] = {}
        self.versions: dict[str, str] = {}

    def prepare(self, servers: list[str]) -> list[str]:
        """Makes each peer runnable; returns the servers that are. Notes why not for others."""
        ok = []
        for s in servers:
            try:
                why = getattr(self, f"_prepare_{s.replace('-', '_')}")()
            except (OSError, subprocess.SubprocessError) as e:
                why = str(e)
            if why:
                self.notes[s] = why
                log(f"{s}: not available: {why}")
            else:
                ok.append(s)
        return ok

    def _prepare_ringcast(self) -> str:
        for p in (self.ringcast, self.ctl):
            if not os.access(p, os.X_OK):
                return f"no {p} (build the ringcast and ringcastctl targets)"
        v = subprocess.run([str(self.ringcast), "--version"], capture_output=True, text=True)
        self.versions["ringcast"] = (v.stdout or v.stderr).strip().splitlines()[0] if (
            v.stdout or v.stderr) else "?"
        return ""

    def _prepare_beast(self) -> str:
        if not os.access(self.beast, os.X_OK):
            return f"no {self.beast} (build the bench-peer-beast target)"
        hdr = Path("/usr/include/boost/version.hpp")
        if hdr.exists():
            m = re.search(r'BOOST_LIB_VERSION "([^"]+)"', hdr.read_text())
            self.versions["beast"] = f"Boost {m.group(1).replace('_', '.')}" if m else "Boost"
        return ""

    def _prepare_ws(self) -> str:
        node, npm = shutil.which("node"), shutil.which("npm")
        if not node or not npm:
            return "node/npm not found"
        dest = self.peer_dir / "ws"
        dest.mkdir(parents=True, exist_ok=True)
        src_lock = (PEERS / "ws" / "package-lock.json").read_bytes()
        stamp = dest / "package-lock.json"
        if not (self.ws_modules / "ws" / "package.json").exists() or \
                not stamp.exists() or stamp.read_bytes() != src_lock:
            shutil.copy(PEERS / "ws" / "package.json", dest / "package.json")
            shutil.copy(PEERS / "ws" / "package-lock.json", dest / "package-lock.json")
            log(f"ws: npm ci in {dest}")
            r = subprocess.run([npm, "ci", "--no-audit", "--no-fund", "--loglevel=error"],
                               cwd=dest, capture_output=True, text=True, timeout=300)
            if r.returncode != 0:
                return f"npm ci failed: {r.stderr.strip()[-400:]}"
        wsv = json.loads((self.ws_modules / "ws" / "package.json").read_text())["version"]
        nv = subprocess.run([node, "--version"], capture_output=True, text=True).stdout.strip()
        self.versions["ws"] = f"ws {wsv}, Node.js {nv}"
        return ""

    def _prepare_ws_deflate(self) -> str:
        return self._prepare_ws()

    def _uws_archive(self) -> tuple[Path | None, str]:
        archives = sorted(SHARED_PEERS.glob("uwebsockets-*.tar.gz"))
        glue = SHARED_PEERS / "uws_broadcast.cpp"
        if not archives or not glue.exists():
            return None, f"no uWebSockets archive and uws_broadcast.cpp in {SHARED_PEERS}"
        return archives[-1], ""

    def _uws_build(self, out: Path, src: Path, defines: list[str], deps: list[Path]) -> str:
        """Builds one uWebSockets peer into OUT (under the build tree, never part of the
        product) from the archive in ../shared/peers/ (its README.md), unless OUT is newer
        than every file in DEPS. The archive is extracted and uSockets built (WITH_OPENSSL=0)
        at most once per suite run, shared by every variant."""
        archive, why = self._uws_archive()
        if not archive:
            return why
        if out.exists() and all(out.stat().st_mtime >= d.stat().st_mtime for d in deps):
            return ""
        dest = out.parent
        dest.mkdir(parents=True, exist_ok=True)

        def run(cmd: list[str]) -> str:
            r = subprocess.run(cmd, cwd=dest, capture_output=True, text=True, timeout=900)
            if r.returncode != 0:
                return f"{' '.join(cmd[:2])} failed: {(r.stderr or r.stdout).strip()[-400:]}"
            return ""
        if self._uws_lib is None:
            log(f"uws: extracting {archive.name} and building uSockets in {dest}")
            self._uws_lib = run(["tar", "-xzf", str(archive)]) or \
                run(["make", "-C", "uSockets", "WITH_OPENSSL=0"])
        if self._uws_lib:
            return self._uws_lib
        log(f"uws: building {out}" + (f" ({' '.join(defines)})" if defines else ""))
        return run(["g++", "-O2", "-std=c++20", *defines, "-I", "uWebSockets/src",
                    "-I", "uSockets/src", str(src), "uSockets/uSockets.a", "-lz",
                    "-o", out.name])

    def _prepare_uws(self) -> str:
        """uWebSockets' broadcast peer as the README builds it: no -D flag, uSockets without
        TLS; one thread, one event loop."""
        glue = SHARED_PEERS / "uws_broadcast.cpp"
        why = self._uws_build(self.uws, glue, [], [glue])
        if why:
            return why
        archive, _ = self._uws_archive()
        self.versions["uws"] = archive.name.replace(".tar.gz", "") + \
            " (`../shared/peers/`), uws_broadcast.cpp, uSockets WITH_OPENSSL=0, g++ -O2"
        return ""

    def _prepare_uws_deflate(self) -> str:
        """uWebSockets' broadcast peer with -DPEER_DEFLATE (SHARED_COMPRESSOR)."""
        glue = SHARED_PEERS / "uws_broadcast.cpp"
        archive, why = self._uws_archive()
        if not archive:
            return why
        dest = self.uws_deflate.parent
        # The glue's publish() leaves uWebSockets' `compress` argument at its default, false:
        # built as it is, the peer negotiates the extension and then sends every message
        # plain. A copy that asks publish() to compress is what compares with ringcast.
        text = glue.read_text()
        call = 'ws->publish("all", msg, op)'
        if text.count(call) != 1:
            return f"{glue.name}: cannot find {call!r} to turn compression on"
        dest.mkdir(parents=True, exist_ok=True)
        copy = dest / "uws_broadcast_compress.cpp"
        new = text.replace(call, 'ws->publish("all", msg, op, true)')
        if not copy.exists() or copy.read_text() != new:
            copy.write_text(new)
        why = self._uws_build(self.uws_deflate, copy, ["-DPEER_DEFLATE"],
                              [glue, copy, Path(__file__)])
        if why:
            return why
        self.versions["uws-deflate"] = archive.name.replace(".tar.gz", "") + \
            ", -DPEER_DEFLATE (SHARED_COMPRESSOR), publish(..., compress = true)"
        return ""

    def _prepare_uws_topics(self) -> str:
        """c1's peer: bench/peers/uws_topics.cpp (a topic per URL path), built as the plain
        uWebSockets peer is (no -D flag, uSockets WITH_OPENSSL=0) from the same archive."""
        glue = PEERS / "uws_topics.cpp"
        if not glue.exists():
            return f"no {glue}"
        why = self._uws_build(self.uws_topics, glue, [], [glue])
        if why:
            return why
        archive, _ = self._uws_archive()
        self.versions["uws-topics"] = archive.name.replace(".tar.gz", "") + \
            " (`../shared/peers/`), bench/peers/uws_topics.cpp, uSockets WITH_OPENSSL=0, g++ -O2"
        return ""

    def _prepare_gorilla(self) -> str:
        go = shutil.which("go")
        if not go:
            return "go not found (Debian: golang-go golang-github-gorilla-websocket-dev)"
        gopath = Path("/usr/share/gocode")
        if not (gopath / "src/github.com/gorilla/websocket").is_dir():
            return "no /usr/share/gocode/src/github.com/gorilla/websocket " \
                   "(Debian: golang-github-gorilla-websocket-dev)"
        src = PEERS / "gorilla" / "main.go"
        self.peer_dir.mkdir(parents=True, exist_ok=True)
        if not self.gorilla.exists() or self.gorilla.stat().st_mtime < src.stat().st_mtime:
            env = dict(os.environ, GO111MODULE="off", GOPATH=str(gopath), GOFLAGS="",
                       GOPROXY="off", GOCACHE=str(self.peer_dir / "go-cache"))
            log(f"gorilla: go build -o {self.gorilla}")
            r = subprocess.run([go, "build", "-o", str(self.gorilla), "."], cwd=src.parent,
                               env=env, capture_output=True, text=True, timeout=600)
            if r.returncode != 0:
                return f"go build failed: {r.stderr.strip()[-400:]}"
        gv = subprocess.run([go, "version"], capture_output=True, text=True).stdout.strip()
        pkg = subprocess.run(["dpkg-query", "-W", "-f=${Version}",
                              "golang-github-gorilla-websocket-dev"],
                             capture_output=True, text=True).stdout.strip()
        self.versions["gorilla"] = f"gorilla/websocket {pkg or '?'} (Debian), " + \
            gv.replace("go version ", "")
        return ""


# ---------------------------------------------------------------------------------------
# Auth (s1auth): an HMAC secret, JWTs signed with it, and a probe that it is enforced
# ---------------------------------------------------------------------------------------

def b64url(b: bytes) -> str:
    return base64.urlsafe_b64encode(b).rstrip(b"=").decode("ascii")


def hs256_token(secret: bytes, claims: dict) -> str:
    head = b64url(json.dumps({"alg": "HS256", "typ": "JWT"}, separators=(",", ":")).encode())
    body = b64url(json.dumps(claims, separators=(",", ":")).encode())
    sig = hmac.new(secret, f"{head}.{body}".encode("ascii"), hashlib.sha256).digest()
    return f"{head}.{body}.{b64url(sig)}"


def write_auth_files(dirpath: Path, tag: str, conns: int) -> tuple[Path, Path]:
    """A fresh secret file (64 hex characters and a newline: the server strips the newline, so
    the key is the 64 characters) and a token file with one HS256 JWT per connection (sub
    bench-I, publisher, valid one hour), both mode 0600. Returns (secret file, token file)."""
    key = secrets.token_hex(32)
    secret_file, token_file = dirpath / f"{tag}.hmac-secret", dirpath / f"{tag}.tokens"
    now = int(time.time())
    lines = [hs256_token(key.encode("ascii"), {"sub": f"bench-{i}", "iat": now,
                                               "exp": now + 3600, "ringcast": {"publish": True}})
             for i in range(conns)]
    for path, text in ((secret_file, key + "\n"), (token_file, "\n".join(lines) + "\n")):
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
        with os.fdopen(fd, "w") as f:
            f.write(text)
    return secret_file, token_file


def auth_block(secret_file: Path) -> dict:
    return {"required": True, "default_role": "publisher",
            "jwt": {"hmac_secret_file": str(secret_file), "audience": "", "issuer": "",
                    "leeway_s": 0}}


def upgrade_status(port: int, headers: str = "", timeout: float = 5.0) -> str:
    """One WebSocket upgrade to 127.0.0.1:PORT with `headers` added; returns the response's
    status line (or why there is none), then closes."""
    key = base64.b64encode(os.urandom(16)).decode("ascii")
    req = (f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
           f"Connection: Upgrade\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: {key}\r\n"
           f"{headers}\r\n")
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout) as c:
            c.sendall(req.encode("ascii"))
            got = b""
            while b"\r\n" not in got and len(got) < 4096:
                chunk = c.recv(4096)
                if not chunk:
                    break
                got += chunk
    except OSError as e:
        return f"no answer: {e}"
    return got.split(b"\r\n", 1)[0].decode("latin-1") if got else "closed without an answer"


# ---------------------------------------------------------------------------------------
# Runs
# ---------------------------------------------------------------------------------------

class Runner:
    def __init__(self, args, tools: Tools, out: Path, logdir: Path):
        self.a, self.t, self.out = args, tools, out
        self.logdir = logdir
        self.logdir.mkdir(parents=True, exist_ok=True)
        self.port = args.port
        self.runs: list[dict] = []
        self._auth_refusal: str | None = None  # why this ringcast refuses the auth block
        self._auth_checked = False
        self._channels_refusal: dict[str, str] = {}  # value -> "" or why it is refused

    def auth_refusal(self, secret_file: Path) -> str:
        """"" when this ringcast accepts the auth block (`--check-config`), else its answer.
        A ringcast built before auth was wired refuses the key: the auth-on run then goes
        without the block (tokens sent, nothing checks them) and the report says so."""
        if not self._auth_checked:
            cfg = self.logdir / "s1auth.check-config.json"
            cfg.write_text(json.dumps({"auth": auth_block(secret_file)}) + "\n")
            r = subprocess.run([str(self.t.ringcast), "--check-config", "--config", str(cfg)],
                               capture_output=True, text=True, timeout=30)
            self._auth_refusal = "" if r.returncode == 0 else (
                (r.stderr or r.stdout).strip().splitlines() or [f"exit {r.returncode}"])[0]
            self._auth_checked = True
            log("s1auth: ringcast " + ("accepts the auth block" if not self._auth_refusal else
                f"refuses the auth block ({self._auth_refusal}): the auth-on runs send "
                "tokens that nothing checks"))
        return self._auth_refusal or ""

    def channels_refusal(self, value: str) -> str:
        """"" when this ringcast's `--check-config` accepts `"channels": value`, else its
        answer (a build before channels refuses the key: "unknown key")."""
        if value not in self._channels_refusal:
            cfg = self.logdir / f"c1.check-config.{value}.json"
            cfg.write_text(json.dumps({"channels": value}) + "\n")
            r = subprocess.run([str(self.t.ringcast), "--check-config", "--config", str(cfg)],
                               capture_output=True, text=True, timeout=30)
            self._channels_refusal[value] = "" if r.returncode == 0 else (
                (r.stderr or r.stdout).strip().splitlines() or [f"exit {r.returncode}"])[0]
            log(f"c1: ringcast " + (f'accepts "channels": "{value}"'
                                    if not self._channels_refusal[value] else
                                    f'refuses "channels": "{value}" '
                                    f"({self._channels_refusal[value]})"))
        return self._channels_refusal[value]

    def not_run(self, scenario: str, server: str, variant: str, rep: int, why: str) -> dict:
        """A row that was not run, and why (not a failure: the build lacks the feature)."""
        rec = {"scenario": scenario, "server": server, "variant": variant, "rep": rep,
               "ok": False, "skipped": why, "error": why, "json": None,
               "quiet": {"busy_cores": None, "waited_sec": 0.0, "quiet": None},
               "time": dt.datetime.now().isoformat(timespec="seconds")}
        log(f"{scenario}.{variant}.{rep}: not run: {why}")
        self.runs.append(rec)
        return rec

    def next_port(self) -> int:
        # A fresh port per run: the last run's TIME_WAIT sockets never collide with the next
        # run's connections (10,000 per run on one source address would run out of ports).
        for _ in range(200):
            p = self.port
            self.port = self.a.port if self.port >= self.a.port + 400 else self.port + 1
            if not port_listeners(p).strip():
                return p
        raise RuntimeError("no free port")

    def server_for(self, kind: str, port: int, tag: str, procs: int = 1, shards: int = 1,
                   auth: dict | None = None, channels: str | None = None) -> Server:
        pin = prio_prefix(self.a.nice) + ["taskset", "-c", self.a.server_cpus]
        env = None
        if kind == "ringcast":
            ctl = self.logdir / f"{tag}.ctl.sock"
            cfg = self.logdir / f"{tag}.ringcast.json"
            conf = {"listen": f"127.0.0.1:{port}", "worker_processes": procs,
                    "shards": shards, "control_socket": str(ctl)}
            if auth:
                conf["auth"] = auth
            if channels is not None:
                conf["channels"] = channels
            cfg.write_text(json.dumps(conf) + "\n")
            argv = pin + [str(self.t.ringcast), "--config", str(cfg)]
            s = Server(kind, argv, env, self.logdir, tag, port, "event=ready", "err")
            s.ctl_socket = ctl  # type: ignore[attr-defined]
            s.config = cfg  # type: ignore[attr-defined]
            return s
        if kind in ("uws", "uws-deflate", "uws-topics"):
            # It prints nothing when it listens: ready once its pid owns the port.
            binary = {"uws": self.t.uws, "uws-deflate": self.t.uws_deflate,
                      "uws-topics": self.t.uws_topics}[kind]
            return Server(kind, pin + [str(binary), str(port)], None, self.logdir, tag,
                          port, "", "out")
        if kind in ("ws", "ws-deflate"):
            env = dict(os.environ, NODE_PATH=str(self.t.ws_modules))
            if kind == "ws-deflate":
                env["WS_DEFLATE"] = "1"
            argv = pin + ["node", str(PEERS / "ws" / "server.js"), str(port)]
        elif kind == "beast":
            argv = pin + [str(self.t.beast), str(port)]
        elif kind == "gorilla":
            argv = pin + [str(self.t.gorilla), str(port)]
        else:
            raise ValueError(kind)
        return Server(kind, argv, env, self.logdir, tag, port, "listening", "out")

    def gen_argv(self, port: int, flags: str, pid: int, label: str) -> list[str]:
        a = self.a
        return prio_prefix(a.nice) + [
            "taskset", "-c", a.gen_cpus, str(self.t.bench), "--url", f"ws://127.0.0.1:{port}/",
            *shlex.split(flags), "--warmup", str(a.warmup), "--duration", str(a.duration),
            "--server-pid", str(pid), "--label", label, *shlex.split(a.gen_flags)]

    def one(self, scenario: str, server: str, variant: str, rep: int, flags: str,
            procs: int = 1, shards: int = 1, restart_at: float | None = None,
            auth: bool = False, channels: str | None = None) -> dict:
        """One run. With `auth`: a fresh secret and a token per connection, the server
        configured to require them (when it accepts the block), and a tokenless upgrade
        tried first, which must be refused for the run to count as "auth in effect"."""
        tag = f"{scenario}.{variant}.{rep}"
        auth_rec: dict | None = None
        auth_conf: dict | None = None
        if auth:
            conns = int(re.search(r"--conns (\d+)", flags).group(1))
            secret_file, token_file = write_auth_files(self.logdir, tag, conns)
            refusal = self.auth_refusal(secret_file)
            auth_conf = None if refusal else auth_block(secret_file)
            auth_rec = {"tokens": conns, "token_file": str(token_file),
                        "config_accepted": not refusal, "config_refusal": refusal or None}
            flags = f"{flags} --token-file {shlex.quote(str(token_file))}"
        quiet = wait_for_quiet(self.a.quiet_cores, self.a.quiet_wait)
        if quiet["quiet"] is False:
            log(f"{tag}: machine still busy ({quiet['busy_cores']} cores) after "
                f"{quiet['waited_sec']} s; running anyway")
        port = self.next_port()
        srv = self.server_for(server, port, tag, procs, shards, auth_conf, channels)
        shown_env = "".join(f"{k}={shlex.quote(v)} " for k, v in (srv.env or {}).items()
                            if os.environ.get(k) != v)
        rec: dict = {"scenario": scenario, "server": server, "variant": variant, "rep": rep,
                     "port": port, "quiet": quiet, "loadavg": loadavg(), "procs": procs,
                     "shards": shards, "server_cmd": shown_env + shlex.join(srv.argv),
                     "time": dt.datetime.now().isoformat(timespec="seconds")}
        if auth_rec is not None:
            rec["auth"] = auth_rec
        if channels is not None:
            rec["channels"] = channels
        try:
            why = srv.start()
        except BaseException:
            srv.stop()
            raise
        if why:
            rec.update(ok=False, error=why, json=None)
            rec["server_stop"] = srv.stop()
            log(f"{tag}: {why}")
            self.runs.append(rec)
            return rec
        if auth_rec is not None:
            # Before the load: a tokenless upgrade must be refused when auth is in effect.
            st = upgrade_status(port)
            auth_rec["tokenless_upgrade"] = st
            auth_rec["enforced"] = st.startswith("HTTP/1.1 ") and \
                not st.startswith("HTTP/1.1 101")
            log(f"{tag}: tokenless upgrade: {st}")
        gen = self.gen_argv(port, flags, srv.pid, scenario)
        rec["gen_cmd"] = shlex.join(gen)
        gen_out, gen_err = self.logdir / f"{tag}.json", self.logdir / f"{tag}.log"
        timeout = self.a.warmup + self.a.duration + 150 + (8 if "idle-hold" in flags else 0)
        log(f"{tag}: {server} on :{port} pid {srv.pid}")
        gp: subprocess.Popen | None = None
        restart: Restart | None = None
        try:
            with open(gen_out, "wb") as fo, open(gen_err, "wb") as fe:
                gp = subprocess.Popen(gen, stdout=fo, stderr=fe, stdin=subprocess.DEVNULL)
                t0 = time.monotonic()
                while gp.poll() is None:
                    srv.note_children()
                    if restart_at is not None and restart is None:
                        restart = self.maybe_restart(srv, gen_err, restart_at, tag)
                    if restart:
                        restart.poll()
                    if time.monotonic() - t0 > timeout:
                        gp.kill()
                        break
                    time.sleep(0.02)
                code = gp.wait()
        except BaseException:  # interrupted: leave nothing of ours running
            for p in (gp, restart.proc if restart else None):
                if p and p.poll() is None:
                    p.kill()
                    p.wait()
            srv.stop()
            raise
        rec["gen_exit"] = code
        if restart_at is not None:
            rec["restart"] = restart.finish() if restart else {
                "ran": False, "why": "the run ended before the trigger"}
            if restart:
                log(f"{tag}: restart all: {rec['restart'].get('result')}")
        server_alive = srv.proc is not None and srv.proc.poll() is None
        rec["server_stop"] = srv.stop()
        rec["server_alive_after_run"] = server_alive
        j = last_json_line(gen_out)
        rec["json"] = j
        problems = []
        if j is None:
            problems.append(f"no JSON from ringcast-bench (exit {code}); see {gen_err}")
        elif j.get("status") != "completed":
            problems.append(f"status {j.get('status')}: {'; '.join(j.get('error_samples', []))}")
        elif j.get("cross_channel"):
            problems.append(f"{j['cross_channel']:,} cross-channel deliveries (a message reached "
                            "a connection of another channel): the server does not keep the "
                            "channels apart")
        if not server_alive:
            problems.append(f"server exited during the run; see {srv.err_path}")
        rec["ok"] = not problems
        if problems:
            rec["error"] = "; ".join(problems)
            log(f"{tag}: FAILED: {rec['error']}")
        elif j:
            k = j.get("server_cpus_kernel") or {}
            log(f"{tag}: {j['deliveries_per_sec']:.0f} deliveries/s, "
                f"{fmt(j.get('server_cpu_us_per_delivery'), 3)} us/delivery, softirq "
                f"{fmt(k.get('softirq_cores'), 3)} (ksoftirqd {fmt(k.get('ksoftirqd_cores'), 3)}) "
                f"cores on cpu {k.get('cpus', '?')}, p99 "
                f"{j['latency_us']['p99']:.0f} us, loss {j['loss']}, dup {j['duplicates']}, "
                f"other {j.get('host_other_cores', 0):.2f} cores")
        self.runs.append(rec)
        return rec

    def maybe_restart(self, srv: Server, gen_err: Path, at: float, tag: str
                      ) -> "Restart | None":
        """Once the generator's progress passes `at` s of the measured window, starts
        `ringcastctl --socket S restart all` (it answers when every worker was replaced)."""
        try:
            text = gen_err.read_text(errors="replace")
        except OSError:
            return None
        ts = [float(x) for x in re.findall(r"t=\s*([0-9.]+)s", text)]
        if not ts or max(ts) + 1e-9 < at:
            return None
        argv = [str(self.t.ctl), "--socket", str(srv.ctl_socket), "restart",  # type: ignore
                "all"]
        return Restart(argv, self.logdir / f"{tag}.restart.log", max(ts))


class Restart:
    """`ringcastctl restart all`, run beside the generator; we never wait on it blocking."""

    def __init__(self, argv: list[str], out: Path, at: float):
        self.argv, self.out, self.at = argv, out, at
        self.t0 = time.monotonic()
        self.took: float | None = None
        self.proc = subprocess.Popen(argv, stdout=open(out, "wb"), stderr=subprocess.STDOUT,
                                     stdin=subprocess.DEVNULL)
        log(f"restart all started at t={at:.1f}s of the measured window")

    def poll(self) -> None:
        if self.took is None and self.proc.poll() is not None:
            self.took = time.monotonic() - self.t0

    def finish(self, grace: float = 65.0) -> dict:
        """The generator is done; give ringcastctl its own answer timeout (60 s), then stop
        it (ours, by PID) if it still has not answered."""
        try:
            self.proc.wait(timeout=max(0.0, grace - (time.monotonic() - self.t0)))
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait()
        self.poll()
        out = self.out.read_text(errors="replace").strip()
        code = self.proc.returncode
        return {"ran": True, "cmd": shlex.join(self.argv), "exit": code,
                "took_sec": round(self.took, 3) if self.took is not None else None,
                "at_progress_sec": self.at, "output": out[-600:],
                "result": "ok" if code == 0 else f"FAILED (exit {code}): {out[-300:]}"}


# ---------------------------------------------------------------------------------------
# Medians and the report
# ---------------------------------------------------------------------------------------

def git_state() -> str:
    """The commit the tree is at, and whether it has local changes (read-only git calls)."""
    try:
        head = subprocess.run(["git", "-C", str(REPO), "rev-parse", "--short", "HEAD"],
                              capture_output=True, text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "-C", str(REPO), "status", "--porcelain",
                                "--untracked-files=no"],
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.SubprocessError):
        return "unknown"
    return (head or "unknown") + (" with local changes" if dirty else "")


def fmt(v, digits=0) -> str:
    if v is None:
        return "–"
    if isinstance(v, float) and v != v:
        return "–"
    return f"{v:,.{digits}f}"


def is_paced(flags: str) -> bool:
    return "--rate" in flags


def median_run(runs: list[dict], paced: bool) -> dict | None:
    good = [r for r in runs if r.get("ok") and r.get("json")]
    if not good:
        return None
    if paced:  # the rate is fixed: the middle by loss, then by p99
        good.sort(key=lambda r: (r["json"]["loss"], latency(r["json"], "p99") or float("inf")))
    else:
        good.sort(key=lambda r: r["json"]["deliveries_per_sec"])
    return good[(len(good) - 1) // 2]


def latency(j: dict, key: str) -> float | None:
    """A latency percentile, or None when no message of the measured window arrived."""
    if not (j.get("measured") or {}).get("latency_samples"):
        return None
    return j["latency_us"][key]


def rss_per_conn(j: dict) -> tuple[float | None, str]:
    if j.get("server_rss_per_conn_bytes") is not None:
        return j["server_rss_per_conn_bytes"], "idle"
    if j.get("server_rss_kb") is not None and j.get("server_rss_baseline_kb") is not None:
        return (j["server_rss_kb"] - j["server_rss_baseline_kb"]) * 1024 / \
            j["scenario"]["conns"], "end"
    return None, ""


def summarize(runs: list[dict], flags_of: dict[str, str],
              irqtime: bool | None = None) -> list[dict]:
    groups: dict[tuple[str, str], list[dict]] = {}
    order: list[tuple[str, str]] = []
    for r in runs:
        k = (r["scenario"], r["variant"])
        if k not in groups:
            groups[k] = []
            order.append(k)
        groups[k].append(r)
    rows = []
    for k in order:
        rs = groups[k]
        paced = is_paced(flags_of.get(k[0], ""))
        m = median_run(rs, paced)
        dps = [r["json"]["deliveries_per_sec"] for r in rs if r.get("ok") and r.get("json")]
        row = {"scenario": k[0], "variant": k[1], "server": rs[0]["server"],
               "runs": len(rs), "ok_runs": len(dps), "paced": paced,
               "dps_min": min(dps) if dps else None, "dps_max": max(dps) if dps else None,
               "max_gap_ms_all": [(r["json"].get("max_gap") or {}).get("ms") for r in rs
                                  if r.get("ok") and r.get("json")],
               "errors": [r.get("error") for r in rs if not r.get("ok")],
               "skipped": next((r["skipped"] for r in rs if r.get("skipped")), None)}
        if m:
            j = m["json"]
            rpc, rkind = rss_per_conn(j)
            row.update({
                "median_rep": m["rep"],
                "deliveries_per_sec": j["deliveries_per_sec"],
                "us_per_delivery": j.get("server_cpu_us_per_delivery"),
                "p50_us": latency(j, "p50"), "p99_us": latency(j, "p99"),
                "max_us": latency(j, "max"),
                "measured_sent": j["measured"]["messages_sent"],
                # Deliveries due per message: conns − 1, or with --channels its channel's
                # others (expected over sent, whole run).
                "measured_delivered_fraction": (
                    j["measured"]["deliveries"] /
                    (j["measured"]["messages_sent"] * (
                        j["expected_deliveries"] / j["messages_sent"]
                        if j.get("channels") and j.get("messages_sent")
                        else j["scenario"]["conns"] - 1))
                    if j["measured"]["messages_sent"] else None),
                "rss_per_conn_bytes": rpc, "rss_kind": rkind,
                "loss": j["loss"], "duplicates": j["duplicates"],
                "expected_deliveries": j.get("expected_deliveries"),
                "reordered": j["reordered"], "self_echo": j["self_echo"],
                "cross_channel": j.get("cross_channel"),
                "errors_in_run": j["errors"], "window_stalls": j.get("window_stalls"), "closed_connections": j.get("closed_connections"),
                "server_cpu_cores": j.get("server_cpu_cores"),
                "client_cpu_cores": j.get("client_cpu_cores"),
                "host_other_cores": j.get("host_other_cores"),
                "max_gap_ms": (j.get("max_gap") or {}).get("ms"),
                "bytes_per_delivery": (j.get("measured") or {}).get("bytes_per_delivery"),
                "max_gap_end_sec": (j.get("max_gap") or {}).get("end_sec"),
                "server_cmd": m["server_cmd"], "gen_cmd": m.get("gen_cmd"),
                "restart": m.get("restart"),
                "auth": m.get("auth"), "connect_sec": j.get("connect_sec"),
            })
            row.update(kernel_figures(j, irqtime))
        rows.append(row)
    # Ratios against npm ws and uWebSockets in the same scenario (uWebSockets: for z1 its
    # deflate build; for scale and s1auth, which run ringcast alone, s1's row of this run,
    # whose generator flags are the same).
    def ref(scenario: str, variant: str) -> dict | None:
        return next((x for x in rows if x["scenario"] == scenario and x["variant"] == variant
                     and x.get("deliveries_per_sec")), None)
    for row in rows:
        if not row.get("deliveries_per_sec"):
            continue
        sc = row["scenario"]
        uws = ref(sc, {"z1": "uws-deflate", "c1": "uws-topics"}.get(sc, "uws")) or (
            ref("s1", "uws") if sc in UWS_FROM_S1 else None)
        for name, base in (("ws", ref(sc, "ws")), ("uws", uws)):
            if not base:
                continue
            row[f"x_{name}_dps"] = row["deliveries_per_sec"] / base["deliveries_per_sec"]
            for mine, key in (("cpu", "us_per_delivery"), ("total", "total_us_per_delivery")):
                if row.get(key) and base.get(key):
                    row[f"x_{name}_{mine}"] = base[key] / row[key]
            if name == "uws":
                row["x_uws_from"] = base["scenario"]
    auth_ratios(rows, runs)
    channels_off_ratios(rows, runs)
    return rows


def channels_off_ratios(rows: list[dict], runs: list[dict]) -> None:
    """c1off: on the `channels: "off"` row, off over as configured today (no key), of the
    medians (off_x_dps, off_x_cpu) and of each repeat's pair, run back to back (off_pairs);
    and over the s1 ringcast row of the same suite run, when s1 ran (off_x_s1_dps, ...)."""
    def row(sc, v):
        return next((x for x in rows if x["scenario"] == sc and x["variant"] == v
                     and x.get("deliveries_per_sec")), None)
    off = row("c1off", "ringcast-ch-off")
    if not off:
        return

    def ratio(a, b):
        return a / b if a is not None and b else None
    for base, key in ((row("c1off", "ringcast-ch-absent"), "off_x"), (row("s1", "ringcast"),
                                                                      "off_x_s1")):
        if base:
            off[f"{key}_dps"] = ratio(off["deliveries_per_sec"], base["deliveries_per_sec"])
            off[f"{key}_cpu"] = ratio(off.get("us_per_delivery"), base.get("us_per_delivery"))
    ok = {(r["variant"], r["rep"]): r["json"] for r in runs
          if r["scenario"] == "c1off" and r.get("ok") and r.get("json")}
    off["off_pairs"] = [
        {"rep": rp,
         "x_dps": ratio(j["deliveries_per_sec"], o["deliveries_per_sec"]),
         "x_cpu": ratio(j.get("server_cpu_us_per_delivery"), o.get("server_cpu_us_per_delivery"))}
        for (v, rp), j in sorted(ok.items())
        if v == "ringcast-ch-off" and (o := ok.get(("ringcast-ch-absent", rp)))]


def auth_ratios(rows: list[dict], runs: list[dict]) -> None:
    """s1auth: on the auth-on row, auth on over auth off: of the medians (auth_x_dps,
    auth_x_cpu) and of each repeat's pair, run back to back (auth_pairs); auth_in_effect when
    every auth-on run had the auth block accepted and a tokenless upgrade refused."""
    def row(v):
        return next((x for x in rows if x["scenario"] == "s1auth" and x["variant"] == v
                     and x.get("deliveries_per_sec")), None)
    on, off = row("ringcast-auth-on"), row("ringcast-auth-off")
    if not on or not off:
        return

    def ratio(a, b):
        return a / b if a is not None and b else None
    on["auth_x_dps"] = ratio(on["deliveries_per_sec"], off["deliveries_per_sec"])
    on["auth_x_cpu"] = ratio(on.get("us_per_delivery"), off.get("us_per_delivery"))
    ok = {(r["variant"], r["rep"]): r["json"] for r in runs
          if r["scenario"] == "s1auth" and r.get("ok") and r.get("json")}
    on["auth_pairs"] = [
        {"rep": rp,
         "x_dps": ratio(j["deliveries_per_sec"], o["deliveries_per_sec"]),
         "x_cpu": ratio(j.get("server_cpu_us_per_delivery"), o.get("server_cpu_us_per_delivery"))}
        for (v, rp), j in sorted(ok.items())
        if v == "ringcast-auth-on" and (o := ok.get(("ringcast-auth-off", rp)))]
    on_runs = [r for r in runs if r["scenario"] == "s1auth" and r["variant"] == "ringcast-auth-on"
               and r.get("ok")]
    on["auth_in_effect"] = bool(on_runs) and all(
        (r.get("auth") or {}).get("config_accepted") and (r.get("auth") or {}).get("enforced")
        for r in on_runs)


def loss_text(r: dict) -> str:
    if not r.get("loss"):
        return "0"
    exp = r.get("expected_deliveries")
    return f"{r['loss']:,}" + (f" ({100 * r['loss'] / exp:.0f}%)" if exp else "")


def variant_title(row: dict) -> str:
    v = row["variant"]
    if v in SERVER_TITLES:
        return SERVER_TITLES[v]
    if v.startswith("ringcast-"):
        p = v.split("-")[1].rstrip("p")
        t = f"ringcast, {p} process{'es' if p != '1' else ''} × 1 shard"
        return t + (", no restart (baseline)" if v.endswith("-steady") else "")
    return SERVER_TITLES.get(v, v)


def auth_table(L: list[str], rs: list[dict]) -> None:
    """s1auth: auth off and on side by side, the ratios, and whether auth was in effect."""
    L.append("| server | deliveries/s | × off | × uWS | µs/deliv | × off CPU | × uWS CPU "
             "| softirq/ksoftirqd | µs/deliv incl. kernel | × uWS incl. | p50 µs | p99 µs "
             "| loss/dup | connect s | srv/gen/other |")
    L.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
             "| ---: | ---: | --- |")
    for r in rs:
        if "deliveries_per_sec" not in r:
            L.append(f"| {variant_title(r)} | failed: {'; '.join(r['errors'])} "
                     "| | | | | | | | | | | | | |")
            continue
        spread = f" ({fmt(r['dps_min'])}–{fmt(r['dps_max'])})" if r["ok_runs"] > 1 else ""
        L.append(f"| {variant_title(r)} | {fmt(r['deliveries_per_sec'])}{spread} | "
                 f"{fmt(r.get('auth_x_dps'), 3)} | {fmt(r.get('x_uws_dps'), 2)} | "
                 f"{fmt(r['us_per_delivery'], 3)} | "
                 f"{fmt(r.get('auth_x_cpu'), 3)} | {fmt(r.get('x_uws_cpu'), 2)} | "
                 f"{kern_cell(r)} | {fmt(r.get('total_us_per_delivery'), 3)} | "
                 f"{fmt(r.get('x_uws_total'), 2)} | {fmt(r['p50_us'])} | {fmt(r['p99_us'])} | "
                 f"{loss_text(r)}/{r['duplicates']} | {fmt(r.get('connect_sec'), 2)} | "
                 f"{fmt(r['server_cpu_cores'], 2)}/"
                 f"{fmt(r['client_cpu_cores'], 2)}/{fmt(r['host_other_cores'], 2)} |")
    L.append("")
    on = next((r for r in rs if r["variant"] == "ringcast-auth-on" and r.get("auth_x_dps")), None)
    if on:
        pairs = on.get("auth_pairs") or []
        each = lambda k, d: ", ".join(fmt(p[k], d) for p in pairs)  # noqa: E731
        L.append(f"**auth on / auth off**: deliveries/s × {fmt(on['auth_x_dps'], 3)}"
                 + (f" (each repeat's pair: {each('x_dps', 3)})" if len(pairs) > 1 else "")
                 + f"; server CPU per delivery × {fmt(on.get('auth_x_cpu'), 3)}"
                 + (f" ({each('x_cpu', 3)})" if len(pairs) > 1 else "")
                 + " (above 1: auth on costs more). The hot path did not get slower when the "
                   "first stays near 1 or above and the second near 1 or below; each repeat "
                   "ran its pair back to back, off first.")
        L.append("")
    a = (on or {}).get("auth") or next((r.get("auth") for r in rs if r.get("auth")), None)
    if a and on and on.get("auth_in_effect"):
        L.append(f"Auth in effect: the auth-on server had `auth.required` with an HS256 secret "
                 f"file, refused a tokenless upgrade (`{a.get('tokenless_upgrade')}`) and "
                 f"admitted all {a.get('tokens')} clients, each with its own token "
                 f"(`Authorization: Bearer`, sub bench-I, publisher; `ringcast-bench "
                 f"--token-file`). The tokens are verified while the clients connect "
                 f"(**connect s**: the generator's time to open all of them), before the "
                 f"measured window.")
    elif a and not a.get("config_accepted"):
        L.append(f"**Auth not in effect**: this ringcast refused the `auth` block "
                 f"(`{a.get('config_refusal')}`), so the auth-on runs sent a token per client "
                 f"that nothing checked: the ratio shows only run-to-run noise and the header "
                 f"bytes.")
    elif a:
        L.append(f"**Auth not enforced**: the `auth` block was accepted but a tokenless upgrade "
                 f"was answered `{a.get('tokenless_upgrade')}`.")


def failed_cell(r: dict) -> str:
    if r.get("skipped"):
        return f"not run: {r['skipped']}"
    return f"failed: {'; '.join(e for e in r['errors'] if e)}"


def channels_table(L: list[str], rs: list[dict]) -> None:
    """c1: ringcast with channels by path against uWebSockets' topic per path."""
    L.append("| server | deliveries/s | × uWS | µs/deliv | × uWS CPU | softirq/ksoftirqd "
             "| µs/deliv incl. kernel | × uWS incl. | p50 µs | p99 µs | loss/dup "
             "| cross-channel | srv/gen/other |")
    L.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
             "| --- |")
    for r in rs:
        name = f"**{variant_title(r)}**" if r["server"] == "ringcast" else variant_title(r)
        if "deliveries_per_sec" not in r:
            L.append(f"| {name} | {failed_cell(r)} | | | | | | | | | | | |")
            continue
        spread = f" ({fmt(r['dps_min'])}–{fmt(r['dps_max'])})" if r["ok_runs"] > 1 else ""
        L.append(f"| {name} | {fmt(r['deliveries_per_sec'])}{spread} | "
                 f"{fmt(r.get('x_uws_dps'), 2)} | {fmt(r['us_per_delivery'], 3)} | "
                 f"{fmt(r.get('x_uws_cpu'), 2)} | {kern_cell(r)} | "
                 f"{fmt(r.get('total_us_per_delivery'), 3)} | {fmt(r.get('x_uws_total'), 2)} | "
                 f"{fmt(r['p50_us'])} | {fmt(r['p99_us'])} | {loss_text(r)}/{r['duplicates']} | "
                 f"{fmt(r.get('cross_channel'))} | {fmt(r['server_cpu_cores'], 2)}/"
                 f"{fmt(r['client_cpu_cores'], 2)}/{fmt(r['host_other_cores'], 2)} |")
    L.append("")
    L.append("Every message is due at the 99 other connections of its sender's channel: "
             "**loss** counts what one of them missed, **cross-channel** what arrived at a "
             "connection of another channel (an error: such a run fails). × uWS: against "
             "uWebSockets with a topic per path in the same suite run (above 1: ringcast ahead).")


def channels_off_section(L: list[str], off_rs: list[dict]) -> None:
    """c1off (run with c1): s1 with `channels: "off"` against s1 as configured today."""
    if not off_rs:
        return
    L.append(f"### c1off: {DESCRIPTIONS['c1off']}\n")
    L.append("| server | deliveries/s | × as today | × uWS | µs/deliv | × as today CPU | × uWS CPU "
             "| softirq/ksoftirqd | µs/deliv incl. kernel | p50 µs | p99 µs | loss/dup "
             "| srv/gen/other |")
    L.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
             "| --- |")
    for r in off_rs:
        if "deliveries_per_sec" not in r:
            L.append(f"| {variant_title(r)} | {failed_cell(r)} | | | | | | | | | | | |")
            continue
        spread = f" ({fmt(r['dps_min'])}–{fmt(r['dps_max'])})" if r["ok_runs"] > 1 else ""
        L.append(f"| **{variant_title(r)}** | {fmt(r['deliveries_per_sec'])}{spread} | "
                 f"{fmt(r.get('off_x_dps'), 3)} | {fmt(r.get('x_uws_dps'), 2)} | "
                 f"{fmt(r['us_per_delivery'], 3)} | {fmt(r.get('off_x_cpu'), 3)} | "
                 f"{fmt(r.get('x_uws_cpu'), 2)} | {kern_cell(r)} | "
                 f"{fmt(r.get('total_us_per_delivery'), 3)} | {fmt(r['p50_us'])} | "
                 f"{fmt(r['p99_us'])} | {loss_text(r)}/{r['duplicates']} | "
                 f"{fmt(r['server_cpu_cores'], 2)}/{fmt(r['client_cpu_cores'], 2)}/"
                 f"{fmt(r['host_other_cores'], 2)} |")
    L.append("")
    off = next((r for r in off_rs if r["variant"] == "ringcast-ch-off"
                and r.get("off_x_dps")), None)
    if off:
        pairs = off.get("off_pairs") or []
        each = lambda k, d: ", ".join(fmt(p[k], d) for p in pairs)  # noqa: E731
        L.append(f"**channels off / as today**: deliveries/s × {fmt(off['off_x_dps'], 3)}"
                 + (f" (each repeat's pair: {each('x_dps', 3)})" if len(pairs) > 1 else "")
                 + f"; server CPU per delivery × {fmt(off.get('off_x_cpu'), 3)}"
                 + (f" ({each('x_cpu', 3)})" if len(pairs) > 1 else "")
                 + " (above 1: off costs more)"
                 + (f"; against this run's s1 row: deliveries/s × {fmt(off['off_x_s1_dps'], 3)}, "
                    f"CPU per delivery × {fmt(off.get('off_x_s1_cpu'), 3)}"
                    if off.get("off_x_s1_dps") else "")
                 + ". s1 did not get slower when the first stays near 1 or above and the second "
                   "near 1 or below; each repeat ran its pair back to back, as today first.")
        L.append("")
    if not any(r.get("server_cmd") for r in off_rs):
        return
    L.append("<details><summary>c1off command lines (median run)</summary>\n")
    L.append("```")
    for r in off_rs:
        if r.get("server_cmd"):
            L.append(f"# {variant_title(r)}")
            L.append(r["server_cmd"])
            L.append(r["gen_cmd"] or "")
    L.append("```\n</details>\n")


def kern_cell(r: dict) -> str:
    """softirq/ksoftirqd cores on the server's CPU(s)."""
    if r.get("softirq_cores") is None:
        return "–"
    return f"{fmt(r['softirq_cores'], 3)}/{fmt(r['ksoftirqd_cores'], 3)}"


def accounting_text(irqtime: bool | None) -> str:
    if irqtime:
        return ("CONFIG_IRQ_TIME_ACCOUNTING: irq and softirq time is taken out of the task they "
                "interrupted, so **µs/deliv incl. kernel** = (server + softirq + irq on its CPU) "
                "per delivery")
    return (("no CONFIG_IRQ_TIME_ACCOUNTING (tick accounting)" if irqtime is False else
             "kernel config not found, tick accounting assumed") +
            ": a softirq run in the server's own context is already in the server's CPU "
            "(and in the softirq column too), ksoftirqd's is not, so **µs/deliv incl. kernel** "
            "= (server + ksoftirqd/N) per delivery")


def uws_note(rs: list[dict]) -> str | None:
    """Where a table's × uWS came from, when not from its own scenario."""
    src = {r.get("x_uws_from") for r in rs if r.get("x_uws_from")}
    sc = rs[0]["scenario"] if rs else ""
    if src and src != {sc}:
        return (f"× uWS: against uWebSockets' row in {', '.join(sorted(src))} of this run "
                "(same generator flags; uWebSockets does not run this scenario).")
    if not src and sc not in ("restart",):
        return "× uWS: no uWebSockets row in this run to compare with."
    return None


def write_report(path: Path, meta: dict, rows: list[dict], flags_of: dict[str, str],
                 chart: str | None, bridge_section: str | None = None) -> None:
    L = []
    L.append("# ringcast benchmark results\n")
    L.append(f"Generated by `bench/run.sh{' ' + meta['argv'] if meta['argv'] else ''}` "
             f"on {meta['date']}" + (" (**--quick**: short smoke runs, not figures to quote)"
                                     if meta["quick"] else "") + ".\n")
    L.append("| | |\n| --- | --- |")
    L.append(f"| machine | `{meta['uname']}` |")
    L.append(f"| CPU | {meta['cpu_model']} × {meta['cpus']} |")
    L.append(f"| source | {meta.get('source', '?')} |")
    L.append(f"| kernel CPU | softirq, irq and busy ticks of the server's CPU(s) from "
             f"/proc/stat and ksoftirqd/N's CPU time, over each measured window; "
             f"{accounting_text(meta.get('irq_time_accounting'))} |")
    L.append(f"| pinning | server `taskset -c {meta['server_cpus']}`, generator "
             f"`taskset -c {meta['gen_cpus']}` (1 generator thread) |")
    L.append(f"| repeats | {meta['repeat']} per row, the median kept (by deliveries/s; by p99 "
             f"for paced scenarios); measured {meta['duration']} s after {meta['warmup']} s "
             f"warmup |")
    la = meta["load_wait"]
    if la["quiet"] is None:
        L.append(f"| load before the suite | 1-min loadavg {la['loadavg_1m']:.2f} (not waited "
                 "for) |")
    else:
        L.append(f"| load before the suite | 1-min loadavg {la['loadavg_1m_first']:.2f}"
                 f" → {la['loadavg_1m']:.2f} after waiting {la['waited_sec']} s "
                 f"(threshold {meta['max_load']}); "
                 + ("quiet" if la["quiet"] else "**not quiet: ran anyway**") + " |")
    qr = [r for r in meta["quiet_runs"] if r["quiet"] is not None]
    nq = [r for r in qr if r["quiet"] is False]
    if qr:
        waited = sum(r["waited_sec"] for r in qr)
        L.append(f"| quiet check per run | busy CPU < {meta['quiet_cores']} cores over 1 s, "
                 f"waiting up to {meta['quiet_wait']:g} s: {len(qr) - len(nq)} of {len(qr)} runs "
                 f"started quiet after {waited:.0f} s of waiting in all"
                 + (f"; **{len(nq)} started on a busy machine**" if nq else "") + " |")
    else:
        L.append("| quiet check per run | off |")
    other = [r["json"].get("host_other_cores") for r in meta.get("runs_for_notes", [])
             if r.get("json") and r["json"].get("host_other_cores") is not None]
    if other:
        L.append(f"| other work during measured windows | median "
                 f"{statistics.median(other):.2f} cores, max {max(other):.2f} cores "
                 f"(`host_other_cores`: busy CPU that was neither server nor generator) |")
    for k, v in meta["versions"].items():
        L.append(f"| {SERVER_TITLES.get(k, k)} | {v} |")
    for k, v in meta["unavailable"].items():
        L.append(f"| {SERVER_TITLES.get(k, k)} | **not run**: {v} |")
    L.append("")
    L.append("Columns: **deliveries/s** is the median run's rate in the measured window "
             "(min–max over the repeats in brackets); **× ws** and **× uWS** are that rate "
             "over npm ws's and over uWebSockets' (the same scenario in the same suite run); "
             "**µs/deliv** is the server's CPU time (all its processes) per delivery, and "
             "**× ws CPU**, **× uWS CPU** are npm ws's and uWebSockets' µs/delivery over this "
             "server's (above 1: cheaper than the peer); **softirq/ksoftirqd** are the cores "
             "the kernel spent in softirq on the server's CPU (all of it, from /proc/stat) and "
             "how much of that ran in the ksoftirqd thread of that CPU (not in any figure of "
             "the server's own processes); **µs/deliv incl. kernel** is the server's CPU with "
             "the kernel's share that its own figure leaves out (see *kernel CPU* above), and "
             "**× uWS incl.** is uWebSockets' over this one (above 1: cheaper). The generator "
             "is pinned to the other CPU and on loopback a packet's receive path runs in the "
             "softirq of the CPU that sent it, so softirq on the server's CPU is mostly the "
             "receive side of what the server sent (the generator's sockets, their ACKs) and "
             "timers; the generator's own sends are processed on its CPU. Only ringcast's rows "
             "(in bold) are this project's; every other row is a peer built for the suite; "
             "**p50/p99** are send-to-receive latencies; **RSS/conn** is the server's "
             "resident memory per connection after the idle hold (s3, s3lo) or, marked †, at "
             "the end of the run over the pre-connect baseline (others; ringcast's † figure "
             "includes the pages of its shared-memory slab arena that the traffic has cycled "
             "through, a fixed cost that does not grow with connections); **srv/gen/other** "
             "are the CPU "
             "cores the server, the generator and everything else on the machine used during "
             "the measured window (gen near 1.0: the generator was the limit; other well "
             "above 0: the figures are disturbed).\n")
    if chart:
        L.append(f"![ringcast vs peers]({chart})\n")

    def table(scenario: str):
        rs = [r for r in rows if r["scenario"] == scenario]
        if not rs:
            return
        title = scenario if scenario not in ("scale", "restart") else scenario
        L.append(f"## {title}: {DESCRIPTIONS.get(scenario, '')}\n")
        if scenario == "restart":
            L.append("| server | deliveries/s | longest gap, ms (every run) | normal gap (ms) "
                     "| loss | dup "
                     "| closed conns | restart took (s) | p50 µs | p99 µs | max µs "
                     "| softirq/ksoftirqd | µs/deliv incl. kernel | srv/gen/other |")
            L.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
                     "| ---: | ---: | ---: | --- |")
            for r in rs:
                if "deliveries_per_sec" not in r:
                    L.append(f"| {variant_title(r)} | failed: {'; '.join(r['errors'])} |")
                    continue
                rate = re.search(r"--rate (\S+)", flags_of.get("restart", ""))
                normal = 1000 / float(rate.group(1)) if rate else None
                rst = r.get("restart") or {}
                if r.get("restart") is None:
                    took = "– (none)"
                elif not rst.get("ran"):
                    took = "not run"
                elif rst.get("exit") == 0:
                    took = fmt(rst.get("took_sec"), 2)
                else:
                    took = f"**failed** (exit {rst.get('exit')}) after {fmt(rst.get('took_sec'), 1)}"
                gaps = [g for g in r.get("max_gap_ms_all", []) if g is not None]
                gap = fmt(r["max_gap_ms"], 1) + (
                    f" ({', '.join(fmt(g, 0) for g in gaps)})" if len(gaps) > 1 else "")
                L.append(f"| {variant_title(r)} | {fmt(r['deliveries_per_sec'])} | "
                         f"{gap} | {fmt(normal, 1)} | {loss_text(r)} | "
                         f"{r['duplicates']} | {r['closed_connections']} | {took} | "
                         f"{fmt(r['p50_us'])} | {fmt(r['p99_us'])} | {fmt(r['max_us'])} | "
                         f"{kern_cell(r)} | {fmt(r.get('total_us_per_delivery'), 3)} | "
                         f"{fmt(r['server_cpu_cores'], 2)}/{fmt(r['client_cpu_cores'], 2)}/"
                         f"{fmt(r['host_other_cores'], 2)} |")
        elif scenario == "s1auth":
            auth_table(L, rs)
        elif scenario == "c1":
            channels_table(L, rs)
        elif scenario == "z1":
            # Against uWebSockets' shared compressor: above 1 means ringcast is ahead.
            uws = next((x for x in rs if x["variant"] == "uws-deflate" and x.get("deliveries_per_sec")), None)
            L.append("| server | deliveries/s | µs/deliv | wire B/deliv | × uWS rate | × uWS CPU "
                     "| × uWS bytes | softirq/ksoftirqd | µs/deliv incl. kernel | × uWS incl. "
                     "| p50 µs | p99 µs | loss/dup | srv/gen/other |")
            L.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
                     "| ---: | ---: | ---: | --- |")
            for r in rs:
                if "deliveries_per_sec" not in r:
                    L.append(f"| {variant_title(r)} | failed: {'; '.join(r['errors'])} "
                             "| | | | | | | | | | | | |")
                    continue
                def ratio(key, inverse):
                    if not uws or not r.get(key) or not uws.get(key):
                        return "–"
                    return fmt(uws[key] / r[key] if inverse else r[key] / uws[key], 2)
                name = f"**{variant_title(r)}**" if r["variant"] == "ringcast" else variant_title(r)
                L.append(f"| {name} | {fmt(r['deliveries_per_sec'])} | {fmt(r['us_per_delivery'], 3)} | "
                         f"{fmt(r.get('bytes_per_delivery'), 1)} | {ratio('deliveries_per_sec', False)} | "
                         f"{ratio('us_per_delivery', True)} | {ratio('bytes_per_delivery', True)} | "
                         f"{kern_cell(r)} | {fmt(r.get('total_us_per_delivery'), 3)} | "
                         f"{ratio('total_us_per_delivery', True)} | "
                         f"{fmt(r['p50_us'])} | {fmt(r['p99_us'])} | {loss_text(r)}/{r['duplicates']} | "
                         f"{fmt(r['server_cpu_cores'], 2)}/{fmt(r['client_cpu_cores'], 2)}/"
                         f"{fmt(r['host_other_cores'], 2)} |")
            L.append("")
            L.append("Wire B/deliv: bytes the generator read from the server in the measured window "
                     "per delivery (frame headers included; the JSON payload is 512 B).")
        else:
            L.append("| server | deliveries/s | × ws | × uWS | µs/deliv | × ws CPU | × uWS CPU "
                     "| softirq/ksoftirqd | µs/deliv incl. kernel | × uWS incl. "
                     "| p50 µs | p99 µs | RSS/conn | loss/dup | srv/gen/other |")
            L.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: "
                     "| ---: | ---: | ---: | ---: | --- |")
            for r in rs:
                if "deliveries_per_sec" not in r:
                    L.append(f"| {variant_title(r)} | failed: {'; '.join(r['errors'])} "
                             "| | | | | | | | | | | | | |")
                    continue
                spread = ""
                if r["ok_runs"] > 1:
                    spread = f" ({fmt(r['dps_min'])}–{fmt(r['dps_max'])})"
                rpc = r["rss_per_conn_bytes"]
                rss = f"{rpc / 1024:,.1f} KiB" if rpc is not None else "–"
                if rpc is not None and r.get("rss_kind") == "end":
                    rss += " †"
                name = variant_title(r)
                if r["variant"] == "ringcast" or r["variant"].startswith("ringcast-"):
                    name = f"**{name}**"
                L.append(f"| {name} | {fmt(r['deliveries_per_sec'])}{spread} | "
                         f"{fmt(r.get('x_ws_dps'), 2)} | {fmt(r.get('x_uws_dps'), 2)} | "
                         f"{fmt(r['us_per_delivery'], 3)} | "
                         f"{fmt(r.get('x_ws_cpu'), 2)} | {fmt(r.get('x_uws_cpu'), 2)} | "
                         f"{kern_cell(r)} | {fmt(r.get('total_us_per_delivery'), 3)} | "
                         f"{fmt(r.get('x_uws_total'), 2)} | {fmt(r['p50_us'])} | "
                         f"{fmt(r['p99_us'])} | {rss} | {loss_text(r)}/{r['duplicates']} | "
                         f"{fmt(r['server_cpu_cores'], 2)}/{fmt(r['client_cpu_cores'], 2)}/"
                         f"{fmt(r['host_other_cores'], 2)} |")
                if r["ok_runs"] < r["runs"]:
                    L.append(f"| ↳ {r['runs'] - r['ok_runs']} of {r['runs']} runs failed: "
                             f"{'; '.join(e for e in r['errors'] if e)} "
                             "| | | | | | | | | | | | | | |")
        L.append("")
        notes = []
        un = uws_note(rs)
        if un and scenario != "z1":
            notes.append(un)
        if scenario == "restart":
            notes.append("No × uWS here: this is a paced load against ringcast replacing its "
                         "own workers, which uWebSockets has no counterpart of; s1's table "
                         "has its cost per delivery.")
        disturbed = [f"{variant_title(r)} {r['host_other_cores']:.2f}" for r in rs
                     if (r.get("host_other_cores") or 0) > 0.3]
        if disturbed:
            notes.append("Disturbed by other work on the machine (cores it took during the "
                         "median run's measured window): " + ", ".join(disturbed) + ".")
        for r in rs:
            if "deliveries_per_sec" not in r:
                continue
            n = variant_title(r)
            if (r.get("client_cpu_cores") or 0) > 0.9:
                notes.append(f"{n}: the generator used {r['client_cpu_cores']:.2f} cores, so it "
                             "may have been the limit, not the server.")
            if r.get("p99_us") is None:
                notes.append(f"{n}: no message sent in the measured window reached its "
                             "receivers before the drain ended, so there is no latency.")
            if r.get("loss"):
                notes.append(f"{n}: loss {r['loss']:,} = deliveries still missing when the "
                             "generator's 5 s drain after the run ended (a backlog the server "
                             "had not sent yet counts as loss).")
            if r.get("restart") and r["restart"].get("ran") and \
                    r.get("max_gap_end_sec") is not None:
                notes.append(f"{n}: `restart all` started {r['restart']['at_progress_sec']:.1f} s "
                             f"into the measured window; the longest gap ended at "
                             f"{r['max_gap_end_sec']:.2f} s.")
            if r.get("restart") and r["restart"].get("ran") and r["restart"].get("exit") != 0:
                notes.append(f"{n}: `ringcastctl restart all` failed: "
                             f"{r['restart'].get('output', '')[-300:]}")
            if r.get("errors_in_run"):
                if r["errors_in_run"] == r.get("window_stalls"):
                    notes.append(f"{n}: {r['errors_in_run']} window stall(s) in the median run "
                                 "(a sender's window stayed full over 1 s: the server was that "
                                 "far behind), no protocol errors.")
                else:
                    notes.append(f"{n}: {r['errors_in_run']} error(s) in the median run; see "
                                 "the JSON.")
        if notes:
            L.extend(f"- {x}" for x in notes)
            L.append("")
        L.append("<details><summary>command lines (median run)</summary>\n")
        L.append("```")
        for r in rs:
            if r.get("server_cmd"):
                L.append(f"# {variant_title(r)}")
                L.append(r["server_cmd"])
                L.append(r["gen_cmd"] or "")
                if r.get("restart") and r["restart"].get("cmd"):
                    L.append(r["restart"]["cmd"] + "   # during the run")
        L.append("```\n</details>\n")
        if scenario == "c1":
            channels_off_section(L, [r for r in rows if r["scenario"] == "c1off"])

    for sc in meta["scenarios"]:
        table(sc)
    allocs_section(L, meta.get("allocs"))
    if bridge_section:  # bench/bridge/run.sh's section, as it rendered it (its own date, run)
        L.append(bridge_section.rstrip("\n") + "\n")
    L.append("Raw JSON of every run (all repeats): `" + meta["results_json"] + "`; the "
             "logs of every server and generator run were kept in `" + meta["logdir"] +
             "` on the machine that ran it.\n")
    # Command lines are shown relative to the repository: the report names no machine paths.
    path.write_text("\n".join(L).replace(str(REPO) + "/", ""))


# ---------------------------------------------------------------------------------------
# Main
# ---------------------------------------------------------------------------------------

def last_json_line(path: Path) -> dict | None:
    """The JSON object on the last non-empty line of a generator's stdout file, or None."""
    try:
        lines = [ln for ln in path.read_text().splitlines() if ln.strip()]
        return json.loads(lines[-1]) if lines else None
    except (OSError, ValueError):
        return None


def run_json_tool(argv) -> tuple[dict, bool]:
    """Runs one of the suite's helper scripts (which stop their own servers on SIGTERM).
    Returns (the JSON object on the last line of its stdout, True), or (why there is none,
    False): exit 77 is "not run", anything unreadable "failed"."""
    try:
        p = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             stdin=subprocess.DEVNULL)
    except OSError as e:
        return {"status": "not run", "why": str(e)}, False
    try:
        out, err = p.communicate(timeout=600)
    except BaseException:  # interrupted or too slow
        p.terminate()
        try:
            p.wait(timeout=30)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()
        raise
    if p.returncode == 77:
        return {"status": "not run", "why": err.strip()[-300:]}, False
    try:
        return json.loads(out.strip().splitlines()[-1]), True
    except (ValueError, IndexError):
        return {"status": "failed", "why": err.strip()[-300:]}, False


def run_allocs(a, tools: Tools) -> dict:
    """bench/alloc/allocs_per_message.py against the same build: heap allocations per message
    of ringcast's workers in steady state. Returns its JSON, or why it did not run."""
    argv = [sys.executable, str(REPO / "bench" / "alloc" / "allocs_per_message.py"),
            str(tools.build_dir), "--server-cpus", a.server_cpus, "--gen-cpus", a.gen_cpus]
    log("allocs: " + shlex.join(argv))
    doc, ran = run_json_tool(argv)
    if ran:
        doc["cmd"] = shlex.join(argv)
    return doc


def allocs_section(L: list[str], al: dict | None) -> None:
    if not al:
        return
    L.append("## Heap allocations per message (ringcast workers)\n")
    if al.get("status") not in ("ok", "failed") or "cases" not in al:
        L.append(f"Not measured: {al.get('why', al.get('status'))}\n")
        return
    L.append(f"`bench/alloc/allocs_per_message.py` (see bench/README.md): ringcast run with "
             f"`LD_PRELOAD=libringcast_alloccount.so`; its workers' allocations counted over "
             f"the middle of a {al.get('duration')} s measured window (from the generator's "
             f"first progress line to its last), after {al.get('warmup')} s of warmup. Per "
             f"message: all workers' allocations over the messages the server received; per "
             f"delivery: over the frames they sent.\n")
    L.append("| case | messages | deliveries | worker allocations | per message | per delivery "
             "| allocs/conn while connecting |")
    L.append("| --- | ---: | ---: | ---: | ---: | ---: | ---: |")
    for c in al["cases"]:
        if not c.get("ok"):
            L.append(f"| {c['name']} | failed: {c.get('error', '?')} | | | | | |")
            continue
        per_conn = [w["connect_allocs_per_connection"] for w in c["workers"]
                    if w.get("connect_allocs_per_connection") is not None]
        L.append(f"| {c['name']} (`{c['gen_flags']}`) | {fmt(c['messages'])} | "
                 f"{fmt(c['deliveries'])} | {c['worker_allocs']} | "
                 f"{fmt(c['allocs_per_message'], 6)} | {fmt(c['allocs_per_delivery'], 8)} | "
                 f"{fmt(max(per_conn), 1) if per_conn else '–'} |")
    L.append("")


def draw_chart(results: Path, report: Path) -> str | None:
    chart = results.parent / "chart.png"
    r = subprocess.run(["/usr/bin/python3" if Path("/usr/bin/python3").exists()
                        else sys.executable, str(REPO / "bench" / "plot.py"),
                        str(results), str(chart)], capture_output=True, text=True)
    if r.returncode != 0:
        log(f"chart not drawn: {(r.stderr or r.stdout).strip().splitlines()[-1:]}")
        return None
    return os.path.relpath(chart, report.parent)


BRIDGE_SCRIPT = REPO / "bench" / "bridge" / "cross_node.py"


def bridge_section(out: Path) -> str | None:
    """The cross-node section bench/bridge/run.sh left in OUT/bridge.md, if it ran there."""
    try:
        return (out / "bridge.md").read_text()
    except OSError:
        return None


def bridge_argv(a, out: Path, report: Path | None, logs: Path | None) -> list[str]:
    argv = [sys.executable, str(BRIDGE_SCRIPT), "--bin-dir", a.bin_dir, "--out", str(out),
            "--server-cpus", a.server_cpus, "--gen-cpus", a.gen_cpus]
    if report:
        argv += ["--report", str(report)]
    if logs:
        argv += ["--logs", str(logs)]
    if a.gen_flags:
        argv += ["--gen-flags", a.gen_flags]
    return argv


def run_bridge(a, out: Path, logs: Path) -> dict:
    """bench/bridge/run.sh (two nodes through Redis) into OUT/bridge.json and OUT/bridge.md;
    returns its summary line, or why it did not run."""
    argv = bridge_argv(a, out, None, logs)
    log("bridge: " + shlex.join(argv))
    return run_json_tool(argv)[0]


def rerender(results: Path, a, report: Path | None) -> int:
    """Recomputes the medians from every run in results.json and rewrites it, the report
    (default: bench/RESULTS.md for bench/results, else next to the JSON) and the chart."""
    doc = json.loads(results.read_text())
    meta, runs = doc["meta"], doc["runs"]
    flags_of = meta["scenario_flags"]
    rows = summarize(runs, flags_of, meta.get("irq_time_accounting"))
    meta["quiet_runs"] = [r["quiet"] for r in runs]
    doc["summary"] = rows
    results.write_text(json.dumps(doc, indent=1).replace(str(REPO) + "/", "") + "\n")
    if report is None:
        report = REPO / "bench" / "RESULTS.md" if results.parent == REPO / "bench" / "results" \
            else results.parent / "RESULTS.md"
    chart_rel = None if a.no_chart else draw_chart(results, report)
    write_report(report, dict(meta, runs_for_notes=runs), rows, flags_of, chart_rel,
                 bridge_section(results.parent))
    log(f"rewrote {report} and {results}")
    return 0


def run_c1(runner: "Runner", rep: int, flags_of: dict[str, str], topics_ok: list[str],
           tools: "Tools") -> None:
    """One repeat of c1: ringcast with `channels: "path"` and uWebSockets with a topic per
    path under c1's flags; then c1off: s1 against ringcast as configured today and with
    `channels: "off"`, back to back. A ringcast whose `--check-config` refuses the setting
    (a build before channels: "unknown key") is not run with it, and the report says so."""
    def refused(value: str) -> str:
        why = runner.channels_refusal(value)
        return f"channels not supported by this build (`ringcast --check-config`: {why})" \
            if why else ""
    why = refused("path")
    if why:
        runner.not_run("c1", "ringcast", "ringcast-ch-path", rep, why)
    else:
        runner.one("c1", "ringcast", "ringcast-ch-path", rep, flags_of["c1"], channels="path")
    if "uws-topics" in topics_ok:
        runner.one("c1", "uws-topics", "uws-topics", rep, flags_of["c1"])
    else:
        runner.not_run("c1", "uws-topics", "uws-topics", rep,
                       tools.notes.get("uws-topics", "not available"))
    why = refused("off")
    if why:
        for v in ("ringcast-ch-absent", "ringcast-ch-off"):
            runner.not_run("c1off", "ringcast", v, rep, why)
        return
    runner.one("c1off", "ringcast", "ringcast-ch-absent", rep, flags_of["c1off"])
    runner.one("c1off", "ringcast", "ringcast-ch-off", rep, flags_of["c1off"], channels="off")


def main() -> int:
    ap = argparse.ArgumentParser(
        prog="bench/run.sh",
        description="ringcast against uWebSockets, npm ws, Boost.Beast and Go "
                    "gorilla/websocket: every "
                    "scenario, every server, repeated; writes bench/RESULTS.md, "
                    "bench/results/results.json and bench/results/chart.png.")
    ap.add_argument("--quick", action="store_true",
                    help="smoke mode for the test suite: ringcast + one peer (--peers, default "
                         "beast), short runs, 1 repeat, no quiet wait; writes only into --out "
                         "(a temporary directory by default); last stdout line is JSON")
    ap.add_argument("--bin-dir", default=str(REPO / "build" / "bin"),
                    help="ringcast, ringcastctl, ringcast-bench, bench-peer-beast (default "
                         "build/bin)")
    ap.add_argument("--build-dir", default=None,
                    help="where the gorilla and uWebSockets binaries and ws's node_modules "
                         "go (default: --bin-dir/..)")
    ap.add_argument("--peers", default=None,
                    help="comma list of peers: uws,ws,beast,gorilla (default all; --quick: "
                         "beast)")
    ap.add_argument("--scenarios", default=None,
                    help=f"comma list of {','.join(ALL_SCENARIOS)} (default all)")
    ap.add_argument("--repeat", type=int, default=None, help="runs per row (default 3)")
    ap.add_argument("--duration", type=float, default=None, help="measured seconds (10)")
    ap.add_argument("--warmup", type=float, default=None, help="warmup seconds (1)")
    ap.add_argument("--port", type=int, default=19500, help="first port (19500..19900 used)")
    ap.add_argument("--server-cpus", default="0")
    ap.add_argument("--gen-cpus", default="1")
    ap.add_argument("--max-load", type=float, default=1.0,
                    help="wait for the 1-min loadavg below this before starting (1.0)")
    ap.add_argument("--load-wait", type=float, default=None,
                    help="... but at most this many seconds (120; --quick 0)")
    ap.add_argument("--quiet-cores", type=float, default=0.5,
                    help="before each run wait until busy CPU over 1 s is below this (0.5)")
    ap.add_argument("--quiet-wait", type=float, default=None,
                    help="... but at most this many seconds (30; --quick 0)")
    ap.add_argument("--restart-rate", type=float, default=None,
                    help="restart scenario: msg/s per sender (10 senders; default 25, so "
                         "the 250,000 deliveries/s leave the server headroom)")
    ap.add_argument("--restart-processes", type=int, default=2,
                    help="restart scenario: ringcast worker processes (1 shard each; 2)")
    ap.add_argument("--nice", type=int, default=0,
                    help="run server and generator at this nice, each in its own autogroup")
    ap.add_argument("--gen-flags", default="", help="extra ringcast-bench flags")
    ap.add_argument("--out", default=None,
                    help="results directory (default bench/results; --quick: a temp dir)")
    ap.add_argument("--report", default=None,
                    help="RESULTS.md to write (default bench/RESULTS.md; --quick: OUT/RESULTS.md)")
    ap.add_argument("--logs", default=None,
                    help="server and generator logs of every run (default: "
                         "BUILD/bench-logs/DATE, outside the source tree; --quick: OUT/logs)")
    ap.add_argument("--allocs", choices=("auto", "on", "off"), default="auto",
                    help="also run bench/alloc/allocs_per_message.py (heap allocations per "
                         "message) and report it; auto: only in a full run without --quick "
                         "or --scenarios")
    ap.add_argument("--bridge", nargs="?", const="only", default="auto",
                    choices=("auto", "on", "off", "only"),
                    help="the cross-node part (bench/bridge/run.sh: two ringcast nodes joined "
                         "through Redis, ~1 min): `--bridge` alone runs only it and puts its "
                         "section into the report, keeping the rest; on: also run it; auto "
                         "(default): in a full run (no --quick, no --scenarios) when "
                         "redis-server is installed; off: never")
    ap.add_argument("--no-chart", action="store_true")
    ap.add_argument("--from-json", default=None, metavar="RESULTS_JSON",
                    help="run nothing: rewrite the report and chart from a results.json")
    argv_text = shlex.join(sys.argv[1:])
    a = ap.parse_args()

    if a.bridge == "only":  # the cross-node part alone, its section put into the report
        out = Path(a.out).resolve() if a.out else REPO / "bench" / "results"
        report = Path(a.report).resolve() if a.report else REPO / "bench" / "RESULTS.md"
        argv = bridge_argv(a, out, report, Path(a.logs).resolve() if a.logs else None)
        for flag, v in (("--duration", a.duration), ("--warmup", a.warmup)):
            if v is not None:
                argv += [flag, str(v)]
        if a.quiet_wait is not None:
            argv += ["--quiet-wait", str(a.quiet_wait)]
        argv += ["--quiet-cores", str(a.quiet_cores)]
        sys.stdout.flush()
        os.environ["RINGCAST_BENCH_COMMAND"] = "bench/run.sh " + argv_text
        os.execv(sys.executable, argv)

    q = a.quick
    a.repeat = a.repeat or (1 if q else 3)
    a.duration = a.duration or (2.0 if q else 10.0)
    a.warmup = a.warmup if a.warmup is not None else (0.5 if q else 1.0)
    a.load_wait = a.load_wait if a.load_wait is not None else (0 if q else 120)
    a.quiet_wait = a.quiet_wait if a.quiet_wait is not None else (0 if q else 30)
    restart_rate = a.restart_rate or 25
    peers = a.peers.split(",") if a.peers else (["beast"] if q else PEER_SERVERS)
    for p in peers:
        if p not in PEER_SERVERS:
            ap.error(f"--peers: unknown peer {p!r} (want {', '.join(PEER_SERVERS)})")
    scenarios = a.scenarios.split(",") if a.scenarios else (
        ["s1", "s2", "s3", "scale", "restart"] if q else ALL_SCENARIOS)
    for s in scenarios:
        if s not in ALL_SCENARIOS:
            ap.error(f"--scenarios: unknown scenario {s!r} (want {', '.join(ALL_SCENARIOS)})")
    if not any(s in PEER_SCENARIOS for s in scenarios):
        peers = []  # ringcast-only scenarios (s1auth, scale, ...): no peer to build or run

    out = Path(a.out).resolve() if a.out else (
        Path(tempfile.mkdtemp(prefix="ringcast-bench-quick.")) if q
        else REPO / "bench" / "results")
    out.mkdir(parents=True, exist_ok=True)
    report = Path(a.report).resolve() if a.report else (
        out / "RESULTS.md" if q else REPO / "bench" / "RESULTS.md")

    flags_of = dict(SCENARIOS)
    if q:  # smaller, so a smoke run stays short
        flags_of["s3"] = "--conns 2000 --senders 1 --size 64 --rate 100 --idle-hold 1"
    flags_of["scale"] = SCENARIOS["s1"]
    flags_of["restart"] = f"--conns 1000 --senders 10 --size 64 --rate {restart_rate:g}"

    if a.from_json:
        return rerender(Path(a.from_json).resolve(), a, report if a.report else None)

    tools = Tools(a)
    if not os.access(tools.bench, os.X_OK):
        log(f"no {tools.bench}: build the ringcast-bench target first")
        return 77 if q else 2
    nofile = raise_nofile()
    if nofile < 10100 and any(s.startswith("s3") or s == "c1" for s in scenarios):
        log(f"RLIMIT_NOFILE is {nofile}: s3 and c1 need more than 10,000 descriptors")
    available = tools.prepare(["ringcast"] + peers)
    if "ringcast" not in available:
        log(f"ringcast is not runnable: {tools.notes.get('ringcast')}")
        return 77 if q else 2

    load = {"loadavg_1m_first": loadavg()[0], "loadavg_1m": loadavg()[0], "waited_sec": 0,
            "quiet": None}
    if a.load_wait > 0:
        log(f"waiting up to {a.load_wait:.0f} s for the 1-min loadavg below {a.max_load}")
        load = wait_for_load(a.max_load, a.load_wait)
        if not load["quiet"]:
            log(f"loadavg still {load['loadavg_1m']:.2f} after {load['waited_sec']} s; "
                "proceeding (noted in the report)")

    logdir = Path(a.logs).resolve() if a.logs else (
        out / "logs" if q else
        tools.build_dir / "bench-logs" / time.strftime("%Y%m%d-%H%M%S"))
    runner = Runner(a, tools, out, logdir)
    servers = [s for s in ["ringcast"] + peers if s in available]
    deflate_servers = ["ringcast"] + (
        tools.prepare(DEFLATE_SERVERS[1:]) if "z1" in scenarios else [])
    topics_ok = tools.prepare(["uws-topics"]) if "c1" in scenarios else []
    t_start = time.monotonic()
    meta = {
        "date": dt.datetime.now().astimezone().isoformat(timespec="seconds"),
        "uname": " ".join(platform.uname()) if not shutil.which("uname") else
        subprocess.run(["uname", "-a"], capture_output=True, text=True).stdout.strip(),
        "cpu_model": cpu_model(), "cpus": os.cpu_count(), "quick": q, "argv": argv_text,
        "server_cpus": a.server_cpus, "gen_cpus": a.gen_cpus, "repeat": a.repeat,
        "duration": a.duration, "warmup": a.warmup, "max_load": a.max_load,
        "quiet_cores": a.quiet_cores, "quiet_wait": a.quiet_wait, "load_wait": load,
        "versions": tools.versions, "unavailable": tools.notes, "scenarios": scenarios,
        "scenario_flags": flags_of, "nice": a.nice, "source": git_state(),
        "irq_time_accounting": irq_time_accounting(),
        "results_json": os.path.relpath(out / "results.json", REPO) if not q
        else str(out / "results.json"),
        "logdir": str(logdir),
    }

    def save() -> list[dict]:
        rows = summarize(runner.runs, flags_of, meta["irq_time_accounting"])
        meta["quiet_runs"] = [r["quiet"] for r in runner.runs]
        meta["runs_for_notes"] = runner.runs
        meta["elapsed_sec"] = round(time.monotonic() - t_start, 1)
        doc = {"meta": {k: v for k, v in meta.items() if k != "runs_for_notes"},
               "summary": rows, "runs": runner.runs}
        tmp = out / "results.json.tmp"
        tmp.write_text(json.dumps(doc, indent=1).replace(str(REPO) + "/", "") + "\n")
        tmp.replace(out / "results.json")
        return rows

    def on_term(signum, frame):
        raise KeyboardInterrupt
    signal.signal(signal.SIGTERM, on_term)
    interrupted = False
    try:
        for sc in scenarios:
            for rep in range(1, a.repeat + 1):
                if sc in PEER_SCENARIOS:
                    for s in servers:
                        runner.one(sc, s, s, rep, flags_of[sc])
                elif sc == "z1":
                    for s in deflate_servers:
                        runner.one(sc, s, s, rep, flags_of[sc])
                elif sc == "s1auth":
                    # Off then on in each repeat, so slow drift on the machine hits both.
                    for on in (False, True):
                        runner.one(sc, "ringcast", f"ringcast-auth-{'on' if on else 'off'}", rep,
                                   flags_of[sc], auth=on)
                elif sc == "c1":
                    run_c1(runner, rep, flags_of, topics_ok, tools)
                elif sc == "scale":
                    for k in ((1, 2) if q else (1, 2, 3)):
                        runner.one(sc, "ringcast", f"ringcast-{k}p", rep, flags_of[sc],
                                   procs=k, shards=k)
                elif sc == "restart":
                    k = a.restart_processes
                    at = 1.0 if q else 3.0
                    dur_ok = a.duration > at + 1
                    # The same paced run without a restart, so the gaps it causes can be told
                    # from the ones the load alone makes.
                    runner.one(sc, "ringcast", f"ringcast-{k}p-steady", rep, flags_of[sc],
                               procs=k, shards=k)
                    runner.one(sc, "ringcast", f"ringcast-{k}p", rep, flags_of[sc],
                               procs=k, shards=k, restart_at=at if dur_ok else 0.0)
            save()
        if a.allocs == "on" or (a.allocs == "auto" and not q and not a.scenarios):
            meta["allocs"] = run_allocs(a, tools)
            log(f"allocs: {meta['allocs'].get('status')}, at most "
                f"{meta['allocs'].get('max_allocs_per_message')} allocations per message")
        full = not q and not a.scenarios
        if a.bridge == "on" or (a.bridge == "auto" and full and shutil.which("redis-server")):
            meta["bridge"] = run_bridge(a, out, logdir / "bridge")
            log(f"bridge: {meta['bridge'].get('status')}: {meta['bridge'].get('summary')}")
    except KeyboardInterrupt:
        interrupted = True
        log("interrupted; writing what ran")
    rows = save()

    chart_rel = None if a.no_chart else draw_chart(out / "results.json", report)
    # The cross-node section: this run's, or the one an earlier `bench/run.sh --bridge` left
    # in OUT (a full run keeps it rather than dropping it).
    write_report(report, meta, rows, flags_of, chart_rel, bridge_section(out))
    log(f"report: {report}; JSON: {out / 'results.json'}"
        + (f"; chart: {out / 'chart.png'}" if chart_rel else ""))

    # A row not run because this build lacks the feature (c1 before channels) is reported,
    # not a failure.
    failed = [r for r in runner.runs if not r.get("ok") and not r.get("skipped")]
    # A smoke run is there to show the whole instrument works: a peer it could not make
    # runnable is a failure there (in a full run it is only noted in the report).
    missing = [p for p in peers if p not in available] if q else []
    brief = {"status": "ok" if not failed and not interrupted and not missing else "failed",
             "unavailable": {p: tools.notes.get(p) for p in missing},
             "quick": q, "runs": len(runner.runs), "failed_runs": len(failed),
             "results_json": str(out / "results.json"), "report": str(report),
             "summary": [{k: row.get(k) for k in (
                 "scenario", "variant", "deliveries_per_sec", "us_per_delivery", "p50_us",
                 "p99_us", "loss", "duplicates", "max_gap_ms", "softirq_cores",
                 "ksoftirqd_cores", "total_us_per_delivery", "x_uws_cpu")} for row in rows]}
    auth_on = next((row for row in rows if row["variant"] == "ringcast-auth-on"
                    and row.get("auth_x_dps")), None)
    if auth_on:
        brief["s1auth"] = {"x_deliveries_per_sec": auth_on["auth_x_dps"],
                           "x_us_per_delivery": auth_on.get("auth_x_cpu"),
                           "auth_in_effect": auth_on.get("auth_in_effect")}
    c1 = {row["variant"]: row for row in rows if row["scenario"] in ("c1", "c1off")}
    if c1:
        ch, off = c1.get("ringcast-ch-path") or {}, c1.get("ringcast-ch-off") or {}
        brief["c1"] = {"channels_supported": not ch.get("skipped"),
                       "not_run": ch.get("skipped"),
                       "x_uws_dps": ch.get("x_uws_dps"), "x_uws_cpu": ch.get("x_uws_cpu"),
                       "uws_deliveries_per_sec": (c1.get("uws-topics") or {}).get(
                           "deliveries_per_sec"),
                       "off_x_dps": off.get("off_x_dps"), "off_x_cpu": off.get("off_x_cpu"),
                       "off_x_s1_dps": off.get("off_x_s1_dps")}
    print(json.dumps(brief))
    return 1 if failed or interrupted or missing else 0


if __name__ == "__main__":
    sys.exit(main())
