"""Shared helpers for ringcast's Python integration tests.

Run by ctest as `/usr/bin/python3 test_X.py` with RINGCAST_BIN (holding `ringcast`,
`ringcastctl`) and RINGCAST_SOURCE (repo root) in the environment. Exit codes: 0 pass,
77 skip (reason printed), anything else fail.

What is here:
  * Server       -- starts `$RINGCAST_BIN/ringcast --config FILE` on a free loopback port
                    with a temp dir, waits for `event=ready` + an accepting port, exposes
                    the supervisor and worker pids, stops it by pid, dumps its log tails.
  * RawWS        -- a minimal blocking RFC 6455 client of our own (masked frame encoder,
                    strict server-frame decoder) for tests that must control the bytes.
  * ss helpers   -- which worker pid owns which server-side socket (`ss -tnpH`).
  * run_test()   -- wraps a test body: overall deadline, cleanup, log dump on failure.

Every loop is bounded in count and time; only 127.0.0.1 is ever used.
"""

import asyncio
import base64
import ctypes
import hashlib
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
import traceback
import zlib

SKIP = 77

# --------------------------------------------------------------------------- basics


class TestFailure(AssertionError):
    pass


class TestSkip(Exception):
    pass


_T0 = time.monotonic()


def log(*parts):
    """Timestamped progress line on stdout (ctest shows it with --output-on-failure)."""
    print(f"[{time.monotonic() - _T0:7.3f}s] " + " ".join(str(p) for p in parts), flush=True)


def check(cond, msg):
    if not cond:
        raise TestFailure(msg)


def skip(why):
    raise TestSkip(why)


def bin_dir():
    d = os.environ.get("RINGCAST_BIN")
    if not d:
        # Convenience for running a test by hand from the repo.
        src = source_dir()
        d = os.path.join(src, "build", "bin")
    return d


def source_dir():
    d = os.environ.get("RINGCAST_SOURCE")
    if d:
        return d
    return os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), "..", ".."))


def ringcast_path():
    p = os.path.join(bin_dir(), "ringcast")
    if not os.access(p, os.X_OK):
        raise TestFailure(f"ringcast binary not found or not executable: {p} (RINGCAST_BIN={os.environ.get('RINGCAST_BIN')!r})")
    return p


def free_port():
    """A port that was free on 127.0.0.1 a moment ago (the server re-checks ownership via ss)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def port_accepts(port, timeout=0.2):
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=timeout):
            return True
    except OSError:
        return False


def tail(path, nbytes=6000):
    try:
        with open(path, "rb") as f:
            f.seek(0, os.SEEK_END)
            size = f.tell()
            f.seek(max(0, size - nbytes))
            data = f.read()
        return data.decode("utf-8", "replace")
    except OSError as e:
        return f"<cannot read {path}: {e}>"


# --------------------------------------------------------------------------- /proc


def proc_state(pid):
    """Single-letter state from /proc/PID/stat, or None if the pid does not exist."""
    try:
        with open(f"/proc/{pid}/stat", "rb") as f:
            data = f.read().decode("ascii", "replace")
        return data[data.rindex(")") + 2]
    except (OSError, ValueError, IndexError):
        return None


def pid_alive(pid):
    """True if pid exists and is not a zombie."""
    st = proc_state(pid)
    return st is not None and st not in ("Z", "X")


def children_of(pid):
    """Direct children of pid, gathered from every thread's children file."""
    out = []
    try:
        tids = os.listdir(f"/proc/{pid}/task")
    except OSError:
        return out
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/children") as f:
                out.extend(int(x) for x in f.read().split())
        except (OSError, ValueError):
            pass
    return sorted(set(c for c in out if pid_alive(c)))


def proc_cmdline(pid):
    try:
        with open(f"/proc/{pid}/cmdline", "rb") as f:
            return f.read().replace(b"\0", b" ").decode("utf-8", "replace").strip()
    except OSError:
        return ""


# --------------------------------------------------------------------------- ss


def have_ss():
    return shutil.which("ss") is not None


def ss_lines(args):
    try:
        r = subprocess.run(["ss"] + args, capture_output=True, text=True, timeout=10)
    except (OSError, subprocess.TimeoutExpired) as e:
        raise TestFailure(f"ss failed: {e}")
    if r.returncode != 0:
        raise TestFailure(f"ss {' '.join(args)} exited {r.returncode}: {r.stderr.strip()}")
    return [l for l in r.stdout.splitlines() if l.strip()]


_PID_RE = re.compile(r"pid=(\d+)")


def _addr_port(s):
    # 127.0.0.1:1234  or [::ffff:127.0.0.1]:1234
    return int(s.rsplit(":", 1)[1])


def server_socket_owners(port):
    """{peer_port: set(pids)} for established server-side sockets with local port `port`."""
    out = {}
    for line in ss_lines(["-tnpH", "state", "established", f"( sport = :{port} )"]):
        f = line.split()
        # With a state filter ss omits the State column: Recv-Q Send-Q Local Peer Process
        if len(f) < 4:
            continue
        try:
            peer = _addr_port(f[3])
        except (ValueError, IndexError):
            continue
        out[peer] = set(int(p) for p in _PID_RE.findall(line))
    return out


def listener_owners(port):
    """set of pids owning listening sockets on the port."""
    pids = set()
    for line in ss_lines(["-tlnpH", f"( sport = :{port} )"]):
        pids.update(int(p) for p in _PID_RE.findall(line))
    return pids


def worker_distribution(port, worker_pids):
    """{worker_pid: count} of established server sockets; sockets owned by others under key 'other'."""
    dist = {}
    for peer, pids in server_socket_owners(port).items():
        owners = [p for p in pids if p in worker_pids]
        key = owners[0] if len(owners) == 1 else ("shared:" + ",".join(map(str, sorted(pids))) if pids else "unknown")
        dist[key] = dist.get(key, 0) + 1
    return dist


def owner_of_client_ports(port, client_ports, worker_pids, timeout=5.0):
    """Map each client local port -> owning worker pid, waiting (bounded) until ss shows them all."""
    deadline = time.monotonic() + timeout
    want = set(client_ports)
    while True:
        owners = server_socket_owners(port)
        res = {}
        for cp in want:
            pids = owners.get(cp, set()) & set(worker_pids)
            if len(pids) == 1:
                res[cp] = next(iter(pids))
        if len(res) == len(want) or time.monotonic() > deadline:
            return res
        time.sleep(0.05)


# --------------------------------------------------------------------------- server


def _pdeathsig_term():
    # Safety net: if the test process dies, the supervisor gets SIGTERM.
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM, 0, 0, 0)  # PR_SET_PDEATHSIG
    except Exception:
        pass


_LIVE_SERVERS = []


class Server:
    """One ringcast supervisor started for a test. Use start()/stop() or `with Server(...) as s`."""

    def __init__(self, name="ringcast", overrides=None, worker_processes=3, shards=3, extra_args=None):
        self.name = name
        self.tmp = tempfile.mkdtemp(prefix=f"ringcast-it-{name}-")
        self.overrides = dict(overrides or {})
        self.worker_processes = worker_processes
        self.shards = shards
        self.extra_args = list(extra_args or [])
        self.proc = None
        self.port = None
        self.seen_workers = set()
        self.stdout_path = os.path.join(self.tmp, "stdout.log")
        self.stderr_path = os.path.join(self.tmp, "stderr.log")
        self.config_path = os.path.join(self.tmp, "ringcast.json")
        self.config = None
        self.exit_code = None
        self.initial_workers = set()

    # -- lifecycle
    def build_config(self):
        cfg = {
            "listen": f"127.0.0.1:{self.port}",
            "worker_processes": self.worker_processes,
            "shards": self.shards,
            "control_socket": os.path.join(self.tmp, "ctl.sock"),
            "stats_interval_ms": 500,
            "hugepages": "auto",
        }
        cfg.update(self.overrides)
        return cfg

    def start(self, ready_timeout=10.0, attempts=3):
        binary = ringcast_path()
        last_err = None
        for attempt in range(attempts):
            self.port = free_port()
            self.config = self.build_config()
            with open(self.config_path, "w") as f:
                json.dump(self.config, f, indent=2)
            out = open(self.stdout_path, "ab")
            err = open(self.stderr_path, "ab")
            try:
                self.proc = subprocess.Popen([binary, "--config", self.config_path] + self.extra_args,
                                             stdin=subprocess.DEVNULL, stdout=out, stderr=err,
                                             preexec_fn=_pdeathsig_term, close_fds=True)
            finally:
                out.close()
                err.close()
            _LIVE_SERVERS.append(self)
            log(f"{self.name}: started supervisor pid={self.proc.pid} port={self.port} tmp={self.tmp}")
            try:
                self._wait_ready(ready_timeout)
            except TestFailure as e:
                last_err = e
                self.stop()
                raise
            # Port collision guard: the listeners on our port must all belong to our processes.
            if have_ss():
                ours = {self.proc.pid} | set(self.worker_pids())
                owners = listener_owners(self.port)
                foreign = owners - ours
                if foreign:
                    log(f"{self.name}: port {self.port} also held by foreign pids {sorted(foreign)}; retrying on another port")
                    self.stop()
                    last_err = TestFailure(f"port collision on {self.port}")
                    continue
            log(f"{self.name}: ready; workers={self.worker_pids()}")
            return self
        raise last_err

    def _wait_ready(self, timeout):
        deadline = time.monotonic() + timeout
        ready_line = False
        while time.monotonic() < deadline:
            rc = self.proc.poll()
            if rc is not None:
                self.exit_code = rc
                raise TestFailure(f"{self.name}: ringcast exited with status {rc} before becoming ready\n"
                                  + self.log_tails())
            if not ready_line:
                try:
                    with open(self.stderr_path, "rb") as f:
                        ready_line = b"event=ready" in f.read()
                except OSError:
                    pass
            if ready_line and port_accepts(self.port):
                self.initial_workers = set(self.worker_pids())  # record the initial workers
                return
            time.sleep(0.05)
        raise TestFailure(f"{self.name}: not ready within {timeout}s (event=ready seen: {ready_line}, "
                          f"port {self.port} accepting: {port_accepts(self.port)})\n" + self.log_tails())

    @property
    def pid(self):
        return self.proc.pid

    def uri(self, path="/"):
        return f"ws://127.0.0.1:{self.port}{path}"

    def worker_pids(self):
        """Live worker pids (children of the supervisor); remembered for cleanup."""
        if self.proc is None:
            return []
        kids = children_of(self.proc.pid)
        self.seen_workers.update(kids)
        return kids

    def alive(self):
        return self.proc is not None and self.proc.poll() is None

    def wait_exit(self, timeout):
        try:
            self.exit_code = self.proc.wait(timeout=timeout)
            return self.exit_code
        except subprocess.TimeoutExpired:
            return None

    def check_healthy(self, allow_restarts=False):
        """Fail if the supervisor died or (unless allowed) a worker was replaced during the test:
        the supervisor restarts crashed workers silently, so a crash would otherwise go unseen."""
        if self.proc.poll() is not None:
            raise TestFailure(f"{self.name}: supervisor exited unexpectedly with status {self.proc.returncode}\n"
                              + self.log_tails())
        now = set(self.worker_pids())
        if not allow_restarts and now != self.initial_workers:
            raise TestFailure(f"{self.name}: worker processes changed during the test (a worker crashed and was "
                              f"restarted?): at start {sorted(self.initial_workers)}, now {sorted(now)}, "
                              f"all seen {sorted(self.seen_workers)}\n" + self.log_tails())

    def stop(self, term_timeout=8.0, check=False, allow_restarts=False):
        """Stop by pid: SIGTERM, bounded wait, SIGKILL; then kill any worker pid that survived.
        With check=True (a test's normal end) first fail if the server was not healthy."""
        if self.proc is None:
            return
        if check:
            self.check_healthy(allow_restarts)
        if self.proc.poll() is None:
            self.worker_pids()
            try:
                self.proc.send_signal(signal.SIGTERM)
            except ProcessLookupError:
                pass
            if self.wait_exit(term_timeout) is None:
                log(f"{self.name}: supervisor {self.proc.pid} ignored SIGTERM for {term_timeout}s; SIGKILL")
                try:
                    self.proc.kill()
                except ProcessLookupError:
                    pass
                self.wait_exit(5)
        else:
            self.exit_code = self.proc.returncode
        deadline = time.monotonic() + 3.0
        while time.monotonic() < deadline and any(pid_alive(p) for p in self.seen_workers):
            time.sleep(0.05)
        for p in sorted(self.seen_workers):
            if pid_alive(p):
                log(f"{self.name}: worker pid {p} survived the supervisor; SIGKILL")
                try:
                    os.kill(p, signal.SIGKILL)
                except ProcessLookupError:
                    pass
        if self in _LIVE_SERVERS:
            _LIVE_SERVERS.remove(self)

    def diagnose(self):
        """Process states and socket queues, for failure messages about stalls."""
        out = []
        for label, pid in [("supervisor", self.proc.pid)] + [("worker", p) for p in sorted(self.seen_workers)]:
            st = proc_state(pid)
            try:
                with open(f"/proc/{pid}/wchan") as f:
                    wchan = f.read().strip()
            except OSError:
                wchan = "?"
            try:
                threads = len(os.listdir(f"/proc/{pid}/task"))
            except OSError:
                threads = 0
            out.append(f"{label} {pid}: state={st} wchan={wchan} threads={threads}")
        if have_ss():
            try:
                lines = ss_lines(["-tnpH", "state", "established", f"( sport = :{self.port} )"])
                out.append(f"server-side sockets (Recv-Q Send-Q local peer process), {len(lines)} in all; "
                           "those with data queued:")
                out += ["  " + l for l in lines if l.split()[:2] != ["0", "0"]][:60]
            except TestFailure as e:
                out.append(str(e))
        return "\n".join(out)

    def log_tails(self, nbytes=6000):
        return (f"----- {self.name} stderr tail ({self.stderr_path}) -----\n{tail(self.stderr_path, nbytes)}\n"
                f"----- {self.name} stdout tail ({self.stdout_path}) -----\n{tail(self.stdout_path, nbytes)}\n"
                f"----- end {self.name} -----")

    def read_stdout(self):
        try:
            with open(self.stdout_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def read_stderr(self):
        try:
            with open(self.stderr_path, "rb") as f:
                return f.read().decode("utf-8", "replace")
        except OSError:
            return ""

    def cleanup_tmp(self):
        shutil.rmtree(self.tmp, ignore_errors=True)

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()
        return False


def stop_all_servers():
    for s in list(_LIVE_SERVERS):
        try:
            s.stop()
        except Exception as e:  # pragma: no cover - best effort cleanup
            log(f"cleanup of {s.name} failed: {e}")


# --------------------------------------------------------------------------- test runner


def run_test(body, timeout=120, servers=()):
    """Run `body()` (sync function or coroutine function) with an overall deadline.

    Exit 0 on success, 77 on TestSkip, 1 on failure (after dumping every started server's
    log tails). Servers started through Server are always stopped.
    """
    rc = 1
    all_servers = []
    orig_start = Server.start

    def tracking_start(self, *a, **kw):
        all_servers.append(self)
        return orig_start(self, *a, **kw)

    Server.start = tracking_start

    def on_alarm(signum, frame):
        raise TestFailure(f"overall test deadline of {timeout}s exceeded")

    def on_term(signum, frame):
        raise TestFailure("test process got SIGTERM")

    signal.signal(signal.SIGALRM, on_alarm)
    signal.signal(signal.SIGTERM, on_term)
    signal.alarm(int(timeout))
    t0 = time.monotonic()
    try:
        if asyncio.iscoroutinefunction(body):
            asyncio.run(asyncio.wait_for(body(), timeout - 2))
        else:
            body()
        rc = 0
        log(f"PASS ({time.monotonic() - t0:.1f}s)")
    except TestSkip as e:
        rc = SKIP
        log(f"SKIP: {e}")
    except BaseException as e:  # noqa: BLE001 - report everything
        signal.alarm(0)
        if isinstance(e, (asyncio.TimeoutError,)):
            msg = f"timed out (overall deadline {timeout}s)"
        else:
            msg = f"{type(e).__name__}: {e}"
        print("".join(traceback.format_exception(e)), file=sys.stdout, flush=True)
        log(f"FAIL: {msg}")
        for s in all_servers:
            if s.proc is not None:
                print(s.log_tails(), flush=True)
    finally:
        signal.alarm(0)
        Server.start = orig_start
        try:
            stop_all_servers()
        except BaseException as e:  # noqa: BLE001
            log(f"cleanup error: {e}")
            rc = rc or 1
        for s in all_servers:
            if rc == 0 or s.proc is None:
                s.cleanup_tmp()  # a failed run keeps its server's logs and config for inspection
    sys.stdout.flush()
    os._exit(rc)


# --------------------------------------------------------------------------- raw websocket client

OP_CONT, OP_TEXT, OP_BIN, OP_CLOSE, OP_PING, OP_PONG = 0x0, 0x1, 0x2, 0x8, 0x9, 0xA
WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def encode_frame(opcode, payload=b"", fin=True, mask=True, rsv=0, mask_key=None, declared_len=None):
    """Client frame encoder. `declared_len` lies about the length (payload bytes are sent as given)."""
    if isinstance(payload, str):
        payload = payload.encode()
    n = len(payload) if declared_len is None else declared_len
    b0 = (0x80 if fin else 0) | ((rsv & 0x7) << 4) | (opcode & 0xF)
    mbit = 0x80 if mask else 0
    if n < 126:
        hdr = struct.pack("!BB", b0, mbit | n)
    elif n < 65536:
        hdr = struct.pack("!BBH", b0, mbit | 126, n)
    else:
        hdr = struct.pack("!BBQ", b0, mbit | 127, n)
    if not mask:
        return hdr + payload
    key = mask_key if mask_key is not None else os.urandom(4)
    return hdr + key + apply_mask(payload, key)


def apply_mask(data, key):
    n = len(data)
    if n == 0:
        return b""
    k = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "little") ^ int.from_bytes(k, "little")).to_bytes(n, "little")


def close_payload(code, reason=b""):
    if isinstance(reason, str):
        reason = reason.encode()
    return struct.pack("!H", code) + reason


class ConnectionGone(Exception):
    """Peer closed (EOF) or reset the TCP connection."""

    def __init__(self, kind):
        super().__init__(kind)
        self.kind = kind  # "EOF" or "RST"


class RawWS:
    """Minimal blocking WebSocket client for tests that must control the wire bytes."""

    def __init__(self, port, rcvbuf=None, timeout=10.0, nodelay=True):
        self.port = port
        self.sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        if rcvbuf is not None:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        if nodelay:
            self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.settimeout(timeout)
        self.sock.connect(("127.0.0.1", port))
        self.buf = bytearray()
        self.http_status = None
        self.http_headers = {}
        self.http_body = b""

    @property
    def local_port(self):
        return self.sock.getsockname()[1]

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    # -- http
    def send_raw(self, data):
        self.sock.sendall(data)

    def _recv_some(self, deadline):
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            raise socket.timeout("deadline")
        self.sock.settimeout(remaining)
        try:
            chunk = self.sock.recv(1 << 20)
        except ConnectionResetError:
            raise ConnectionGone("RST")
        if not chunk:
            raise ConnectionGone("EOF")
        self.buf += chunk

    def read_http_response(self, timeout=5.0):
        deadline = time.monotonic() + timeout
        while b"\r\n\r\n" not in self.buf:
            check(len(self.buf) < 65536, "HTTP response head larger than 64 KiB")
            self._recv_some(deadline)
        head, _, rest = bytes(self.buf).partition(b"\r\n\r\n")
        self.buf = bytearray(rest)
        lines = head.decode("iso-8859-1").split("\r\n")
        m = re.match(r"HTTP/1\.1 (\d{3})", lines[0])
        check(m is not None, f"bad HTTP status line {lines[0]!r}")
        self.http_status = int(m.group(1))
        self.http_headers = {}
        for l in lines[1:]:
            k, _, v = l.partition(":")
            self.http_headers[k.strip().lower()] = v.strip()
        return self.http_status, self.http_headers

    def handshake(self, path="/", key=None, version="13", method="GET", extra=None, omit=(), timeout=5.0,
                  expect=101):
        key = key if key is not None else base64.b64encode(os.urandom(16)).decode()
        hdrs = [("Host", f"127.0.0.1:{self.port}"), ("Upgrade", "websocket"), ("Connection", "Upgrade"),
                ("Sec-WebSocket-Key", key), ("Sec-WebSocket-Version", version)]
        hdrs = [(k, v) for k, v in hdrs if k not in omit] + list(extra or [])
        req = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs) + "\r\n"
        self.send_raw(req.encode())
        status, headers = self.read_http_response(timeout)
        if expect == 101:
            check(status == 101, f"handshake: expected 101, got {status} {headers}")
            want = base64.b64encode(hashlib.sha1(key.encode() + WS_GUID).digest()).decode()
            check(headers.get("sec-websocket-accept") == want,
                  f"handshake: bad Sec-WebSocket-Accept {headers.get('sec-websocket-accept')!r}, want {want!r}")
            check(headers.get("upgrade", "").lower() == "websocket", f"handshake: Upgrade header {headers}")
            check("upgrade" in headers.get("connection", "").lower(), f"handshake: Connection header {headers}")
        return status, headers

    # -- frames
    def send_frame(self, opcode, payload=b"", **kw):
        self.sock.sendall(encode_frame(opcode, payload, **kw))

    def send_bytes_slowly(self, data, delay=0.002):
        for i in range(len(data)):
            self.sock.sendall(data[i:i + 1])
            if delay:
                time.sleep(delay)

    def recv_frame(self, timeout=5.0):
        """One server frame: (fin, rsv, opcode, payload). Validates server-frame rules strictly."""
        deadline = time.monotonic() + timeout
        while len(self.buf) < 2:
            self._recv_some(deadline)
        b0, b1 = self.buf[0], self.buf[1]
        check(not (b1 & 0x80), "server frame is masked (RFC 6455 5.1 forbids it)")
        n = b1 & 0x7F
        off = 2
        if n == 126:
            while len(self.buf) < 4:
                self._recv_some(deadline)
            n = struct.unpack_from("!H", self.buf, 2)[0]
            off = 4
        elif n == 127:
            while len(self.buf) < 10:
                self._recv_some(deadline)
            n = struct.unpack_from("!Q", self.buf, 2)[0]
            off = 10
        while len(self.buf) < off + n:
            self._recv_some(deadline)
        payload = bytes(self.buf[off:off + n])
        del self.buf[:off + n]
        fin, rsv, op = bool(b0 & 0x80), (b0 >> 4) & 7, b0 & 0xF
        # RSV1 only on the first frame of a data message, and only once permessage-deflate was
        # agreed (set `deflate = True` after such a handshake).
        check(rsv == 0 or (rsv == 4 and getattr(self, "deflate", False) and op in (1, 2)),
              f"server frame has RSV bits {rsv} (opcode {op}, deflate agreed: {getattr(self, 'deflate', False)})")
        check(op in (0, 1, 2, 8, 9, 10), f"server frame has reserved opcode {op}")
        if op >= 8:
            check(fin and n <= 125, f"server control frame fin={fin} len={n}")
        return fin, rsv, op, payload

    def recv_message(self, timeout=5.0, auto_pong=True):
        """Next data message (opcode, bytes) or ('close', (code, reason)). Pongs are skipped."""
        deadline = time.monotonic() + timeout
        parts = []
        first_op = None
        compressed = False
        for _ in range(1_000_000):
            if time.monotonic() > deadline:
                raise socket.timeout(f"no complete message within {timeout}s")
            fin, rsv, op, payload = self.recv_frame(max(0.001, deadline - time.monotonic()))
            if op == OP_PING:
                if auto_pong:
                    self.send_frame(OP_PONG, payload)
                continue
            if op == OP_PONG:
                continue
            if op == OP_CLOSE:
                return "close", parse_close(payload)
            if first_op is None:
                check(op in (OP_TEXT, OP_BIN), f"server sent continuation without a start (op={op})")
                first_op = op
                compressed = rsv == 4
                self.last_compressed = compressed
            else:
                check(op == OP_CONT, f"server interleaved a new data frame (op={op}) inside a fragmented message")
            parts.append(payload)
            if fin:
                data = b"".join(parts)
                if compressed:  # RFC 7692 7.2.2: append the tail, inflate (server keeps no context)
                    data = zlib.decompressobj(-15).decompress(data + b"\x00\x00\xff\xff")
                if first_op == OP_TEXT:
                    try:
                        data.decode("utf-8")
                    except UnicodeDecodeError:
                        raise TestFailure("server sent a text message that is not valid UTF-8")
                return first_op, data
        raise TestFailure("recv_message: too many frames without a complete message")

    def read_until_close(self, timeout=5.0, max_messages=1_000_000):
        """Skip data messages until a close frame; returns (code, reason, n_skipped).
        Raises ConnectionGone if the TCP connection ends without a close frame."""
        deadline = time.monotonic() + timeout
        skipped = 0
        for _ in range(max_messages):
            op, data = self.recv_message(max(0.001, deadline - time.monotonic()))
            if op == "close":
                return data[0], data[1], skipped
            skipped += 1
        raise TestFailure(f"no close frame within {max_messages} messages")

    def expect_eof(self, timeout=3.0):
        """After a close exchange the server must close TCP: returns 'EOF'/'RST' or fails."""
        deadline = time.monotonic() + timeout
        try:
            for _ in range(100000):
                self._recv_some(deadline)
                self.buf.clear()
        except ConnectionGone as g:
            return g.kind
        except socket.timeout:
            raise TestFailure(f"server did not close the TCP connection within {timeout}s after the close frame")
        raise TestFailure("server kept sending after the close frame")


def parse_close(payload):
    if len(payload) == 0:
        return 1005, ""
    check(len(payload) >= 2, f"close frame with a 1-byte payload {payload!r}")
    code = struct.unpack("!H", payload[:2])[0]
    return code, payload[2:].decode("utf-8", "replace")


def raw_client(port, timeout=10.0, rcvbuf=None):
    c = RawWS(port, rcvbuf=rcvbuf, timeout=timeout)
    c.handshake()
    return c


# --------------------------------------------------------------------------- websockets helpers


async def ws_connect(uri, timeout=10.0, **kw):
    import websockets  # Debian's python3-websockets 10.4
    opts = dict(max_size=None, ping_interval=None, compression=None, open_timeout=timeout, close_timeout=3)
    opts.update(kw)
    return await asyncio.wait_for(websockets.connect(uri, **opts), timeout)


async def ws_connect_many(uri, n, timeout=15.0, **kw):
    """Connect n clients (a few at a time), all or fail."""
    clients = []
    sem = asyncio.Semaphore(16)

    async def one():
        async with sem:
            return await ws_connect(uri, timeout=timeout, **kw)

    results = await asyncio.gather(*(one() for _ in range(n)), return_exceptions=True)
    errs = [r for r in results if isinstance(r, BaseException)]
    clients = [r for r in results if not isinstance(r, BaseException)]
    if errs:
        for c in clients:
            c.transport.abort()
        raise TestFailure(f"{len(errs)} of {n} connections failed; first: {errs[0]!r}")
    return clients


def ws_local_port(ws):
    return ws.transport.get_extra_info("sockname")[1]


async def close_all(clients, timeout=5.0):
    async def one(c):
        try:
            await asyncio.wait_for(c.close(), timeout)
        except Exception:
            c.transport.abort()
    await asyncio.gather(*(one(c) for c in clients), return_exceptions=True)


def import_websockets():
    """The websockets module or a clear failure (it is a declared dependency, so not a skip)."""
    try:
        import websockets  # noqa: F401
        return websockets
    except ImportError as e:
        raise TestFailure(f"python3-websockets not importable by {sys.executable}: {e} "
                          "(ctest runs /usr/bin/python3; deploy/install-deps.sh installs python3-websockets)")


# --------------------------------------------------------------------------- traffic checking
#
# Test messages carry (sender id, seq) and a body derived from them, so a receiver can rebuild
# the exact expected message (type and bytes) and check exactly-once, order, type and content.

def msg_is_text(sid, seq):
    return (sid + seq) % 2 == 0


def make_msg(sid, seq, extra=0):
    """Deterministic message for (sid, seq): text or binary per msg_is_text; ~extra filler bytes."""
    n = (seq * 7 + sid * 13) % 64 + extra
    if msg_is_text(sid, seq):
        # multi-byte characters in text so UTF-8 handling is exercised
        return f"m:{sid}:{seq}:" + ("\u00e9x\u20ac" * (n // 6 + 1))[: n // 2]
    head = b"M" + struct.pack("!II", sid, seq)
    body = bytes(((sid * 31 + seq + i) & 0xFF) for i in range(min(n, 256)))
    if n > 256:
        body = (body * (n // 256 + 1))[:n]
    return head + body


def parse_msg(m):
    """(sid, seq) of a test message, or None if it is not one."""
    if isinstance(m, str):
        if m.startswith("m:"):
            parts = m.split(":", 3)
            try:
                return int(parts[1]), int(parts[2])
            except (ValueError, IndexError):
                return None
        return None
    if len(m) >= 9 and m[:1] == b"M":
        return struct.unpack_from("!II", m, 1)
    if m[:2] == b"m:":  # a text test message that arrived as binary: parse it so the type check reports it
        try:
            return parse_msg(bytes(m).decode("utf-8"))
        except UnicodeDecodeError:
            return None
    return None


class Receiver:
    """Consumes one websockets client; checks exactly-once, order, type, content, no self-echo."""

    MAX_ERRORS = 20

    def __init__(self, name, ws, own_sid=None, extra=0, expect_fn=None):
        self.name = name
        self.expect_fn = expect_fn or (lambda sid, seq: make_msg(sid, seq, extra))
        self.on_message = None  # optional callback() after each test message
        self.ws = ws
        self.own_sid = own_sid
        self.extra = extra
        self.next_seq = {}      # sid -> next expected seq
        self.syncs = set()
        self.errors = []
        self.n_errors = 0
        self.total = 0
        self.closed = None      # (code, reason) once the connection ended
        self.task = None
        self.last_rx = time.monotonic()

    def error(self, msg):
        self.n_errors += 1
        if len(self.errors) < self.MAX_ERRORS:
            self.errors.append(msg)

    def start(self):
        self.task = asyncio.get_running_loop().create_task(self.run())
        return self

    async def run(self):
        import websockets
        try:
            async for m in self.ws:
                self.last_rx = time.monotonic()
                if isinstance(m, str) and m.startswith("sync:"):
                    if m in self.syncs:
                        self.error(f"duplicate sync {m}")
                    self.syncs.add(m)
                    continue
                key = parse_msg(m)
                if key is None:
                    self.error(f"unrecognised message {m[:40]!r}")
                    continue
                sid, seq = key
                self.total += 1
                if sid == self.own_sid:
                    self.error(f"self-echo of own message seq={seq}")
                    continue
                want = self.next_seq.get(sid, 0)
                if seq != want:
                    self.error(f"from sender {sid}: got seq {seq}, expected {want} "
                               f"({'duplicate/reorder' if seq < want else 'gap'})")
                exp = self.expect_fn(sid, seq)
                if type(m) is not type(exp):
                    self.error(f"from sender {sid} seq {seq}: type {type(m).__name__}, expected {type(exp).__name__}")
                elif m != exp:
                    self.error(f"from sender {sid} seq {seq}: content differs (len {len(m)} vs {len(exp)})")
                self.next_seq[sid] = max(want, seq + 1)
                if self.on_message is not None:
                    self.on_message()
        except websockets.ConnectionClosed:
            pass
        except Exception as e:  # noqa: BLE001
            self.error(f"receiver crashed: {e!r}")
        self.closed = (self.ws.close_code, self.ws.close_reason)

    def got(self, sid):
        return self.next_seq.get(sid, 0)


async def sync_barrier(sender_ws, receivers, token, timeout=10.0):
    """sender sends 'sync:TOKEN'; wait until every receiver (not the sender's own) has it."""
    msg = f"sync:{token}"
    await sender_ws.send(msg)
    deadline = time.monotonic() + timeout
    while True:
        missing = [r.name for r in receivers if r.ws is not sender_ws and msg not in r.syncs]
        if not missing:
            return
        if time.monotonic() > deadline:
            raise TestFailure(f"sync barrier {token}: not received within {timeout}s by {missing[:10]}"
                              f"{' ...' if len(missing) > 10 else ''}")
        await asyncio.sleep(0.02)


async def wait_for(pred, timeout, what, interval=0.05):
    """Poll pred() until true or fail; `what` may be a callable, evaluated at failure time."""
    deadline = time.monotonic() + timeout
    while not pred():
        if time.monotonic() > deadline:
            raise TestFailure(f"timed out after {timeout}s waiting for {what() if callable(what) else what}")
        await asyncio.sleep(interval)


def require_ss():
    if not have_ss():
        raise TestSkip("`ss` (iproute2) is not installed; it is needed to see which worker owns which socket")


# --------------------------------------------------------------------------- control socket, HTTP, logs
#
# Helpers for the operability tests (hot restart, control socket, metrics, signals). Appended;
# nothing above depends on them.


def ringcastctl_path():
    p = os.path.join(bin_dir(), "ringcastctl")
    if not os.access(p, os.X_OK):
        raise TestFailure(f"ringcastctl not found or not executable: {p} (RINGCAST_BIN={os.environ.get('RINGCAST_BIN')!r})")
    return p


def ctl_socket_of(srv):
    return srv.config["control_socket"]


def ctl_run(sock_path, *args, timeout=20.0):
    """Blocking `ringcastctl --socket PATH ARGS...` -> (exit code, stdout, stderr)."""
    cmd = [ringcastctl_path(), "--socket", sock_path] + [str(a) for a in args]
    try:
        r = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired:
        raise TestFailure(f"`{' '.join(cmd[1:])}` did not finish within {timeout}s")
    return r.returncode, r.stdout, r.stderr


async def actl(sock_path, *args, timeout=20.0):
    """`ringcastctl` from a coroutine (the event loop keeps serving the clients meanwhile)."""
    cmd = [ringcastctl_path(), "--socket", sock_path] + [str(a) for a in args]
    p = await asyncio.create_subprocess_exec(*cmd, stdin=subprocess.DEVNULL, stdout=subprocess.PIPE,
                                             stderr=subprocess.PIPE)
    try:
        out, err = await asyncio.wait_for(p.communicate(), timeout)
    except asyncio.TimeoutError:
        p.kill()  # our own child, by its pid
        await p.wait()
        raise TestFailure(f"`ringcastctl {' '.join(map(str, args))}` did not finish within {timeout}s")
    return p.returncode, out.decode("utf-8", "replace"), err.decode("utf-8", "replace")


def parse_ctl_json(rc, out, err, what):
    """The one JSON answer line `ringcastctl --json` printed."""
    lines = [l for l in out.splitlines() if l.strip()]
    if len(lines) != 1:
        raise TestFailure(f"{what}: expected one JSON line on stdout, got {len(lines)} (rc={rc}): {out[:500]!r} "
                          f"stderr {err[:500]!r}")
    try:
        ans = json.loads(lines[0])
    except ValueError as e:
        raise TestFailure(f"{what}: answer is not JSON ({e}): {lines[0][:500]!r}")
    if not isinstance(ans, dict) or "ok" not in ans:
        raise TestFailure(f"{what}: answer is not an object with \"ok\": {lines[0][:500]!r}")
    return ans


async def actl_json(sock_path, *args, timeout=20.0, expect_ok=True):
    """`ringcastctl --json ARGS` -> (rc, answer dict); with expect_ok, fail unless rc 0 and ok:true."""
    rc, out, err = await actl(sock_path, "--json", *args, timeout=timeout)
    ans = parse_ctl_json(rc, out, err, f"ringcastctl --json {' '.join(map(str, args))}")
    if expect_ok:
        check(rc == 0 and ans.get("ok") is True,
              f"ringcastctl {' '.join(map(str, args))}: rc={rc} answer={ans} stderr={err.strip()!r}")
    return rc, ans


async def workers_by_index(sock_path):
    """{index: pid} from `ringcastctl --json workers`."""
    _, ans = await actl_json(sock_path, "workers")
    return {w["index"]: w["pid"] for w in ans["workers"]}


class ControlClient:
    """Raw AF_UNIX stream client for the control socket: bytes in, answer lines out."""

    def __init__(self, path, timeout=5.0):
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
        self.sock.settimeout(timeout)
        self.sock.connect(path)
        self.buf = b""

    def send(self, data):
        if isinstance(data, str):
            data = data.encode()
        self.sock.sendall(data)

    def read_line(self, timeout=5.0):
        """Next answer line as a dict; raises ConnectionGone on EOF/RST before a full line
        (a last line without its newline is returned)."""
        deadline = time.monotonic() + timeout
        for _ in range(100000):
            if b"\n" in self.buf:
                line, _, self.buf = self.buf.partition(b"\n")
                return self._parse(line)
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TestFailure(f"control socket: no answer line within {timeout}s (have {self.buf[:200]!r})")
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                continue
            except ConnectionResetError:
                raise ConnectionGone("RST")
            if not chunk:
                if self.buf:
                    line, self.buf = self.buf, b""
                    return self._parse(line)
                raise ConnectionGone("EOF")
            self.buf += chunk
        raise TestFailure("control socket: read_line loop bound reached")

    @staticmethod
    def _parse(line):
        try:
            ans = json.loads(line.decode("utf-8"))
        except ValueError as e:
            raise TestFailure(f"control socket answer is not one JSON object per line ({e}): {line[:300]!r}")
        check(isinstance(ans, dict) and isinstance(ans.get("ok"), bool),
              f"control socket answer without a boolean \"ok\": {line[:300]!r}")
        check(ans["ok"] or isinstance(ans.get("error"), str), f"error answer without an \"error\" string: {ans}")
        return ans

    def request(self, obj, timeout=5.0):
        self.send((obj if isinstance(obj, str) else json.dumps(obj)) + "\n")
        return self.read_line(timeout)

    def expect_eof(self, timeout=3.0):
        """The server must close the connection (pending bytes are discarded); returns 'EOF'/'RST'."""
        deadline = time.monotonic() + timeout
        for _ in range(100000):
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TestFailure(f"control socket: connection not closed by the server within {timeout}s")
            self.sock.settimeout(remaining)
            try:
                chunk = self.sock.recv(65536)
            except socket.timeout:
                continue
            except ConnectionResetError:
                return "RST"
            if not chunk:
                return "EOF"
        raise TestFailure("control socket: expect_eof loop bound reached")

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


def http_request(port, path, method="GET", timeout=5.0, host="127.0.0.1"):
    """One HTTP/1.1 request (Connection: close) -> (status, {header: value}, body bytes)."""
    with socket.create_connection((host, port), timeout=timeout) as s:
        s.sendall(f"{method} {path} HTTP/1.1\r\nHost: {host}:{port}\r\nConnection: close\r\n\r\n".encode())
        data = b""
        deadline = time.monotonic() + timeout
        for _ in range(100000):
            if time.monotonic() > deadline:
                raise TestFailure(f"HTTP {method} {path}: no complete response within {timeout}s (have {data[:200]!r})")
            try:
                chunk = s.recv(65536)
            except socket.timeout:
                raise TestFailure(f"HTTP {method} {path}: no complete response within {timeout}s (have {data[:200]!r})")
            if not chunk:
                break
            data += chunk
    head, sep, body = data.partition(b"\r\n\r\n")
    check(sep, f"HTTP {method} {path}: response without an end of head: {data[:300]!r}")
    lines = head.decode("iso-8859-1").split("\r\n")
    m = re.match(r"HTTP/1\.[01] (\d{3})", lines[0])
    check(m is not None, f"HTTP {method} {path}: bad status line {lines[0]!r}")
    headers = {}
    for l in lines[1:]:
        k, _, v = l.partition(":")
        headers[k.strip().lower()] = v.strip()
    if "content-length" in headers and method != "HEAD":
        n = int(headers["content-length"])
        check(len(body) == n, f"HTTP {method} {path}: Content-Length {n} but {len(body)} body bytes")
    return int(m.group(1)), headers, body


async def ahttp_request(port, path, method="GET", timeout=5.0):
    loop = asyncio.get_running_loop()
    return await loop.run_in_executor(None, lambda: http_request(port, path, method, timeout))


class LogTail:
    """Incremental reader of a log file: new complete lines since the last look."""

    def __init__(self, path, from_end=True):
        self.path = path
        self.pos = 0
        self.partial = b""
        if from_end:
            try:
                self.pos = os.path.getsize(path)
            except OSError:
                self.pos = 0
        self.lines = []  # every complete line read so far (after the start position)

    def poll(self):
        try:
            with open(self.path, "rb") as f:
                f.seek(self.pos)
                data = f.read()
        except OSError:
            return []
        self.pos += len(data)
        data = self.partial + data
        *new, self.partial = data.split(b"\n")
        new = [l.decode("utf-8", "replace") for l in new]
        self.lines += new
        return new

    def find(self, *needles):
        """Lines (read so far) containing every needle."""
        self.poll()
        return [l for l in self.lines if all(n in l for n in needles)]

    async def wait_for(self, *needles, timeout=10.0):
        deadline = time.monotonic() + timeout
        while True:
            hits = self.find(*needles)
            if hits:
                return hits
            if time.monotonic() > deadline:
                raise TestFailure(f"timed out after {timeout}s waiting for a log line with {needles} in {self.path}; "
                                  f"last lines: {self.lines[-8:]}")
            await asyncio.sleep(0.05)


def write_file_atomically(path, data, mode=0o755):
    """Write to a new file beside `path`, then rename it over `path` (how an upgrade lands on disk)."""
    tmp = f"{path}.new-{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(data)
        f.flush()
        os.fsync(f.fileno())
    os.chmod(tmp, mode)
    os.rename(tmp, path)


class CopiedBinaryServer(Server):
    """A Server started from a private copy of the ringcast binary (in its temp dir), so a test
    may replace the file on disk that restarted workers are exec'ed from."""

    def __init__(self, name="ringcast", **kw):
        super().__init__(name, **kw)
        self.bin_copy = os.path.join(self.tmp, "bin", "ringcast")
        os.makedirs(os.path.dirname(self.bin_copy), exist_ok=True)
        shutil.copy2(ringcast_path(), self.bin_copy)

    def start(self, *a, **kw):
        global ringcast_path
        real = ringcast_path
        ringcast_path = lambda: self.bin_copy  # noqa: E731 - Server.start looks it up here
        try:
            return Server.start(self, *a, **kw)
        finally:
            ringcast_path = real

    def install_binary(self, data):
        write_file_atomically(self.bin_copy, data)

    def restore_binary(self):
        with open(ringcast_path(), "rb") as f:
            write_file_atomically(self.bin_copy, f.read())


def proc_pids_with_arg(needle):
    """Pids (not zombies) whose command line contains `needle` (e.g. a test's own config path):
    for checking that nothing of ours is left; never used to signal anything."""
    out = []
    for d in os.listdir("/proc"):
        if d.isdigit() and needle in proc_cmdline(int(d)) and pid_alive(int(d)):
            out.append(int(d))
    return out


# --------------------------------------------------------------------------- redis (the bridge tests)


class RedisServer:
    """A redis-server of the test's own on a free loopback port, in a temp dir, with an
    append-only file so a stop and start keeps the stream. Stopped by pid only."""

    def __init__(self, name="redis", extra_args=(), auth=None):
        """extra_args go on redis-server's command line (e.g. ACL users); auth = (user,
        password) makes command() log in first."""
        self.name = name
        self.extra_args = list(extra_args)
        self.auth = auth
        self.binary = shutil.which("redis-server")
        if not self.binary:
            raise TestSkip("redis-server is not installed (Debian package redis-server)")
        self.tmp = tempfile.mkdtemp(prefix=f"ringcast-it-{name}-")
        self.port = free_port()
        self.proc = None

    @property
    def address(self):
        return f"127.0.0.1:{self.port}"

    def start(self, timeout=10.0):
        log_path = os.path.join(self.tmp, "redis.log")
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1", "--dir", self.tmp,
             "--appendonly", "yes", "--appendfsync", "always", "--save", "", "--daemonize", "no",
             "--logfile", log_path] + self.extra_args,
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            preexec_fn=_pdeathsig_term, close_fds=True)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                raise TestFailure(f"{self.name}: redis-server exited with {self.proc.returncode}: "
                                  + tail(log_path, 2000))
            try:
                if self.command("PING") == "PONG":
                    log(f"{self.name}: redis-server pid={self.proc.pid} port={self.port}")
                    return self
            except OSError:
                pass
            time.sleep(0.05)
        raise TestFailure(f"{self.name}: redis-server not answering within {timeout}s")

    def stop(self, timeout=10.0):
        if self.proc is None or self.proc.poll() is not None:
            return
        self.proc.send_signal(signal.SIGTERM)
        try:
            self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(timeout=5)

    def command(self, *args, timeout=5.0):
        """One command over RESP; returns str, int, list or None. Raises OSError when down."""
        def encode(cmd):
            out = f"*{len(cmd)}\r\n".encode()
            for a in cmd:
                b = a if isinstance(a, bytes) else str(a).encode()
                out += f"${len(b)}\r\n".encode() + b + b"\r\n"
            return out

        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as s:
            f = s.makefile("rb")
            if self.auth:
                s.sendall(encode(("AUTH",) + tuple(self.auth)))
                _resp_read(f)
            s.sendall(encode(args))
            return _resp_read(f)

    def cleanup(self):
        self.stop()
        shutil.rmtree(self.tmp, ignore_errors=True)


def _resp_read(f):
    line = f.readline()
    if not line:
        raise OSError("redis closed the connection")
    kind, rest = line[:1], line[1:-2]
    if kind == b"+":
        return rest.decode()
    if kind == b"-":
        raise TestFailure(f"redis error: {rest.decode()}")
    if kind == b":":
        return int(rest)
    if kind == b"$":
        n = int(rest)
        if n < 0:
            return None
        data = f.read(n + 2)[:-2]
        return data.decode("utf-8", "replace")
    if kind == b"*":
        n = int(rest)
        return None if n < 0 else [_resp_read(f) for _ in range(n)]
    raise OSError(f"bad RESP line {line!r}")


async def check_exactly_once(receivers, sender_ids, n_msgs, what, timeout=30.0, settle=0.7):
    """Waits until every receiver has every other sender's n_msgs messages (or timeout), lets
    late duplicates arrive for `settle` s, then fails with every receiver's problems: a closed
    connection, a count short or over, an out-of-order/duplicate/content error."""
    def complete():
        return all(r.got(s) >= n_msgs for r in receivers for s in sender_ids if s != r.own_sid)

    try:
        await wait_for(complete, timeout, f"{what}: every client to receive every other sender")
    except TestFailure:
        pass  # reported in detail below
    await asyncio.sleep(settle)
    problems = []
    for r in receivers:
        if r.closed:
            problems.append(f"{r.name}: closed {r.closed}")
        for s in sender_ids:
            if s != r.own_sid and r.got(s) != n_msgs:
                problems.append(f"{r.name}: from sender {s} got {r.got(s)} of {n_msgs}")
        if r.errors:
            problems.append(f"{r.name}: {r.n_errors} errors, first: {r.errors[:4]}")
        expected = n_msgs * (len(sender_ids) - (1 if r.own_sid in sender_ids else 0))
        if r.total != expected:
            problems.append(f"{r.name}: {r.total} messages in all, expected {expected} (duplicates?)")
    check(not problems, f"{what}: delivery problems:\n  " + "\n  ".join(problems[:40]))


def bridge_overrides(redis_addr, node_id, stream, **extra):
    """Config overrides for a node whose bridge joins `stream` on `redis_addr`."""
    bridge = {"enabled": True, "redis": redis_addr, "stream": stream, "node_id": node_id}
    bridge.update(extra)
    return {"bridge": bridge}


async def bridge_status(srv):
    """The `bridge` object of `ringcastctl --json status` for `srv`."""
    _, ans = await actl_json(ctl_socket_of(srv), "status")
    return ans.get("bridge", {})


async def local_broadcast(srv, n, tag):
    """Two clients of `srv`: the first sends n texts, the second must get them all, in order
    (a node serves its own clients whatever its bridge does). Returns both; the caller closes."""
    c1 = await ws_connect(srv.uri())
    c2 = await ws_connect(srv.uri())
    await asyncio.sleep(0.3)
    for i in range(n):
        await c1.send(f"{tag} {i}")
    got = [await asyncio.wait_for(c2.recv(), 5) for _ in range(n)]
    check(got == [f"{tag} {i}" for i in range(n)], f"{srv.name}: local broadcast: {got[:5]}...")
    return c1, c2


async def wait_bridge_report(srv, pred, timeout=5.0):
    """The bridge reports every 250 ms: wait for a report that satisfies pred (or the last)."""
    deadline = asyncio.get_running_loop().time() + timeout
    while True:
        st = await bridge_status(srv)
        if pred(st) or asyncio.get_running_loop().time() > deadline:
            return st
        await asyncio.sleep(0.1)


async def wait_bridge_connected(srv, timeout=15.0):
    deadline = time.monotonic() + timeout
    st = {}
    while time.monotonic() < deadline:
        st = await bridge_status(srv)
        if st.get("connected") and st.get("last_id"):
            return st
        await asyncio.sleep(0.1)
    raise TestFailure(f"{srv.name}: bridge not connected and reading within {timeout}s: {st}")
