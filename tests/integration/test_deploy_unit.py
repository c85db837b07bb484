#!/usr/bin/python3
"""What deploy/ ships holds together: the systemd unit, the server's side of its contract, the
man page, setup-host.sh's dry run and the install rules.

  unit        `systemd-analyze verify` accepts deploy/ringcast.service (ExecStart rewritten to
              the built binary in a temp copy, the man page on MANPATH so Documentation=
              resolves), with no warning about it; its key directives are the ones the server
              relies on: Type=notify, KillMode=mixed, TimeoutStopSec >= shutdown_timeout_ms +
              10 s, LimitNOFILE=1048576, User/Group ringcast, RuntimeDirectory=ringcast 0750,
              the hardening, and a SystemCallFilter that allows io_uring_* and every other call
              the server makes (groups expanded by systemd-analyze syscall-filter).
  notify      the server started with NOTIFY_SOCKET (and WATCHDOG_USEC) sends READY=1 once it
              accepts, WATCHDOG=1 at least every WATCHDOG_USEC/2, survives SIGHUP (ExecReload)
              still serving with RELOADING=1 then READY=1, and on SIGTERM sends STOPPING=1 and
              exits 0.
  man page    every flag and config key in `ringcast --help` appears in deploy/ringcast.8;
              groff renders it without warnings (when groff is installed).
  setup-host  `setup-host.sh --dry-run` exits 0, reports every item as "unchanged" or
              "would change", and changes nothing (sysctls, its files, users, mounts).
  install     `cmake --install` into a DESTDIR puts the binaries, the unit (ExecStart= under
              the prefix), the man page, the examples and /etc/ringcast/ringcast.json in place,
              and a second install keeps an edited /etc/ringcast/ringcast.json.

Without systemd-analyze the unit part cannot run: the rest runs, then the test exits 77.
"""
import glob
import hashlib
import json
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ringcast_harness as h  # noqa: E402

SOURCE = h.source_dir()
UNIT = os.path.join(SOURCE, "deploy", "ringcast.service")
MAN = os.path.join(SOURCE, "deploy", "ringcast.8")
SETUP = os.path.join(SOURCE, "deploy", "setup-host.sh")

# System calls the server makes (supervisor and workers); the unit's filter must allow them all.
NEEDED_SYSCALLS = [
    "io_uring_setup", "io_uring_enter", "io_uring_register", "mmap", "munmap", "madvise", "mbind",
    "set_mempolicy", "get_mempolicy", "sched_setaffinity", "sched_getaffinity", "fallocate", "ftruncate",
    "openat", "unlink", "prctl", "clone", "clone3", "execve", "wait4", "kill", "signalfd4", "eventfd2",
    "rt_sigprocmask", "poll", "ppoll", "socket", "bind", "listen", "accept4", "connect", "setsockopt",
    "getsockopt", "sendmsg", "recvmsg", "shutdown", "close", "read", "write", "readlink", "uname",
    "futex", "clock_gettime", "getrlimit", "prlimit64", "statfs", "fstatfs",
]


def parse_unit(text):
    """{section: {key: [values...]}}; continuation lines and comments handled as systemd does."""
    units, section, pending = {}, None, ""
    for raw in text.splitlines():
        line = pending + raw.strip()
        pending = ""
        if line.endswith("\\"):
            pending = line[:-1] + " "
            continue
        if not line or line[0] in "#;":
            continue
        if line.startswith("[") and line.endswith("]"):
            section = line[1:-1]
            units.setdefault(section, {})
            continue
        key, _, value = line.partition("=")
        units[section].setdefault(key.strip(), []).append(value.strip())
    return units


def seconds(text):
    m = re.fullmatch(r"(\d+)\s*(ms|s|sec|min|m)?", text.strip())
    h.check(m is not None, f"cannot read the duration {text!r}")
    n, unit = int(m.group(1)), m.group(2) or "s"
    return {"ms": n / 1000, "s": n, "sec": n, "min": n * 60, "m": n * 60}[unit]


def expand_syscalls(tokens):
    """The set of calls a SystemCallFilter allow-list names, groups expanded by systemd."""
    out = set()
    for t in tokens:
        if t.startswith("@"):
            r = subprocess.run(["systemd-analyze", "syscall-filter", t], capture_output=True, text=True, timeout=30)
            h.check(r.returncode == 0, f"systemd-analyze syscall-filter {t} failed: {r.stderr}")
            for line in r.stdout.splitlines():
                w = line.strip()
                if w and not w.startswith("#") and not w.startswith("@") and w != t and not w.endswith(":"):
                    out.add(w.split()[0])
                elif w.startswith("@") and w != t:
                    out |= expand_syscalls([w.split()[0]])
        else:
            out.add(t)
    return out


# --------------------------------------------------------------------------- the unit file

def check_unit_directives(have_analyze):
    unit = parse_unit(open(UNIT).read())
    svc = unit.get("Service", {})

    def one(key):
        vals = svc.get(key)
        h.check(vals, f"ringcast.service: [Service] has no {key}=")
        return vals[-1]

    h.check(one("Type") == "notify", "Type= must be notify (the supervisor sends READY=1)")
    h.check(one("NotifyAccess") == "main", "NotifyAccess= must be main: only the supervisor notifies")
    exec_start = one("ExecStart").split()
    h.check(exec_start[0] == "/usr/local/bin/ringcast", f"ExecStart= runs {exec_start[0]}")
    h.check(exec_start[1:] == ["--config", "/etc/ringcast/ringcast.json"], f"ExecStart= arguments {exec_start[1:]}")
    h.check(re.fullmatch(r"/bin/kill -HUP \$MAINPID", one("ExecReload")), f"ExecReload={one('ExecReload')}")
    h.check(one("KillMode") == "mixed", "KillMode= must be mixed: SIGTERM to the supervisor, which drains the workers")
    default_cfg = json.load(open(os.path.join(SOURCE, "deploy", "ringcast.json")))
    need = default_cfg["shutdown_timeout_ms"] / 1000 + 10
    h.check(seconds(one("TimeoutStopSec")) >= need,
            f"TimeoutStopSec={one('TimeoutStopSec')} is under shutdown_timeout_ms + 10 s = {need} s")
    h.check(one("LimitNOFILE") == "1048576", "LimitNOFILE= must be 1048576")
    h.check(one("User") == "ringcast" and one("Group") == "ringcast", "User=/Group= must be ringcast")
    h.check(svc.get("DynamicUser", ["no"])[-1] in ("no", "false", "0"), "DynamicUser= must be off")
    h.check(one("RuntimeDirectory") == "ringcast", "RuntimeDirectory= must be ringcast (/run/ringcast/control.sock)")
    h.check(one("RuntimeDirectoryMode") == "0750", "RuntimeDirectoryMode= must be 0750")
    for key, want in [("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"), ("ProtectHome", "yes")]:
        h.check(one(key) == want, f"{key}= must be {want}")
    h.check(svc.get("PrivateDevices", ["no"])[-1] in ("no", "false", "0"),
            "PrivateDevices= would hide /dev/hugepages")
    h.check(all(v == "" for v in svc.get("AmbientCapabilities", [""])), "port 9002 needs no ambient capability")
    h.check(unit.get("Install", {}).get("WantedBy") == ["multi-user.target"], "WantedBy=multi-user.target")

    allow, deny = [], []
    for v in svc.get("SystemCallFilter", []):
        (deny if v.startswith("~") else allow).extend(v.lstrip("~").split())
    for call in ("io_uring_setup", "io_uring_enter", "io_uring_register"):
        h.check(not allow or call in allow, f"SystemCallFilter= must name {call} explicitly")
        h.check(call not in deny, f"SystemCallFilter=~ blocks {call}")
    if not have_analyze:
        h.log("unit: directives ok (system call groups not expanded: no systemd-analyze)")
        return
    if allow:
        allowed = expand_syscalls(allow) - expand_syscalls(deny)
        missing = [c for c in NEEDED_SYSCALLS if c not in allowed]
        h.check(not missing, f"SystemCallFilter= does not allow {missing}")
    elif deny:
        blocked = expand_syscalls(deny)
        h.check(not blocked & set(NEEDED_SYSCALLS), f"SystemCallFilter=~ blocks {sorted(blocked & set(NEEDED_SYSCALLS))}")
    h.log("unit: directives ok")


def verify_unit(tmp):
    """systemd-analyze verify on a copy whose ExecStart is the built binary."""
    text = open(UNIT).read().replace("/usr/local/bin/ringcast", h.ringcast_path())
    h.check(h.ringcast_path() in text, "ExecStart= does not name /usr/local/bin/ringcast")
    unit_dir = os.path.join(tmp, "units")
    os.makedirs(unit_dir)
    path = os.path.join(unit_dir, "ringcast.service")
    with open(path, "w") as f:
        f.write(text)
    man_dir = os.path.join(tmp, "man", "man8")
    os.makedirs(man_dir)
    os.symlink(MAN, os.path.join(man_dir, "ringcast.8"))
    env = dict(os.environ, MANPATH=os.path.join(tmp, "man") + ":", SYSTEMD_LOG_LEVEL="notice")
    r = subprocess.run(["systemd-analyze", "verify", path], capture_output=True, text=True, timeout=60, env=env)
    out = (r.stdout + r.stderr).strip()
    h.log(f"systemd-analyze verify: exit {r.returncode}; output: {out or '(none)'}")
    about_us = [l for l in out.splitlines() if "ringcast" in l or tmp in l]
    h.check(r.returncode == 0 and not about_us, f"systemd-analyze verify rejects the unit:\n{out}")


# --------------------------------------------------------------------------- notify

class NotifyListener:
    def __init__(self, tmp):
        self.path = os.path.join(tmp, "notify.sock")
        self.sock = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
        self.sock.bind(self.path)
        self.messages = []  # (monotonic time, text)

    def drain(self, seconds_):
        deadline = time.monotonic() + seconds_
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return
            self.sock.settimeout(left)
            try:
                data = self.sock.recv(4096)
            except socket.timeout:
                return
            self.messages.append((time.monotonic(), data.decode("utf-8", "replace")))

    def wait_for(self, prefix, timeout):
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for i, (_, m) in enumerate(self.messages):
                if m.startswith(prefix):
                    return self.messages.pop(i)[1]
            self.drain(min(0.1, max(0.0, deadline - time.monotonic())))
        return None

    def texts(self):
        return [m for _, m in self.messages]


def check_notify(tmp):
    listener = NotifyListener(tmp)
    saved = {k: os.environ.get(k) for k in ("NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID")}
    os.environ["NOTIFY_SOCKET"] = listener.path
    os.environ["WATCHDOG_USEC"] = "1000000"
    os.environ.pop("WATCHDOG_PID", None)
    server = h.Server("deploy-notify", worker_processes=1, shards=1)
    try:
        server.start()
        for k, v in saved.items():  # only the server needed them
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        ready = listener.wait_for("READY=1", 10)
        h.check(ready is not None, "no READY=1 on NOTIFY_SOCKET after the server became ready: a Type=notify unit "
                                   f"would time out (got {listener.texts()})\n" + server.log_tails())

        listener.messages.clear()
        listener.drain(2.2)
        pings = [m for m in listener.texts() if m.startswith("WATCHDOG=1")]
        h.check(len(pings) >= 3, f"WATCHDOG_USEC=1000000 asks for WATCHDOG=1 every 0.5 s; in 2.2 s got {len(pings)}")

        listener.messages.clear()
        os.kill(server.pid, signal.SIGHUP)
        reloading = listener.wait_for("RELOADING=1", 5)
        h.check(reloading is not None, f"no RELOADING=1 after SIGHUP (got {listener.texts()})")
        h.check("MONOTONIC_USEC=" in reloading, f"RELOADING=1 without MONOTONIC_USEC=: {reloading!r}")
        h.check(listener.wait_for("READY=1", 5) is not None, "no READY=1 after the reload")
        time.sleep(0.5)
        h.check(server.alive(), "the server died on SIGHUP: `systemctl reload` (ExecReload=kill -HUP) would "
                                "stop it\n" + server.log_tails())
        h.check(h.port_accepts(server.port), "the server stopped accepting after SIGHUP")

        listener.messages.clear()
        os.kill(server.pid, signal.SIGTERM)
        code = server.wait_exit(15)
        h.check(code == 0, f"SIGTERM: exit status {code}, want 0\n" + server.log_tails())
        listener.drain(0.2)
        h.check(any(m.startswith("STOPPING=1") for m in listener.texts()),
                f"no STOPPING=1 on SIGTERM (got {listener.texts()})")
        h.log("notify: READY, WATCHDOG, RELOADING/READY on SIGHUP, STOPPING on SIGTERM: ok")
    finally:
        for k, v in saved.items():
            if v is None:
                os.environ.pop(k, None)
            else:
                os.environ[k] = v
        server.stop()
        listener.sock.close()
        server.cleanup_tmp()


# --------------------------------------------------------------------------- man page

def check_man_page():
    r = subprocess.run([h.ringcast_path(), "--help"], capture_output=True, text=True, timeout=10)
    h.check(r.returncode == 0, f"ringcast --help: exit {r.returncode}")
    # The flags are the headings of the FLAGS entries: "    -addr ADDR, --listen ADDR".
    flags = set()
    entry = r"--?[a-z][a-z-]*(?: [A-Z]+)?"
    for heading in re.findall(rf"^    ({entry}(?:, {entry})*)$", r.stdout, re.M):
        flags |= set(re.findall(r"(?<![\w-])(--?[a-z][a-z-]*)", heading))
    keys = set(re.findall(r"^    ([a-z_.]+)  \(", r.stdout, re.M))
    h.check(len(keys) >= 15 and len(flags) >= 15, f"could not read flags/keys from --help: {flags} {keys}")
    roff = open(MAN).read()
    # Undo the escapes a roff source writes flags with: \- and font changes.
    plain = re.sub(r"\\f[BIRP]", "", roff).replace("\\-", "-")
    missing = sorted(x for x in flags | keys if x not in plain)
    h.check(not missing, f"deploy/ringcast.8 does not mention {missing} (from ringcast --help)")
    h.check("doctor" in plain, "the man page does not describe `ringcast doctor`")
    if shutil.which("groff"):
        g = subprocess.run(["groff", "-man", "-ww", "-z", MAN], capture_output=True, text=True, timeout=30)
        h.check(g.returncode == 0 and not g.stderr.strip(), f"groff warns about deploy/ringcast.8:\n{g.stderr}")
    h.log(f"man page: {len(flags)} flags and {len(keys)} keys of --help all documented")


# --------------------------------------------------------------------------- setup-host.sh

SYSCTLS = ["vm.nr_hugepages", "net.core.somaxconn", "net.ipv4.tcp_migrate_req", "net.ipv4.ip_local_port_range",
           "fs.file-max", "fs.nr_open", "kernel.io_uring_disabled"]
FILES = ["/etc/sysctl.d/90-ringcast.conf", "/etc/security/limits.d/ringcast.conf", "/etc/tmpfiles.d/ringcast.conf"]


def host_state():
    state = {}
    for k in SYSCTLS:
        try:
            with open("/proc/sys/" + k.replace(".", "/")) as f:
                state[k] = f.read().split()
        except OSError:
            state[k] = None
    for p in FILES:
        try:
            with open(p, "rb") as f:
                state[p] = hashlib.sha256(f.read()).hexdigest()
        except OSError:
            state[p] = None
    for db, name in (("group", "ringcast"), ("passwd", "ringcast")):
        state[f"{db}:{name}"] = subprocess.run(["getent", db, name], capture_output=True).returncode
    with open("/proc/mounts") as f:
        state["hugetlbfs"] = sorted(l for l in f if " hugetlbfs " in l)
    for d in glob.glob("/dev/hugepages"):
        st = os.stat(d)
        state[d] = (st.st_mode, st.st_gid)
    return state


def check_setup_host_dry_run(tmp):
    cfg = os.path.join(tmp, "setup.json")
    with open(cfg, "w") as f:
        json.dump({"worker_processes": 1, "shards": 2, "hugepages": "auto"}, f)
    before = host_state()
    runs = []
    for _ in range(2):
        r = subprocess.run(["sh", SETUP, "--dry-run", "--binary", h.ringcast_path(), "--config", cfg],
                           capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        h.check(r.returncode == 0, f"setup-host.sh --dry-run: exit {r.returncode}\n{r.stdout}\n{r.stderr}")
        runs.append(r.stdout)
    after = host_state()
    changed = {k: (before[k], after.get(k)) for k in before if before[k] != after.get(k)}
    h.check(not changed, f"setup-host.sh --dry-run changed the host: {changed}")
    h.check(runs[0] == runs[1], "two dry runs printed different plans")
    out = runs[0]
    h.log("setup-host.sh --dry-run:\n" + out)
    for line in out.splitlines():
        h.check(re.match(r"(unchanged|would change) +\S.*: ", line) or line.startswith("setup-host: "),
                f"unexpected setup-host line: {line!r}")
    h.check("nothing was changed" in out, "the dry run does not say that nothing was changed")
    for item in SYSCTLS + FILES:
        if item == "kernel.io_uring_disabled" and not os.path.exists("/proc/sys/kernel/io_uring_disabled"):
            continue
        h.check(re.search(r"^(unchanged|would change) +" + re.escape(item) + ":", out, re.M),
                f"setup-host.sh --dry-run does not report {item}")
    bad = subprocess.run(["sh", SETUP, "--dry-run", "--segment-bytes", "lots"], capture_output=True, text=True,
                         timeout=30)
    h.check(bad.returncode == 2 and "--segment-bytes" in bad.stderr, f"a bad --segment-bytes: {bad.returncode} {bad.stderr}")
    if shutil.which("shellcheck"):
        s = subprocess.run(["shellcheck", SETUP], capture_output=True, text=True, timeout=60)
        h.check(s.returncode == 0, f"shellcheck deploy/setup-host.sh:\n{s.stdout}")


# --------------------------------------------------------------------------- install

def check_install(tmp):
    build = os.path.dirname(os.path.abspath(h.bin_dir()))
    rules = os.path.join(build, "cmake_install.cmake")
    h.check(os.path.exists(rules), f"no {rules}: RINGCAST_BIN is not <build>/bin of a CMake build")
    h.check("ringcast.service" in open(rules).read(),
            "the build has no install rule for the unit: CMakeLists.txt must include(deploy/install.cmake)")
    root = os.path.join(tmp, "root")
    env = dict(os.environ, DESTDIR=root)

    def install():
        r = subprocess.run(["cmake", "--install", build, "--prefix", "/usr"], capture_output=True, text=True,
                           timeout=120, env=env)
        h.check(r.returncode == 0, f"cmake --install failed:\n{r.stdout}\n{r.stderr}")

    install()
    for rel in ["usr/bin/ringcast", "usr/bin/ringcastctl", "usr/lib/systemd/system/ringcast.service",
                "usr/share/man/man8/ringcast.8", "usr/share/ringcast/examples/ringcast.json",
                "usr/share/ringcast/examples/laptop.json", "usr/share/ringcast/setup-host.sh",
                "etc/ringcast/ringcast.json"]:
        h.check(os.path.exists(os.path.join(root, rel)), f"cmake --install did not install /{rel}")
    unit = parse_unit(open(os.path.join(root, "usr/lib/systemd/system/ringcast.service")).read())
    h.check(unit["Service"]["ExecStart"][-1] == "/usr/bin/ringcast --config /etc/ringcast/ringcast.json",
            f"installed ExecStart= {unit['Service']['ExecStart']} does not follow the prefix")
    h.check(os.access(os.path.join(root, "usr/share/ringcast/setup-host.sh"), os.X_OK), "setup-host.sh not executable")
    conf = os.path.join(root, "etc/ringcast/ringcast.json")
    with open(conf, "w") as f:
        f.write('{"ring": 4096}\n')
    install()
    h.check(open(conf).read() == '{"ring": 4096}\n', "a second install overwrote an edited /etc/ringcast/ringcast.json")
    h.log("install: every file in place, the edited config kept")


def main():
    tmp = tempfile.mkdtemp(prefix="ringcast-it-deploy-")
    have_analyze = shutil.which("systemd-analyze") is not None
    try:
        check_unit_directives(have_analyze)
        if have_analyze:
            verify_unit(tmp)
        check_notify(tmp)
        check_man_page()
        check_setup_host_dry_run(tmp)
        check_install(tmp)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    if not have_analyze:
        h.skip("systemd-analyze is not installed (Debian package systemd): the unit was not verified")


if __name__ == "__main__":
    sys.exit(h.run_test(main, timeout=240))
