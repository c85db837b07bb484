#!/usr/bin/python3
"""The channel keys are read when a worker starts: a reload that changes one rolls the workers.

One server (3 workers, channels off):

  1. `ringcastctl set channels path` and `set max_channels 10` are refused as not run-time keys;
  2. HUP after the file sets channels "path", max_channels 5000 and
     max_subscribers_per_channel 100: logged event=reload with rolling_restart=1, then every
     worker is replaced (event=restart_done names workers 0..2), and `ringcastctl channels`
     reports mode "path";
  3. HUP with the same file again: rolling_restart=0, the same workers;
  4. HUP after the file sets max_channels 0: event=reload_refused naming max_channels; the
     workers and the mode stay.
"""
import asyncio
import json
import os
import re
import signal
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ringcast_harness as h  # noqa: E402


async def main():
    srv = h.Server("channels-reload").start()
    ctl = h.ctl_socket_of(srv)
    log = h.LogTail(srv.stderr_path, from_end=False)
    base_cfg = dict(srv.config)

    def write_config(cfg):
        with open(srv.config_path + ".new", "w") as f:
            json.dump(cfg, f, indent=2)
        os.rename(srv.config_path + ".new", srv.config_path)

    async def reload_line(after):
        deadline = time.monotonic() + 5
        while len(log.find("event=reload ")) <= after:
            h.check(time.monotonic() < deadline, f"no event=reload within 5 s; log: {log.lines[-5:]}")
            await asyncio.sleep(0.02)
        return log.find("event=reload ")[-1]

    # 1. not run-time keys
    for key, val in (("channels", "path"), ("max_channels", "10"), ("max_subscribers_per_channel", "5")):
        rc, out, err = await h.actl(ctl, "set", key, val)
        h.check(rc == 1 and key in err and "run time" in err, f"set {key} {val}: rc={rc} err={err!r}")
    _, cj = await h.actl_json(ctl, "channels")
    h.check(cj["mode"] == "off", f"channels after refused sets: {cj}")
    h.log("set channels / max_channels / max_subscribers_per_channel: refused (not run-time keys)")

    # 2. a change rolls the workers
    workers0 = await h.workers_by_index(ctl)
    cfg = dict(base_cfg, channels="path", max_channels=5000, max_subscribers_per_channel=100)
    n_reload = len(log.find("event=reload "))
    n_done = len(log.find("event=restart_done"))
    write_config(cfg)
    os.kill(srv.pid, signal.SIGHUP)
    line = await reload_line(n_reload)
    h.check("rolling_restart=1" in line, f"a channels change should roll the workers: {line}")
    deadline = time.monotonic() + 30
    while len(log.find("event=restart_done")) <= n_done:
        bad = log.find("event=restart_failed") + log.find("event=reload_restart_refused")
        h.check(not bad, f"rolling restart after HUP failed: {bad}")
        h.check(time.monotonic() < deadline, f"no event=restart_done within 30 s of the HUP; log: {log.lines[-8:]}")
        await asyncio.sleep(0.02)
    done = log.find("event=restart_done")[-1]
    pairs = re.findall(r"worker (\d+): pid (\d+) -> (\d+)", done)
    h.check(sorted(int(p[0]) for p in pairs) == [0, 1, 2], f"the rolling restart should replace workers 0..2: {done}")
    workers1 = await h.workers_by_index(ctl)
    h.check(all(workers1[i] != workers0[i] for i in workers0), f"not every worker replaced: {workers0} -> {workers1}")
    h.check(sorted(workers1.values()) == srv.worker_pids(), f"children {srv.worker_pids()} vs {workers1}")
    _, cj = await h.actl_json(ctl, "channels")
    h.check(cj["mode"] == "path", f"channels after the reload: {cj}")
    _, st = await h.actl_json(ctl, "status")
    h.check(st["config"]["channels"] == "path", f"status config after the reload: {st['config']}")
    h.log(f"HUP (channels path): rolled: {done.split('supervisor ')[-1]}")

    # 3. the same file again: nothing to roll
    n_reload = len(log.find("event=reload "))
    os.kill(srv.pid, signal.SIGHUP)
    line = await reload_line(n_reload)
    h.check("rolling_restart=0" in line, f"an unchanged file should not roll the workers: {line}")
    await asyncio.sleep(0.3)
    h.check(await h.workers_by_index(ctl) == workers1, "workers changed after a reload that changed nothing")

    # 4. an invalid value refuses the reload
    n_refused = len(log.find("event=reload_refused"))
    write_config(dict(cfg, max_channels=0))
    os.kill(srv.pid, signal.SIGHUP)
    deadline = time.monotonic() + 5
    while len(log.find("event=reload_refused")) <= n_refused:
        h.check(time.monotonic() < deadline, f"HUP with max_channels 0: no event=reload_refused; log: {log.lines[-5:]}")
        await asyncio.sleep(0.02)
    refused = log.find("event=reload_refused")[-1]
    h.check("max_channels" in refused, f"reload_refused should name max_channels: {refused}")
    await asyncio.sleep(0.3)
    h.check(await h.workers_by_index(ctl) == workers1, "workers changed after a refused reload")
    _, cj = await h.actl_json(ctl, "channels")
    h.check(cj["mode"] == "path", f"channels after a refused reload: {cj}")
    h.log(f"HUP with max_channels 0: refused ({refused.split('error=')[-1]}), nothing changed")
    srv.stop()


if __name__ == "__main__":
    h.run_test(main, timeout=120)
