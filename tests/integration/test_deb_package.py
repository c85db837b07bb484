#!/usr/bin/python3
"""The Debian package (deploy/package.cmake), built from this build tree, installed on this
machine with apt-get, used, and purged.

  * cpack -G DEB from the build tree into a temp dir gives ringcast_<version>_<arch>.deb
    (the version `ringcast --version` prints) holding the binaries, the man page, the unit
    (ExecStart=/usr/bin/ringcast, User=ringcast), the default config as a conffile, and the
    maintainer scripts;
  * `apt-get install -y ./ringcast_*.deb` succeeds, runs `ringcast doctor` as a hint, creates
    the ringcast system user (when there was none) and starts nothing;
  * /usr/bin/ringcast --config /etc/ringcast/ringcast.json (listen address, control socket and
    metrics address moved by flags so nothing clashes) serves: `ringcastctl status` names the
    package's version, two python3-websockets clients exchange a text and a binary message,
    GET / answers the status page; SIGTERM to its pid ends it with status 0;
  * `apt-get remove --purge -y ringcast` leaves nothing of ours: binaries, unit, man page,
    /etc/ringcast, /usr/share/{ringcast,doc/ringcast}, /var/lib/ringcast, the user it made.

It changes this machine, so it runs only as root, alone (RUN_SERIAL in tests/CMakeLists.txt),
and skips (77) when ringcast is already installed or /etc/ringcast exists (nothing of the
host's is touched), or when apt/dpkg are missing or busy. The purge runs whatever happened.
"""
import asyncio
import glob
import os
import pwd
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ringcast_harness as h  # noqa: E402

APT_ENV = dict(os.environ, DEBIAN_FRONTEND="noninteractive")
APT_LOCK = ["-o", "DPkg::Lock::Timeout=60"]  # wait for another apt a while, then skip
LOCKED = re.compile(r"Could not get lock|Unable to acquire the dpkg frontend lock|dpkg was interrupted", re.I)
OURS = ["/usr/bin/ringcast", "/usr/bin/ringcastctl", "/usr/lib/systemd/system/ringcast.service",
        "/lib/systemd/system/ringcast.service", "/usr/share/man/man8/ringcast.8", "/etc/ringcast",
        "/usr/share/ringcast", "/usr/share/doc/ringcast", "/var/lib/ringcast"]
IN_PACKAGE = ["./usr/bin/ringcast", "./usr/bin/ringcastctl", "./usr/lib/systemd/system/ringcast.service",
              "./usr/share/man/man8/ringcast.8", "./etc/ringcast/ringcast.json",
              "./usr/share/ringcast/setup-host.sh", "./usr/share/ringcast/grafana/ringcast.json",
              "./usr/share/ringcast/prometheus/ringcast-rules.yml", "./usr/share/doc/ringcast/examples/chat.html"]


def run(cmd, timeout, **kw):
    try:
        return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, stdin=subprocess.DEVNULL, **kw)
    except subprocess.TimeoutExpired:
        raise h.TestFailure(f"`{' '.join(cmd)}` did not finish within {timeout}s")


def package_state():
    r = run(["dpkg-query", "-W", "-f=${Status}", "ringcast"], 30)
    return r.stdout.strip() if r.returncode == 0 else "not-installed"


def user_exists():
    try:
        pwd.getpwnam("ringcast")
        return True
    except KeyError:
        return False


def preconditions():
    if os.geteuid() != 0:
        h.skip("installs a package on this machine: needs root")
    for tool in ("dpkg", "dpkg-deb", "dpkg-query", "apt-get", "cpack"):
        if not shutil.which(tool):
            h.skip(f"{tool} is not installed")
    state = package_state()
    if state not in ("not-installed", "unknown ok not-installed", "deinstall ok not-installed"):
        h.skip(f"a ringcast package is already on this machine ({state!r}): not touching it")
    present = [p for p in OURS if os.path.lexists(p)]
    if present:
        h.skip(f"{present} already exist here: not clobbering them")


def build_package(tmp):
    build = os.path.dirname(os.path.abspath(h.bin_dir()))
    config = os.path.join(build, "CPackConfig.cmake")
    h.check(os.path.exists(config), f"no {config}: RINGCAST_BIN is not <build>/bin of a CMake build "
                                    "(or deploy/package.cmake is not included)")
    r = run(["cpack", "-G", "DEB", "--config", config, "-B", tmp], 300)
    h.check(r.returncode == 0, f"cpack failed:\n{r.stdout}\n{r.stderr}")
    version = run([h.ringcast_path(), "--version"], 10).stdout.split()[1]
    arch = run(["dpkg", "--print-architecture"], 10).stdout.strip()
    debs = glob.glob(os.path.join(tmp, "*.deb"))
    want = os.path.join(tmp, f"ringcast_{version}_{arch}.deb")
    h.check(debs == [want], f"cpack made {debs}, want [{want}]")
    listing = run(["dpkg-deb", "-c", want], 30).stdout
    paths = {line.split()[-1].rstrip("/") for line in listing.splitlines()}
    missing = [p for p in IN_PACKAGE if p not in paths]
    h.check(not missing, f"the package lacks {missing}:\n{listing}")
    control = run(["dpkg-deb", "-I", want], 30).stdout
    for script in ("postinst", "prerm", "postrm", "conffiles"):
        h.check(re.search(rf"\b{script}\b", control), f"the package has no {script}:\n{control}")
    conffiles = run(["sh", "-c", f"dpkg-deb --ctrl-tarfile '{want}' | tar -xO ./conffiles"], 30).stdout
    h.check(conffiles.split() == ["/etc/ringcast/ringcast.json"], f"conffiles: {conffiles!r}")
    unit = run(["sh", "-c", f"dpkg-deb --fsys-tarfile '{want}' | tar -xO ./usr/lib/systemd/system/ringcast.service"],
               30).stdout
    h.check("ExecStart=/usr/bin/ringcast --config /etc/ringcast/ringcast.json" in unit and "User=ringcast" in unit,
            "the packaged unit should run /usr/bin/ringcast as user ringcast")
    h.log(f"cpack: {os.path.basename(want)} ({os.path.getsize(want)} bytes), {len(paths)} paths, conffile "
          f"/etc/ringcast/ringcast.json, unit runs /usr/bin/ringcast as ringcast")
    return want, version


def apt(args, what, timeout=300):
    r = run(["apt-get"] + APT_LOCK + args, timeout, env=APT_ENV)
    out = r.stdout + r.stderr
    if r.returncode != 0 and LOCKED.search(out):
        h.skip(f"{what}: apt/dpkg is busy or interrupted: {out.strip()[-300:]}")
    h.check(r.returncode == 0, f"{what}: apt-get {' '.join(args)} exited {r.returncode}:\n{out[-3000:]}")
    return out


async def serve_installed(tmp, version):
    port, mport = h.free_port(), h.free_port()
    ctl = os.path.join(tmp, "ctl.sock")
    err_path = os.path.join(tmp, "stderr.log")
    with open(err_path, "wb") as err:
        proc = subprocess.Popen(["/usr/bin/ringcast", "--config", "/etc/ringcast/ringcast.json",
                                 "-addr", f"127.0.0.1:{port}", "--control-socket", ctl,
                                 "--metrics-listen", f"127.0.0.1:{mport}", "--worker-processes", "1", "-workers", "2"],
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=err,
                                preexec_fn=h._pdeathsig_term)
    try:
        deadline = time.monotonic() + 20
        while not (b"event=ready" in open(err_path, "rb").read() and h.port_accepts(port)):
            h.check(proc.poll() is None, f"/usr/bin/ringcast exited {proc.returncode}:\n{h.tail(err_path, 3000)}")
            h.check(time.monotonic() < deadline, f"/usr/bin/ringcast not ready in 20 s:\n{h.tail(err_path, 3000)}")
            await asyncio.sleep(0.05)
        r = run(["/usr/bin/ringcastctl", "--socket", ctl, "--json", "status"], 20)
        h.check(r.returncode == 0 and f'"version":"{version}"' in r.stdout.replace(" ", ""),
                f"ringcastctl status: {r.returncode} {r.stdout} {r.stderr}")
        a = await h.ws_connect(f"ws://127.0.0.1:{port}/")
        b = await h.ws_connect(f"ws://127.0.0.1:{port}/")
        await a.send("hello through the package")
        got = await asyncio.wait_for(b.recv(), 10)
        h.check(got == "hello through the package", f"client b got {got!r}")
        await b.send(b"\x01\x02binary")
        got = await asyncio.wait_for(a.recv(), 10)
        h.check(got == b"\x01\x02binary", f"client a got {got!r}")
        status, headers, _ = await h.ahttp_request(mport, "/")
        h.check(status == 200 and headers.get("content-type", "").startswith("text/html"), f"GET /: {status}")
        await h.close_all([a, b])
        h.log(f"/usr/bin/ringcast pid={proc.pid}: ringcastctl reports {version}; a text and a binary message "
              "went between two clients; GET / is the status page")
        proc.send_signal(signal.SIGTERM)
        try:
            rc = proc.wait(timeout=15)
        except subprocess.TimeoutExpired:
            raise h.TestFailure("/usr/bin/ringcast still running 15 s after SIGTERM")
        h.check(rc == 0, f"/usr/bin/ringcast exited {rc} after SIGTERM:\n{h.tail(err_path, 3000)}")
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


def purge():
    """apt-get remove --purge, retried while apt is busy; None, or what went wrong (also logged,
    since it may run while another failure is on its way out)."""
    out = ""
    for _ in range(3):
        r = run(["apt-get", "-o", "DPkg::Lock::Timeout=120", "remove", "--purge", "-y", "ringcast"], 300, env=APT_ENV)
        out = r.stdout + r.stderr
        if r.returncode == 0:
            return None
        if not LOCKED.search(out):
            break
    h.log(f"PURGE FAILED: ringcast may still be installed on this machine:\n{out[-3000:]}")
    return f"apt-get remove --purge -y ringcast failed:\n{out[-3000:]}"


def check_purged(user_before):
    left = [p for p in OURS if os.path.lexists(p)]
    h.check(not left, f"after the purge these are left: {left}")
    h.check(package_state() in ("not-installed", "unknown ok not-installed"), f"dpkg still knows ringcast: "
                                                                                f"{package_state()!r}")
    h.check(user_exists() == user_before, f"user ringcast {'exists' if user_exists() else 'is gone'} after the purge; "
                                          f"before the install it {'existed' if user_before else 'did not'}")


async def main():
    preconditions()
    h.import_websockets()
    tmp = tempfile.mkdtemp(prefix="ringcast-it-deb-")
    installed = False
    try:
        deb, version = build_package(tmp)
        user_before = user_exists()
        installed = True  # from here on, whatever happens, purge
        out = apt(["install", "-y", "--no-install-recommends", deb], "install")
        h.check(package_state() == "install ok installed", f"after apt-get install: {package_state()!r}")
        missing = [p for p in OURS[:2] + ["/usr/share/man/man8/ringcast.8", "/etc/ringcast/ringcast.json",
                                           "/usr/lib/systemd/system/ringcast.service"] if not os.path.exists(p)]
        h.check(not missing, f"installed, but {missing} are missing")
        conffiles = run(["dpkg-query", "-W", "-f=${Conffiles}", "ringcast"], 30).stdout
        h.check("/etc/ringcast/ringcast.json" in conffiles, f"dpkg does not treat the config as a conffile: {conffiles!r}")
        h.check(user_exists(), "no ringcast user after the install")
        h.check("summary:" in out and "ringcast doctor" in out, f"the install did not run ringcast doctor:\n{out[-2000:]}")
        h.log("apt-get install: installed; ringcast user " + ("kept" if user_before else "created") + "; doctor said: "
              + next((l.strip() for l in out.splitlines() if "summary:" in l), "?"))
        await serve_installed(tmp, version)
    finally:
        purge_error = purge() if installed else None
        shutil.rmtree(tmp, ignore_errors=True)
    h.check(purge_error is None, purge_error)
    check_purged(user_before)
    h.log("apt-get remove --purge: nothing of ours is left" + ("" if user_before else ", the user included"))


if __name__ == "__main__":
    h.run_test(main, timeout=480)
