#!/usr/bin/python3
"""The Redis bridge logs in (bridge.username + bridge.password_file, Redis 6 ACL AUTH) against
a redis-server started with an ACL user and the default user off.

  1. Node A has the wrong password: its bridge says so (status auth "refused", last_error
     WRONGPASS, an event=bridge_auth_refused error line), relays nothing, and A still serves
     its own clients.
  2. Nodes B and C have the right one: both bridges log in (auth "ok") and a message sent on
     each node reaches the other.
  3. A's password file is corrected and `ringcastctl restart bridge` picks it up: A joins.
  4. Neither password appears in any node's logs, `--check-config` output, `status` JSON,
     /metrics, or the bridge process's command line; the file path does appear where the
     configuration is printed.
"""
import asyncio
import os
import secrets
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ringcast_harness as h  # noqa: E402

USER = "relay"
STREAM = "it-auth"


def write_secret(path, text):
    with open(path, "w") as f:
        f.write(text + "\n")  # a final newline, as an editor leaves it: stripped by the reader
    os.chmod(path, 0o600)


def node(name, redis, password_file, metrics_port):
    bridge = h.bridge_overrides(redis.address, name, STREAM, username=USER, password_file=password_file)
    return h.Server(name, worker_processes=1, shards=1,
                    overrides={**bridge, "metrics_listen": f"127.0.0.1:{metrics_port}"}).start()


async def cross(a, b, tag):
    """A message sent on node a reaches a client of node b (retried: the bridges may still seek)."""
    ca = await h.ws_connect(a.uri())
    cb = await h.ws_connect(b.uri())
    await asyncio.sleep(0.3)
    want = f"{tag} {secrets.token_hex(4)}"
    await ca.send(want)
    got = await asyncio.wait_for(cb.recv(), 10)
    h.check(got == want, f"{a.name} -> {b.name}: got {got!r}, expected {want!r}")
    await h.close_all([ca, cb])


def check_secret_absent(what, text, passwords):
    for p in passwords:
        h.check(p not in text, f"a Redis password appears in {what}")


async def main():
    h.import_websockets()
    good = "pw-" + secrets.token_hex(16)
    wrong = "wrong-" + secrets.token_hex(16)
    redis = h.RedisServer("redis-acl", auth=(USER, good),
                          extra_args=["--user", USER, "on", ">" + good, "~*", "&*", "+@all",
                                      "--user", "default", "off"]).start()
    servers = []
    try:
        # The server really requires the login: without it, a command is refused.
        saved, redis.auth = redis.auth, None
        try:
            redis.command("PING")
            raise h.TestFailure("redis-server accepted a command without AUTH")
        except h.TestFailure as e:
            h.check("NOAUTH" in str(e), f"expected NOAUTH, got {e}")
        finally:
            redis.auth = saved

        secrets_dir = redis.tmp
        wrong_file = os.path.join(secrets_dir, "a.password")
        good_file = os.path.join(secrets_dir, "bc.password")
        write_secret(wrong_file, wrong)
        write_secret(good_file, good)
        ports = [h.free_port() for _ in range(3)]

        # 1. Wrong password: refused, said clearly, nothing relayed, local broadcast goes on.
        a = node("node-a", redis, wrong_file, ports[0])
        servers.append(a)
        st = await h.wait_bridge_report(a, lambda st: st.get("auth") == "refused", timeout=15)
        h.check(st.get("auth") == "refused", f"node A's bridge should say auth refused: {st}")
        h.check("WRONGPASS" in st.get("last_error", ""), f"last_error should explain: {st}")
        h.check(st.get("connected") is False, f"a refused bridge is not connected: {st}")
        await h.wait_for(lambda: "event=bridge_auth_refused" in a.read_stderr(), 10,
                         "an event=bridge_auth_refused line")
        line = next(l for l in a.read_stderr().splitlines() if "event=bridge_auth_refused" in l)
        h.check("level=error" in line and f"user={USER}" in line and "WRONGPASS" in line, f"log line: {line}")
        await h.close_all(await h.local_broadcast(a, 5, "alone"))
        rc, out, _ = await h.actl(h.ctl_socket_of(a), "status")
        h.check(rc == 0 and "NOT CONNECTED" in out and "auth refused" in out,
                f"`ringcastctl status` should say the login is refused: {out}")
        await asyncio.sleep(0.5)
        h.check(redis.command("XLEN", STREAM) == 0, "node A relayed although its login was refused")
        st = await h.bridge_status(a)
        h.check(st.get("sent", 0) == 0, f"node A's bridge counts sent messages: {st}")
        h.log(f"wrong password: refused ({st.get('last_error')}), nothing relayed, local broadcast works")

        # 2. Right password: two nodes log in and hear each other.
        b = node("node-b", redis, good_file, ports[1])
        c = node("node-c", redis, good_file, ports[2])
        servers += [b, c]
        for srv in (b, c):
            await h.wait_bridge_connected(srv)
            st = await h.bridge_status(srv)
            h.check(st.get("auth") == "ok", f"{srv.name}: auth should be ok: {st}")
        await cross(b, c, "b-to-c")
        await cross(c, b, "c-to-b")
        h.log("right password: nodes B and C logged in and exchanged messages")

        # 3. The operator fixes A's password file and restarts its bridge.
        write_secret(wrong_file, good)
        await h.actl_json(h.ctl_socket_of(a), "restart", "bridge", timeout=30)
        await h.wait_bridge_connected(a)
        st = await h.wait_bridge_report(a, lambda st: st.get("auth") == "ok", timeout=15)
        h.check(st.get("auth") == "ok", f"node A's bridge should log in after the fix: {st}")
        await cross(a, c, "a-to-c")
        h.log(f"after the fix and `restart bridge`, node A joined: {st.get('auth')}")

        # 4. The passwords are nowhere an operator or another user could read them.
        passwords = [good, wrong]
        for srv, port in zip(servers, ports):
            _, status = await h.actl_json(h.ctl_socket_of(srv), "status")
            text = str(status)
            check_secret_absent(f"{srv.name} status", text, passwords)
            rc, out, err = await h.actl(h.ctl_socket_of(srv), "status")
            check_secret_absent(f"{srv.name} ringcastctl status", out + err, passwords)
            code, _, body = h.http_request(port, "/metrics")
            h.check(code == 200, f"{srv.name}: /metrics status {code}")
            check_secret_absent(f"{srv.name} /metrics", body.decode("utf-8", "replace"), passwords)
            code, _, body = h.http_request(port, "/status.json")
            check_secret_absent(f"{srv.name} /status.json", body.decode("utf-8", "replace"), passwords)
            bridge_pid = (await h.bridge_status(srv)).get("pid", -1)
            cmdline = h.proc_cmdline(bridge_pid) if bridge_pid > 0 else ""
            h.check("--bridge" in cmdline, f"{srv.name}: bridge pid {bridge_pid} cmdline {cmdline[:200]!r}")
            check_secret_absent(f"{srv.name} bridge command line", cmdline, passwords)
            checked = subprocess.run([h.ringcast_path(), "--check-config", "--config", srv.config_path],
                                     capture_output=True, text=True, timeout=20)
            h.check(checked.returncode == 0, f"--check-config failed: {checked.stderr}")
            h.check(srv.config["bridge"]["password_file"] in checked.stdout,
                    "--check-config should print the password file's path")
            check_secret_absent(f"{srv.name} --check-config", checked.stdout + checked.stderr, passwords)
        for srv in servers:
            srv.stop(check=True, allow_restarts=True)
            check_secret_absent(f"{srv.name} logs", srv.read_stderr() + srv.read_stdout(), passwords)
        h.log("no password in logs, --check-config, status, /metrics, /status.json or the bridge's argv")
    finally:
        redis.cleanup()


if __name__ == "__main__":
    h.run_test(main, timeout=180)
