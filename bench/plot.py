#!/usr/bin/python3
"""Draws bench/results/chart.png from the results.json bench/run.sh writes: ringcast against
the peers (uWebSockets, npm ws, Boost.Beast, Go gorilla/websocket), median runs.

    bench/plot.py bench/results/results.json bench/results/chart.png

Panels: deliveries/s in the max-rate scenarios; server CPU per delivery in every scenario
(log scale); server memory per idle connection (s3, s3lo). Needs python3-matplotlib.
"""
import json
import sys

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

ORDER = ["ringcast", "uws", "ws", "beast", "gorilla"]
TITLES = {"ringcast": "ringcast", "uws": "uWebSockets", "ws": "npm ws", "beast": "Boost.Beast",
          "gorilla": "gorilla/websocket"}
COLORS = {"ringcast": "#d62728", "uws": "#ff7f0e", "ws": "#1f77b4", "beast": "#2ca02c",
          "gorilla": "#9467bd"}


def bars(ax, rows, scenarios, value, ylabel, title, log=False, fmt="{:,.0f}"):
    servers = [s for s in ORDER if any(r["variant"] == s for r in rows)]
    width = 0.8 / max(1, len(servers))
    for i, s in enumerate(servers):
        xs, ys = [], []
        for k, sc in enumerate(scenarios):
            r = next((r for r in rows if r["scenario"] == sc and r["variant"] == s), None)
            v = value(r) if r else None
            if v is not None and v > 0:
                xs.append(k + (i - (len(servers) - 1) / 2) * width)
                ys.append(v)
        b = ax.bar(xs, ys, width, label=TITLES.get(s, s), color=COLORS.get(s))
        ax.bar_label(b, labels=[fmt.format(y) for y in ys], fontsize=6, rotation=90,
                     padding=2)
    ax.set_xticks(range(len(scenarios)), scenarios)
    ax.set_ylabel(ylabel)
    ax.set_title(title, fontsize=10)
    if log:
        ax.set_yscale("log")
    ax.margins(y=0.25)
    ax.grid(axis="y", alpha=0.3)


def main():
    if len(sys.argv) != 3:
        sys.exit("usage: plot.py RESULTS_JSON OUT_PNG")
    doc = json.load(open(sys.argv[1]))
    rows = [r for r in doc["summary"] if r.get("deliveries_per_sec") is not None]
    meta = doc["meta"]
    present = {r["scenario"] for r in rows}
    max_mode = [s for s in ["s1", "s1w16", "s2"] if s in present]
    all_peer = [s for s in ["s1", "s1w16", "s2", "s3", "s3lo"] if s in present]
    idle = [s for s in ["s3", "s3lo"] if s in present]
    panels = [p for p in (max_mode, all_peer, idle) if p]
    if not panels:
        sys.exit("plot.py: no scenario with results to draw")
    fig, axes = plt.subplots(1, len(panels), figsize=(5.2 * len(panels), 4.6), squeeze=False)
    axes = list(axes[0])
    ax_i = 0
    if max_mode:
        bars(axes[ax_i], rows, max_mode, lambda r: r["deliveries_per_sec"],
             "deliveries / s (log)", "Throughput, max rate (higher is better)", log=True)
        ax_i += 1
    if all_peer:
        bars(axes[ax_i], rows, all_peer, lambda r: r.get("us_per_delivery"),
             "server CPU µs / delivery (log)", "Server CPU per delivery (lower is better)",
             log=True, fmt="{:.2f}")
        ax_i += 1
    if idle:
        bars(axes[ax_i], rows, idle,
             lambda r: (r["rss_per_conn_bytes"] / 1024) if r.get("rss_per_conn_bytes") else None,
             "KiB", "Server RSS per idle connection (lower is better)", fmt="{:.1f}")
    axes[0].legend(fontsize=8, loc="upper right")
    fig.suptitle(f"ringcast vs peers — {meta['cpu_model']} ×{meta['cpus']}, server on CPU "
                 f"{meta['server_cpus']}, generator on CPU {meta['gen_cpus']}, median of "
                 f"{meta['repeat']}, {meta['date'][:10]}"
                 + (" (quick smoke run)" if meta.get("quick") else ""), fontsize=9)
    fig.tight_layout()
    fig.savefig(sys.argv[2], dpi=110)


if __name__ == "__main__":
    main()
