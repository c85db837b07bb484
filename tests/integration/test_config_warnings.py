#!/usr/bin/python3
"""A bridge block that names Redis while the bridge is off is warned about, and nothing else
changes: the node starts without a bridge and serves.

  1. `--check-config` over {"bridge": {"redis": ..., "node_id": ...}} (no "enabled", as a new
     user writes it): exit 0, stdout is the effective config with bridge.enabled false,
     stderr says "warning: bridge: the block has no "enabled": true" and names the address.
     The same with "enabled": false and another address: the warning names bridge.enabled.
  2. The shipped deploy/ringcast.json and a config printed by --check-config: no warning.
  3. The server started with the first file logs event=config_warning, serves two clients
     (a message from one reaches the other), and `status` shows the bridge off.
  4. SIGHUP with the file changed to "enabled": false + another address logs the warning again.
"""
import asyncio
import json
import os
import signal
import subprocess
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ringcast_harness as h  # noqa: E402

NO_ENABLED = {"redis": "127.0.0.1:6379", "node_id": "node-a"}
DISABLED = {"enabled": False, "redis": "10.0.0.5:6379"}


def check_config(path):
    r = subprocess.run([h.ringcast_path(), "--config", path, "--check-config"], capture_output=True, text=True,
                       timeout=10, stdin=subprocess.DEVNULL)
    h.check(r.returncode == 0, f"--check-config {path}: exit {r.returncode}, stderr {r.stderr!r}")
    return json.loads(r.stdout), r.stderr


async def body():
    srv = h.Server("cfgwarn", overrides={"bridge": NO_ENABLED}, worker_processes=1, shards=1)
    tmp = srv.tmp

    def write(name, cfg):
        p = os.path.join(tmp, name)
        with open(p, "w") as f:
            json.dump(cfg, f)
        return p

    eff, err = check_config(write("no-enabled.json", {"bridge": NO_ENABLED}))
    h.check(eff["bridge"]["enabled"] is False, f"the block must not enable the bridge: {eff['bridge']}")
    h.check('warning: bridge: the block has no "enabled": true' in err and "127.0.0.1:6379" in err,
            f"--check-config should warn about the block without enabled, naming the address: {err!r}")
    _, err = check_config(write("disabled.json", {"bridge": DISABLED}))
    h.check("warning: bridge.enabled: false" in err and "10.0.0.5:6379" in err,
            f"--check-config should warn about enabled false with an address: {err!r}")

    _, err = check_config(os.path.join(h.source_dir(), "deploy", "ringcast.json"))
    h.check("warning" not in err, f"the shipped config must not warn: {err!r}")
    printed = subprocess.run([h.ringcast_path(), "--check-config"], capture_output=True, text=True, timeout=10,
                             stdin=subprocess.DEVNULL).stdout
    _, err = check_config(write("printed.json", json.loads(printed)))
    h.check("warning" not in err, f"a config printed by --check-config must not warn: {err!r}")
    h.log("--check-config warns about the two disabled blocks and not about the shipped or printed configs")

    srv.start()
    log = h.LogTail(srv.stderr_path, from_end=False)
    line = await log.wait_for("event=config_warning", timeout=5)
    h.check('no \\"enabled\\": true' in line[-1] or 'no "enabled": true' in line[-1],
            f"start warning should say what is missing: {line[-1]}")
    a = await h.ws_connect(srv.uri())
    b = await h.ws_connect(srv.uri())
    await asyncio.sleep(0.2)
    await a.send("hello")
    got = await asyncio.wait_for(b.recv(), 5)
    h.check(got == "hello", f"the node must serve without the bridge: got {got!r}")
    await h.close_all([a, b])
    rc, out, err = h.ctl_run(h.ctl_socket_of(srv), "--json", "status")
    h.check(rc == 0, f"status failed: {rc} {err}")
    bridge = json.loads(out).get("bridge", {})
    h.check(bridge.get("enabled") in (False, None), f"status should show the bridge off: {bridge}")
    h.log("the node started without a bridge, logged event=config_warning and served")

    n = len(log.find("event=config_warning"))
    cfg = srv.build_config()
    cfg["bridge"] = DISABLED
    with open(srv.config_path, "w") as f:
        json.dump(cfg, f)
    os.kill(srv.pid, signal.SIGHUP)
    deadline = time.monotonic() + 10
    while len(log.find("event=config_warning")) <= n:
        h.check(time.monotonic() < deadline, "SIGHUP with a disabled bridge block: no event=config_warning")
        await asyncio.sleep(0.05)
    h.check("bridge.enabled: false" in log.find("event=config_warning")[-1],
            f"reload warning should name bridge.enabled: {log.find('event=config_warning')[-1]}")
    h.log("a reload warns again")
    srv.stop(check=True)


if __name__ == "__main__":
    h.run_test(body, timeout=60)
