#!/usr/bin/python3
"""A bad configuration stops the start with exit status 2 and a message naming the key.

Each bad value is merged into an otherwise valid loopback config (so a server that
wrongly accepted it would not bind a public port), run as `ringcast --config F`:
  {"ring": 1000}              -> exit 2, stderr names `ring` and says "power of two"
  {"frobnicate": 1}           -> exit 2, names `frobnicate`
  {"listen": "nonsense"}      -> exit 2, names `listen`
  {"max_message_bytes": "big"}-> exit 2, names `max_message_bytes`
  {"hugepages": "sometimes"}  -> exit 2, names `hugepages`   (auto|require|off per DESIGN.md)
  invalid JSON                -> exit 2
  top level not an object     -> exit 2
  {"auth": {"required": true}} (no key)         -> exit 2, names `auth.required`
  {"allowed_origins": ["https://a.example/app"]} -> exit 2, names `allowed_origins[0]`, "path"
  auth.jwt.hmac_secret_file missing / 16 bytes  -> exit 2, names the key and the file, and
                                                   (short) says "at least 32" without the secret
  the flag `-ring 1000`       -> exit 2, names `-ring`
`ringcast --config deploy/ringcast.json --check-config` exits 0 and prints JSON with "ring".
Nothing may keep running: every invocation must exit by itself within 10 s.
"""
import json
import os
import re
import subprocess
import sys
import tempfile

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ringcast_harness as h  # noqa: E402


def run(args, timeout=10):
    try:
        r = subprocess.run([h.ringcast_path()] + args, capture_output=True, text=True, timeout=timeout,
                           stdin=subprocess.DEVNULL)
    except subprocess.TimeoutExpired as e:
        # subprocess.run kills the child on timeout; any worker it forked is orphaned: report.
        raise h.TestFailure(f"`ringcast {' '.join(args)}` still running after {timeout}s (it should have refused "
                            f"to start); stderr so far: {e.stderr!r}")
    return r


def main():
    tmp = tempfile.mkdtemp(prefix="ringcast-it-badconfig-")
    port = h.free_port()
    base = {"listen": f"127.0.0.1:{port}", "worker_processes": 1, "shards": 1,
            "control_socket": os.path.join(tmp, "ctl.sock"), "stats_interval_ms": 500, "hugepages": "auto"}

    def cfg_file(name, content):
        p = os.path.join(tmp, name + ".json")
        with open(p, "w") as f:
            f.write(content if isinstance(content, str) else json.dumps(content))
        return p

    cases = [
        ("ring not a power of two", {**base, "ring": 1000}, [r"\bring\b", r"power.of.two"]),
        ("unknown key", {**base, "frobnicate": 1}, [r"frobnicate"]),
        ("listen nonsense", {**base, "listen": "nonsense"}, [r"\blisten\b"]),
        ("max_message_bytes a string", {**base, "max_message_bytes": "big"}, [r"max_message_bytes"]),
        ("hugepages bad enum", {**base, "hugepages": "sometimes"}, [r"hugepages"]),
        ("invalid JSON", '{"listen": "127.0.0.1:%d", "ring": 2048,,}' % port, []),
        ("top level is an array", "[1, 2, 3]", []),
        ("auth.required without a key", {**base, "auth": {"required": True}}, [r"auth\.required"]),
        ("allowed origin with a path", {**base, "allowed_origins": ["https://a.example/app"]},
         [r"allowed_origins\[0\]", r"path"]),
        ("missing JWT secret file", {**base, "auth": {"jwt": {"hmac_secret_file": os.path.join(tmp, "no-secret")}}},
         [r"auth\.jwt\.hmac_secret_file", r"no-secret"]),
    ]
    short_secret = os.path.join(tmp, "short-secret")
    with open(short_secret, "w") as f:
        f.write("SIXTEEN-BYTES-XY\n")
    cases.append(("short JWT secret", {**base, "auth": {"jwt": {"hmac_secret_file": short_secret}}},
                  [r"auth\.jwt\.hmac_secret_file", r"short-secret", r"at least 32", r"^(?!.*SIXTEEN)"]))
    failures = []
    for name, content, patterns in cases:
        path = cfg_file(re.sub(r"\W+", "_", name), content)
        r = run(["--config", path])
        msg = r.stderr.strip()
        h.log(f"{name:28} exit {r.returncode}; stderr: {msg[:200]!r}")
        if r.returncode != 2:
            failures.append(f"{name}: exit status {r.returncode}, expected 2 (stderr {msg[:300]!r})")
            continue
        for pat in patterns:
            if not re.search(pat, msg, re.IGNORECASE):
                failures.append(f"{name}: stderr does not match /{pat}/: {msg[:300]!r}")
        if not msg:
            failures.append(f"{name}: exit 2 but nothing on stderr")

    # CLI flag with a bad value, on top of a valid config file.
    good = cfg_file("good", base)
    r = run(["--config", good, "-ring", "1000"])
    h.log(f"{'flag -ring 1000':28} exit {r.returncode}; stderr: {r.stderr.strip()[:200]!r}")
    if r.returncode != 2:
        failures.append(f"-ring 1000: exit status {r.returncode}, expected 2 (stderr {r.stderr.strip()[:300]!r})")
    elif "-ring" not in r.stderr:
        failures.append(f"-ring 1000: stderr does not name the flag `-ring`: {r.stderr.strip()[:300]!r}")

    # --check-config on the shipped example config.
    deploy_cfg = os.path.join(h.source_dir(), "deploy", "ringcast.json")
    if not os.path.exists(deploy_cfg):
        failures.append(f"{deploy_cfg} does not exist (the Makefile's `make run` uses it)")
    else:
        r = run(["--config", deploy_cfg, "--check-config"])
        h.log(f"{'--check-config deploy cfg':28} exit {r.returncode}; stdout {len(r.stdout)} B")
        if r.returncode != 0:
            failures.append(f"--check-config {deploy_cfg}: exit {r.returncode}, expected 0; stderr {r.stderr[:300]!r}")
        else:
            try:
                doc = json.loads(r.stdout)
            except ValueError as e:
                failures.append(f"--check-config: stdout is not JSON ({e}): {r.stdout[:300]!r}")
                doc = None

            def has_key(o, k):
                if isinstance(o, dict):
                    return k in o or any(has_key(v, k) for v in o.values())
                if isinstance(o, list):
                    return any(has_key(v, k) for v in o)
                return False
            if doc is not None and not has_key(doc, "ring"):
                failures.append(f"--check-config: printed JSON has no \"ring\" key: {r.stdout[:300]!r}")

    h.check(not h.port_accepts(port), f"something is listening on {port}: a bad config must not start a server")
    h.check(not failures, "bad-config handling:\n  " + "\n  ".join(failures))
    import shutil
    shutil.rmtree(tmp, ignore_errors=True)


if __name__ == "__main__":
    h.run_test(main, timeout=120)
