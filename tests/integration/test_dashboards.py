#!/usr/bin/python3
"""deploy/grafana/ringcast.json and deploy/prometheus/ringcast-rules.yml name only what the real
binary exports.

  * the rules parse (python3-yaml) as Prometheus rule groups: every rule has a unique alert
    name, an expression, a severity, a summary and a description, `for` is a duration; the
    alerts the operator needs are there (a worker restarting in a loop, slow-client closes
    rising, the bridge disconnected, the bridge lagging, rings full);
  * the dashboard parses as a Grafana dashboard: unique panel ids, every query on the
    `datasource` variable (no data source uid of one installation), the instance variable
    over a ringcast metric;
  * every metric name in every expression, and every label matched in a selector (but the
    instance and job labels Prometheus adds), exists in a live /metrics of ringcast started
    with the bridge on a Redis of the test's own (the bridge's families appear only then);
  * the name extractor is shown, on expressions of known content, to find what it must.

`promtool check rules` runs too when promtool is installed (it is not a dependency).
"""
import json
import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import ringcast_harness as h  # noqa: E402

REQUIRED_ALERTS = ["RingcastWorkerRestartLoop", "RingcastSlowClientClosesRising", "RingcastBridgeDisconnected",
                   "RingcastBridgeLagging", "RingcastRingFull"]
# Words of PromQL that are not metric names where they stand without a "(" after them.
KEYWORDS = {"by", "without", "on", "ignoring", "group_left", "group_right", "bool", "and", "or", "unless",
            "offset", "inf", "nan"}
ADDED_BY_PROMETHEUS = {"instance", "job"}
NAME = r"[a-zA-Z_:][a-zA-Z0-9_:]*"
DURATION = re.compile(r"^(\d+(ms|s|m|h|d|w|y))+$")


def strip_strings(expr):
    return re.sub(r'"(?:[^"\\]|\\.)*"|\'(?:[^\'\\]|\\.)*\'', '""', expr)


def selectors(expr):
    """{metric: {label names matched}} of the selectors `metric{...}` in an expression."""
    out = {}
    for m in re.finditer(rf"({NAME})\s*\{{([^}}]*)\}}", strip_strings(expr)):
        labels = set(re.findall(r"([a-zA-Z_][a-zA-Z0-9_]*)\s*(?:=~|!~|!=|=)", m.group(2)))
        out.setdefault(m.group(1), set()).update(labels)
    return out


def metric_names(expr):
    """Every metric name an expression (PromQL, Grafana variables allowed) reads."""
    s = strip_strings(expr)
    s = re.sub(r"\[[^\]]*\]", " ", s)                       # ranges, subqueries: [5m], [$__rate_interval]
    s = re.sub(r"\$\{?\w+\}?", " ", s)                       # Grafana variables outside strings
    s = re.sub(r"\b(by|without|on|ignoring|group_left|group_right)\s*\([^)]*\)", " ", s)  # label lists
    s = re.sub(r"\{[^}]*\}", " ", s)                         # label matchers
    s = re.sub(r"\b\d[\w.]*", " ", s)                        # numbers and durations (1e3, 10m)
    names = set()
    for m in re.finditer(NAME, s):
        if s[m.end():].lstrip().startswith("(") or m.group(0) in KEYWORDS:
            continue  # a function or an aggregation
        names.add(m.group(0))
    return names


def check_extractor():
    e = ('sum by (worker, code) (rate(ringcast_a_total{code="1002",worker=~"$w"}[5m] offset 1h)) / on (instance) '
         'group_left ringcast_b > bool 0.5 and max without (shard) (ringcast_c{x!="a,b}"}) * 1e3 '
         'unless histogram_quantile(0.9, ringcast_d_bucket[$__rate_interval])')
    got = metric_names(e)
    want = {"ringcast_a_total", "ringcast_b", "ringcast_c", "ringcast_d_bucket"}
    h.check(got == want, f"metric_names self-test: got {sorted(got)}, want {sorted(want)}")
    got = selectors(e)
    h.check(got == {"ringcast_a_total": {"code", "worker"}, "ringcast_c": {"x"}}, f"selectors self-test: {got}")


def load_rules(path):
    import yaml  # Debian's python3-yaml
    with open(path) as f:
        doc = yaml.safe_load(f)
    h.check(isinstance(doc, dict) and isinstance(doc.get("groups"), list) and doc["groups"],
            f"{path}: no rule groups")
    exprs, alerts = {}, []
    for g in doc["groups"]:
        h.check(isinstance(g.get("name"), str) and isinstance(g.get("rules"), list), f"{path}: bad group {g}")
        for r in g["rules"]:
            what = f"{path}: rule {r.get('alert') or r.get('record')}"
            h.check(isinstance(r.get("alert"), str) and isinstance(r.get("expr"), str), f"{what}: needs alert and expr")
            h.check(r["alert"] not in alerts, f"{what}: alert name used twice")
            h.check(set(r) <= {"alert", "expr", "for", "labels", "annotations", "keep_firing_for"},
                    f"{what}: unknown keys {set(r)}")
            h.check("for" not in r or DURATION.match(str(r["for"])), f"{what}: `for` {r.get('for')!r} is no duration")
            h.check(r.get("labels", {}).get("severity") in ("warning", "critical"), f"{what}: severity warning|critical")
            ann = r.get("annotations", {})
            h.check(ann.get("summary") and ann.get("description"), f"{what}: needs a summary and a description")
            alerts.append(r["alert"])
            exprs[f"alert {r['alert']}"] = r["expr"]
    missing = [a for a in REQUIRED_ALERTS if a not in alerts]
    h.check(not missing, f"{path}: missing alerts {missing}")
    return exprs, alerts


def load_dashboard(path):
    with open(path) as f:
        dash = json.load(f)
    h.check(dash.get("title") and dash.get("uid") and isinstance(dash.get("panels"), list), f"{path}: not a dashboard")
    variables = {v["name"]: v for v in dash.get("templating", {}).get("list", [])}
    h.check(variables.get("datasource", {}).get("type") == "datasource", f"{path}: no `datasource` variable")
    exprs, ids = {}, set()

    def walk(panels):
        for p in panels:
            h.check(p.get("id") not in ids, f"{path}: panel id {p.get('id')} used twice")
            ids.add(p.get("id"))
            h.check(p.get("title") and p.get("gridPos"), f"{path}: panel {p.get('id')} without a title or place")
            if p.get("type") != "row":
                h.check(p.get("targets"), f"{path}: panel {p['title']!r} has no query")
            for t in p.get("targets", []):
                h.check(t.get("datasource", p.get("datasource", {})).get("uid") == "${datasource}",
                        f"{path}: panel {p['title']!r} is tied to one data source: {t.get('datasource')}")
                exprs[f"panel {p['title']!r} {t['refId']}"] = t["expr"]
            walk(p.get("panels", []))
    walk(dash["panels"])
    for name, v in variables.items():
        if v.get("type") == "query":
            q = v["query"]["query"] if isinstance(v["query"], dict) else v["query"]
            m = re.fullmatch(rf"label_values\(\s*({NAME})\s*,\s*(\w+)\s*\)", q)
            h.check(m is not None, f"{path}: variable {name}: query {q!r} is not label_values(metric, label)")
            exprs[f"variable {name}"] = m.group(1)
    return exprs, len(ids)


def live_metrics(text):
    """{sample name: set of label names} of a /metrics exposition."""
    from prometheus_client.parser import text_string_to_metric_families
    out = {}
    for fam in text_string_to_metric_families(text):
        for s in fam.samples:
            out.setdefault(s.name, set()).update(s.labels)
    return out


async def main():
    check_extractor()
    src = h.source_dir()
    rules_path = os.path.join(src, "deploy", "prometheus", "ringcast-rules.yml")
    dash_path = os.path.join(src, "deploy", "grafana", "ringcast.json")
    rule_exprs, alerts = load_rules(rules_path)
    dash_exprs, n_panels = load_dashboard(dash_path)
    h.log(f"rules: {len(alerts)} alerts ({', '.join(alerts)}); dashboard: {n_panels} panels, {len(dash_exprs)} queries")
    promtool = shutil.which("promtool")
    if promtool:
        r = subprocess.run([promtool, "check", "rules", rules_path], capture_output=True, text=True, timeout=60)
        h.check(r.returncode == 0, f"promtool check rules: {r.stdout}{r.stderr}")
        h.log("promtool check rules: ok")
    else:
        h.log("promtool not installed: syntax checked by this test only")

    redis = h.RedisServer("redis-dashboards").start()
    try:
        mport = h.free_port()
        overrides = h.bridge_overrides(redis.address, "dash-node", "ringcast-dash")
        overrides["metrics_listen"] = f"127.0.0.1:{mport}"
        srv = h.Server("dashboards", overrides=overrides, worker_processes=2, shards=2).start()
        await h.wait_bridge_connected(srv)
        status, _, body = await h.ahttp_request(mport, "/metrics")
        h.check(status == 200, f"/metrics: {status}")
        live = live_metrics(body.decode())
        h.check(any(n.startswith("ringcast_bridge_") for n in live), "no bridge metrics with the bridge enabled")
        problems, used = [], set()
        for where, expr in {**rule_exprs, **dash_exprs}.items():
            names = metric_names(expr)
            if not names:
                problems.append(f"{where}: reads no metric: {expr}")
            for name in sorted(names):
                used.add(name)
                if name not in live:
                    problems.append(f"{where}: {name} is not in /metrics")
            for name, labels in selectors(expr).items():
                unknown = labels - live.get(name, set()) - ADDED_BY_PROMETHEUS
                if name in live and unknown:
                    problems.append(f"{where}: {name} has no label {sorted(unknown)}")
        h.check(not problems, "the dashboard and rules name what /metrics does not have:\n  " + "\n  ".join(problems))
        unused = sorted(n for n in live if n not in used and not n.endswith("_created"))
        h.log(f"every one of the {len(used)} metric names used exists in a live /metrics ({len(live)} names); "
              f"not shown anywhere: {unused}")
        srv.stop()
    finally:
        redis.cleanup()


if __name__ == "__main__":
    h.run_test(main, timeout=60)
