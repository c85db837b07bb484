#!/usr/bin/python3
"""`ringcast doctor` tells whether this host can run a config, and how to fix what it lacks.

  this host      a modest loopback config: exit 0, every line "ok|warn|fail  <check>: <detail>",
                 no fail, the io_uring, NUMA, hugepage, limit, listen and control socket checks
                 all present, a summary line last. (A host without io_uring skips: nothing
                 of ringcast runs there.)
  too much       hugepages "require" with a slab larger than the free pool: exit 1 and
                 `fail  hugepages: ... — fix: sysctl -w vm.nr_hugepages=N`, N computed here
                 independently from /proc/meminfo and the segment layout. The same config with
                 "auto" only warns about hugepages.
  listen taken   by a running ringcast: a warning naming its supervisor pid, exit 0;
                 by another process: a failure naming it, exit 1.
  stale segment  a /dev/shm/ringcast-<dead pid> file: a warning whose fix removes it.
  no io_uring    under a seccomp filter refusing io_uring_setup: exit 1, the io_uring line fails
                 with a seccomp fix.
  setup-host     setup-host.sh --dry-run reserves exactly the pages the doctor says the config
                 needs (they compute the segment each their own way), for several shapes.
  usage          `doctor --help` exits 0; a bad flag exits 2 naming it.
"""
import json
import os
import re
import socket
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ringcast_harness as h  # noqa: E402

# The verdict padded to 4 columns, two blanks, the check, its detail.
LINE = re.compile(r"^(ok  |warn|fail)  ([^:]+): (.+)$")
MIB = 1 << 20
SETUP = os.path.join(h.source_dir(), "deploy", "setup-host.sh")


def doctor(cfg_path, *extra, prefix=(), timeout=60):
    r = subprocess.run(list(prefix) + [h.ringcast_path(), "doctor", "--config", cfg_path] + list(extra),
                       capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL)
    checks = {}
    lines = r.stdout.splitlines()
    for line in lines[:-1]:
        m = LINE.match(line)
        h.check(m is not None, f"doctor line not in the check format: {line!r}\n{r.stdout}\n{r.stderr}")
        checks[m.group(2)] = (m.group(1).strip(), m.group(3))
    h.check(lines and lines[-1].startswith("summary: "), f"doctor's last line is not the summary:\n{r.stdout}\n{r.stderr}")
    return r.returncode, checks, r.stdout


def write_cfg(tmp, name, cfg):
    path = os.path.join(tmp, name + ".json")
    with open(path, "w") as f:
        json.dump(cfg, f)
    return path


def meminfo():
    out = {}
    with open("/proc/meminfo") as f:
        for line in f:
            k, _, v = line.partition(":")
            out[k] = int(v.split()[0])
    return out


def align(v, a):
    return (v + a - 1) // a * a


def segment_bytes(shards, ring, slab):
    """shm/layout.hpp's compute_layout, written out again: members = shards + the bridge slot."""
    members = shards + 1
    regions = align(128 + members * 71040 + members * members * 64, 2 * MIB)  # header, control blocks, cursors
    stride = align(align(128 + ring * 32, 64) + slab, 2 * MIB)              # ring header, descriptors, slab
    return regions + members * stride


def check_this_host(tmp, base):
    rc, checks, out = doctor(write_cfg(tmp, "host", base))
    h.log("doctor on this host:\n" + out)
    if checks.get("io_uring", ("", ""))[0] == "fail":
        h.skip("this host has no usable io_uring: " + checks["io_uring"][1])
    fails = {k: v for k, v in checks.items() if v[0] == "fail"}
    h.check(rc == 0 and not fails, f"doctor exit {rc} on this host for a modest config; failures: {fails}")
    for name in ["kernel", "io_uring_disabled", "io_uring", "io_uring opcodes", "provided buffer rings",
                 "multishot accept", "multishot recv", "numa", "plan", "hugepages", "/dev/shm", "stale segments",
                 "nofile", "somaxconn", "tcp_migrate_req", "listen", "control socket"]:
        h.check(name in checks, f"doctor has no {name!r} check:\n{out}")
    h.check(checks["listen"][0] == "ok", f"a free loopback port is not ok: {checks['listen']}")
    h.check(checks["control socket"][0] == "ok", f"a temp dir control socket is not ok: {checks['control socket']}")
    h.check("1 worker process, 2 shards" in checks["plan"][1], f"plan: {checks['plan']}")
    for name, (verdict, detail) in checks.items():
        if verdict != "ok":
            h.check(" \u2014 fix: " in detail or "not tested" in detail, f"{verdict} without a fix: {name}: {detail}")


def check_too_much(tmp, base):
    mi = meminfo()
    total, free, rsvd = mi["HugePages_Total"], mi["HugePages_Free"], mi["HugePages_Rsvd"]
    if mi.get("Hugepagesize") != 2048:
        h.log(f"default hugepage size {mi.get('Hugepagesize')} kB: the shortfall fix is a boot option; not checked")
        return
    slab = 64 << 30
    need = segment_bytes(2, 2048, slab) // (2 * MIB)
    available = max(free - rsvd, 0)
    if available >= need:
        h.log(f"this host has {available} free hugepages, more than {need}: shortfall not checked")
        return
    cfg = dict(base, hugepages="require", slab_bytes=slab)
    rc, checks, out = doctor(write_cfg(tmp, "require", cfg))
    h.log("doctor, hugepages require, 3 x 64 GiB:\n" + out)
    h.check(rc == 1, f"doctor exit {rc} for a segment the host cannot hold, want 1")
    verdict, detail = checks.get("hugepages", ("missing", ""))
    h.check(verdict == "fail", f"hugepages: {verdict} {detail}")
    want_fix = f"sysctl -w vm.nr_hugepages={total - available + need}"
    h.check(f"\u2014 fix: {want_fix}" in detail, f"hugepages fix should be `{want_fix}`: {detail}")
    h.check(f"needs {need} pages of 2 MiB and {available} of {total} are free" in detail, detail)

    rc, checks, out = doctor(write_cfg(tmp, "auto", dict(base, hugepages="auto")))
    h.check(checks["hugepages"][0] in ("ok", "warn"), f"with auto a shortfall only warns: {checks['hugepages']}")
    h.check(rc == 0, f"doctor exit {rc} with hugepages auto\n{out}")


def check_listen_taken(tmp, base):
    server = h.Server("doctor-live", worker_processes=1, shards=1)
    try:
        server.start()
        cfg = dict(base, listen=f"127.0.0.1:{server.port}")
        rc, checks, out = doctor(write_cfg(tmp, "live", cfg))
        verdict, detail = checks["listen"]
        h.check(verdict == "warn" and f"running ringcast (pid {server.pid})" in detail,
                f"listen on a running ringcast: {verdict} {detail}")
        h.check(rc == 0, f"doctor exit {rc} beside a running ringcast (only a warning)\n{out}")
    finally:
        server.stop()
        server.cleanup_tmp()

    other = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    try:
        other.bind(("127.0.0.1", 0))
        other.listen(1)
        port = other.getsockname()[1]
        rc, checks, out = doctor(write_cfg(tmp, "foreign", dict(base, listen=f"127.0.0.1:{port}")))
        verdict, detail = checks["listen"]
        h.check(verdict == "fail" and f"(pid {os.getpid()})" in detail, f"listen on a foreign socket: {verdict} {detail}")
        h.check(rc == 1, f"doctor exit {rc} with the port taken by another program, want 1")
    finally:
        other.close()


def check_stale_segment(tmp, base):
    dead = subprocess.Popen(["true"])
    dead.wait()
    path = f"/dev/shm/ringcast-{dead.pid}"
    if not os.path.isdir("/dev/shm") or os.path.exists(path):
        h.log("no /dev/shm or the name is taken: stale segment not checked")
        return
    try:
        with open(path, "wb") as f:
            f.write(b"\0" * 4096)
        rc, checks, out = doctor(write_cfg(tmp, "stale", base))
        verdict, detail = checks["stale segments"]
        h.check(verdict == "warn" and f"fix: rm {path}" in detail, f"stale segments: {verdict} {detail}")
    finally:
        os.unlink(path)


def check_no_io_uring(tmp, base):
    tool = os.path.join(h.bin_dir(), "no_io_uring")
    if not os.access(tool, os.X_OK):
        h.log(f"{tool} not built: io_uring refusal not checked")
        return
    rc, checks, out = doctor(write_cfg(tmp, "seccomp", base), prefix=[tool])
    if rc == 77:
        h.log("no_io_uring cannot install a seccomp filter here: not checked")
        return
    verdict, detail = checks.get("io_uring", ("missing", ""))
    h.check(rc == 1 and verdict == "fail" and "Operation not permitted" in detail,
            f"doctor under a seccomp filter refusing io_uring_setup: exit {rc}, io_uring {verdict} {detail}")
    disabled = open("/proc/sys/kernel/io_uring_disabled").read().strip() \
        if os.path.exists("/proc/sys/kernel/io_uring_disabled") else "0"
    if disabled == "0":
        h.check("seccomp" in detail, f"the fix should name the seccomp filter: {detail}")
    h.check("multishot recv" not in checks, "no io_uring, yet the doctor reports multishot recv")


def check_setup_host_agrees(tmp, base):
    shapes = [
        {},
        {"shards": 7, "worker_processes": 1, "ring": 4096, "slab_bytes": 32 * MIB, "max_message_bytes": MIB},
        {"shards": 200, "worker_processes": 1, "ring": 64, "slab_bytes": 2 * MIB, "max_message_bytes": MIB},
        {"shards": 0, "worker_processes": 0},
    ]
    for i, shape in enumerate(shapes):
        cfg = write_cfg(tmp, f"shape{i}", dict(base, **shape))
        _, checks, out = doctor(cfg)
        m = re.search(r"needs (\d+) pages of 2 MiB", checks.get("hugepages", ("", ""))[1])
        h.check(m is not None, f"doctor does not say how many pages config {shape} needs:\n{out}")
        r = subprocess.run(["sh", SETUP, "--dry-run", "--binary", h.ringcast_path(), "--config", cfg],
                           capture_output=True, text=True, timeout=60, stdin=subprocess.DEVNULL)
        h.check(r.returncode == 0, f"setup-host.sh --dry-run: {r.returncode}\n{r.stdout}\n{r.stderr}")
        s = re.search(r"= (\d+) hugepages of 2 MiB", r.stdout)
        h.check(s is not None, f"setup-host.sh does not print the page count:\n{r.stdout}")
        h.check(m.group(1) == s.group(1),
                f"config {shape}: doctor says {m.group(1)} pages, setup-host.sh reserves {s.group(1)}")
        if shape.get("shards"):
            want = segment_bytes(shape["shards"], shape.get("ring", 2048), shape.get("slab_bytes", 64 * MIB))
            h.check(int(m.group(1)) == want // (2 * MIB), f"config {shape}: {m.group(1)} pages, want {want // (2 * MIB)}")
        h.log(f"config {shape}: doctor and setup-host.sh agree on {m.group(1)} pages")


def check_usage():
    r = subprocess.run([h.ringcast_path(), "doctor", "--help"], capture_output=True, text=True, timeout=10)
    h.check(r.returncode == 0 and "ringcast doctor" in r.stdout, f"doctor --help: {r.returncode} {r.stdout}")
    r = subprocess.run([h.ringcast_path(), "doctor", "--ring", "1000"], capture_output=True, text=True, timeout=10)
    h.check(r.returncode == 2 and "--ring" in r.stderr, f"doctor --ring 1000: {r.returncode} {r.stderr}")


def main():
    tmp = tempfile.mkdtemp(prefix="ringcast-it-doctor-")
    base = {"listen": f"127.0.0.1:{h.free_port()}", "worker_processes": 1, "shards": 2, "hugepages": "auto",
            "control_socket": os.path.join(tmp, "run", "control.sock")}
    try:
        check_usage()
        check_this_host(tmp, base)
        check_too_much(tmp, base)
        check_listen_taken(tmp, base)
        check_stale_segment(tmp, base)
        check_no_io_uring(tmp, base)
        check_setup_host_agrees(tmp, base)
    finally:
        subprocess.run(["rm", "-rf", tmp])


if __name__ == "__main__":
    sys.exit(h.run_test(main, timeout=240))
