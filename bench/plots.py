"""The PNG plots beside ``report.md``: throughput, latency (with the floor on each broker), recovery."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt

CURVE_X = [*range(1, 100), 99.9, 100]  # bench.latency.CURVE_POINTS


def write_plots(latest: dict[str, Any], out: Path) -> list[str]:
    """Writes what the figures allow; returns the file names written."""
    made = []
    for name, plot in (("throughput.png", _throughput), ("latency.png", _latency), ("recovery.png", _recovery)):
        if plot(latest, out / name):
            made.append(name)
    return made


NAMES = [
    ("textbook", "textbook\n(Faust per event)"),
    ("peer", "peer\n(Quix Streams)"),
    ("leadscore", "leadscore\n(1 worker)"),
    ("leadscore_json_source", "leadscore\n(JSON source)"),
    ("leadscore_two_workers", "leadscore\n(2 workers)"),
]
COLOURS = {
    "textbook": "#999",
    "peer": "#6a9fd4",
    "leadscore": "#e07b39",
    "leadscore_json_source": "#f2b27f",
    "leadscore_two_workers": "#c0504d",
}


def _throughput(latest: dict[str, Any], path: Path) -> bool:
    """Events/s of each contestant (left) and its CPU µs per event, the broker's on top (right)."""
    shown = [(key, label) for key, label in NAMES if latest["throughput"].get(key)]
    if not shown:
        return False
    figure, (left, right) = plt.subplots(1, 2, figsize=(13, 4.5))
    labels, colours = [label for _, label in shown], [COLOURS[key] for key, _ in shown]
    eps = [latest["throughput"][key]["eps"] for key, _ in shown]
    left.bar(labels, eps, color=colours)
    for n, value in enumerate(eps):
        left.annotate(f"{value:,.0f}", (n, value), ha="center", va="bottom")
    if latest.get("ceiling_eps"):
        left.axhline(latest["ceiling_eps"], color="black", linestyle="--", label="ceiling: aiokafka pass-through")
        left.legend(loc="upper left")
    left.set_ylabel("events/s")
    left.set_title("events/s (wall time: moves with the machine's load)")
    own = [(latest.get("cpu_us_per_event") or {}).get(key) or 0.0 for key, _ in shown]
    broker = [(latest.get("broker_cpu_us_per_event") or {}).get(key) or 0.0 for key, _ in shown]
    right.bar(labels, own, color=colours)
    right.bar(labels, broker, bottom=own, color="#ddd", label="the broker's, on top")
    ceiling = (latest.get("cpu_us_per_event") or {}).get("ceiling")
    if ceiling:
        right.axhline(ceiling, color="black", linestyle="--", label="ceiling's own")
    for n, value in enumerate(own):
        right.annotate(f"{value:,.0f}", (n, value), ha="center", va="bottom")
    right.set_ylabel("CPU µs per event")
    right.set_title("CPU per event, same window (lower is better)")
    right.legend(loc="upper right")
    figure.suptitle(f"Throughput, {latest['events']:,} events, same input topic, {latest['broker']['label']}")
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return True


def _latency(latest: dict[str, Any], path: Path) -> bool:
    latency = latest.get("latency")
    if not latency:
        return False
    figure, (left, right) = plt.subplots(1, 2, figsize=(12, 4.5))
    labels = {
        "emission": "emission: output Kafka timestamp - input produce time",
        "received": "received: benchmark consumer got the output",
        "input_visible": "input seen by the benchmark consumer (worker running)",
    }
    for key, label in labels.items():
        if latency["curves_ms"].get(key):
            left.plot(CURVE_X, latency["curves_ms"][key], label=label)
    for floor in (latest.get("latency_floor") or {}).values():
        label = f"floor, no worker: plain consumer on {floor['broker']}"
        left.plot(CURVE_X, floor["curve_ms"], linestyle=":", label=label)
    left.axhline(100, color="red", linestyle="--", label="target p99 100 ms")
    f = latency["emission_ms"]
    left.set_title(f"percentiles (emission p50 {f['p50']:.0f}, p99 {f['p99']:.0f}, max {f['max']:.0f} ms)")
    left.set_yscale("log")
    left.set_xlabel("percentile")
    left.set_ylabel("ms (log)")
    left.legend(loc="upper left", fontsize=7)
    if latency.get("over_time"):
        right.scatter([p[0] for p in latency["over_time"]], [p[1] for p in latency["over_time"]], s=4)
        right.set_title("emission latency by send time (a rising trend: the worker falls behind)")
        right.set_xlabel("seconds since the first input")
        right.set_ylabel("ms")
    figure.suptitle(
        f"End-to-end latency at {latency['target_rate_eps']:,} events/s (half the measured maximum), "
        f"{latest['broker']['label']}"
    )
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return True


def _recovery(latest: dict[str, Any], path: Path) -> bool:
    recoveries = [r for r in latest.get("recovery", []) if r["leads"]]
    if not recoveries:
        return False
    figure, (left, right) = plt.subplots(1, 2, figsize=(9, 4))
    sizes = [f"{r['leads']:,}" for r in recoveries]
    left.bar(sizes, [r["seconds"] for r in recoveries], color="#6a9fd4")
    left.set_title("start -> ready (s)")
    right.bar(sizes, [r["leads_per_s"] for r in recoveries], color="#e07b39")
    right.axhline(100_000, color="red", linestyle="--", label="target 100,000 leads/s")
    right.set_title("recovery rate (leads/s)")
    right.legend(loc="upper left")
    for axes in (left, right):
        axes.set_xlabel("leads in the changelog")
    figure.suptitle(latest["broker"]["label"])
    figure.tight_layout()
    figure.savefig(path, dpi=110)
    plt.close(figure)
    return True
