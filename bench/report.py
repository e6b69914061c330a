"""Assembles one run's figures: ``bench/results/latest.json``, ``report.md`` and the PNG plots beside them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.plots import write_plots

#: What a run recorded before it named its broker: every one of those ran on the embedded Tansu broker.
OLD_RUNS_BROKER = {"kind": "tansu", "label": "Tansu (embedded)", "version": "unknown"}

TARGETS = {  # issue 5: what the worker is judged on (key, comparison, threshold, label)
    "ratio_vs_peer": (">=", 1.0, "leadscore / peer"),
    "ratio_vs_ceiling": (">=", 0.5, "leadscore / ceiling"),
    "ratio_vs_textbook": (">=", 6.0, "leadscore / textbook"),
    "latency_p99_ms": ("<=", 100.0, "p99 latency at half max load (ms)"),
    "recovery_leads_per_s": (">=", 100_000, "recovery (leads/s, exact)"),
    "bytes_per_lead": ("<=", 1024, "on-disk bytes per lead"),
    "rss_bytes_per_lead": ("<=", 1024, "RSS bytes per lead"),
    "two_worker_ratio": (">=", 1.8, "two workers / one"),
    "engine_over_worker": (">=", 10.0, "engine alone / worker"),
}


def _ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a and b else None


def _eps(results: dict[str, Any], name: str) -> float | None:
    step = results.get("throughput", {}).get(name)
    return round(step["eps"]) if step else None


def summarise(results: dict[str, Any]) -> dict[str, Any]:
    """The flat figures of ``latest.json`` (issue 5, part 4), then every detail under its step's name."""
    ceiling, textbook, peer = _eps(results, "ceiling"), _eps(results, "textbook"), _eps(results, "peer")
    leadscore, two = _eps(results, "leadscore"), _eps(results, "leadscore_two_workers")
    latency = results.get("latency") or {}
    recoveries = [r for r in results.get("recovery", []) if r["leads"]]
    idle = next((r for r in results.get("recovery", []) if not r["leads"]), None)
    largest = max(recoveries, key=lambda r: r["leads"], default=None)
    engine = (results.get("engine") or {}).get("events_per_second_engine_only")
    broker = results.get("broker") or OLD_RUNS_BROKER
    floors = {kind: floor["received_ms"] for kind, floor in (results.get("latency_floor") or {}).items()}
    summary = {
        "broker": broker,
        "events": results["events"],
        "leads": results["leads"],
        "mode": results["mode"],
        "ceiling_eps": ceiling,
        "textbook_eps": textbook,
        "peer_eps": peer,
        "leadscore_eps": leadscore,
        "leadscore_two_workers_eps": two,
        "ratio_vs_ceiling": _ratio(leadscore, ceiling),
        "ratio_vs_textbook": _ratio(leadscore, textbook),
        "ratio_vs_peer": _ratio(leadscore, peer),
        "latency_ms": latency.get("emission_ms"),
        "latency_received_ms": latency.get("received_ms"),
        "latency_rate_eps": latency.get("target_rate_eps"),
        "latency_floor_ms": floors or None,
        "latency_added_p99_ms": _added(latency.get("emission_ms"), floors.get(broker["kind"])),
        "recovery_leads_per_s": largest["leads_per_s"] if largest else None,
        "recovery_leads": largest["leads"] if largest else None,
        "recovery_exact": all(r["exact"] for r in recoveries) if recoveries else None,
        "bytes_per_lead": round(largest["disk_bytes"] / largest["leads"]) if largest else None,
        "rss_bytes_per_lead": round((largest["rss_bytes"] - idle["rss_bytes"]) / largest["leads"])
        if largest and idle
        else None,
        "two_worker_ratio": _ratio(two, leadscore),
        "engine_eps": engine,
        "engine_over_worker": _ratio(engine, leadscore),
    }
    summary["targets"] = _targets(summary)
    return {**summary, **{key: value for key, value in results.items() if key not in summary}}


def _added(worker: dict[str, float] | None, floor: dict[str, float] | None) -> float | None:
    """What the worker adds at p99: its emission p99 minus the floor's p99 on the same broker."""
    return round(worker["p99"] - floor["p99"], 2) if worker and floor else None


def _targets(summary: dict[str, Any]) -> dict[str, Any]:
    values = {**summary, "latency_p99_ms": (summary["latency_ms"] or {}).get("p99")}
    verdicts = {}
    for key, (op, threshold, label) in TARGETS.items():
        value = values.get(key)
        met = None if value is None else (value >= threshold if op == ">=" else value <= threshold)
        verdicts[key] = {"label": label, "target": f"{op} {threshold:g}", "value": value, "met": met}
    return verdicts


def _load(meta: dict[str, Any], when: str) -> str:
    figures = meta.get(f"load_average_at_{when}")
    return ", ".join(f"{f:.2f}" for f in figures) if figures else "n/a"


def _fmt(value: Any) -> str:
    if value is None:
        return "n/a"
    if isinstance(value, float):
        return f"{value:,.3f}" if value < 10 else f"{value:,.0f}"
    return f"{value:,}" if isinstance(value, int) else str(value)


def _cpu(seconds: float | None) -> str:
    return "n/a" if seconds is None else f"{seconds:.1f}"


def _markdown(latest: dict[str, Any], plots: list[str]) -> str:
    meta = latest["meta"]
    lines = [
        "# leadscore benchmark (issue 5)",
        "",
        f"Run {meta['started']} on commit `{meta['commit']}`, mode **{latest['mode']}**: {latest['events']:,} "
        f"generated events over {latest['leads']:,} leads (b2b example model), broker **{latest['broker']['label']}**, "
        f"{meta['cpus']} CPUs shared by the broker and every process measured. "
        f"Load average at start {_load(meta, 'start')}, at end {_load(meta, 'end')} (1, 5, 15 min). "
        f"{meta['note'] + '. ' if meta['note'] else ''}Command: `{meta['command']}`.",
        "",
        "## Targets",
        "",
        "| figure | target | measured | met |",
        "|---|---|---|---|",
    ]
    for verdict in latest["targets"].values():
        met = {True: "yes", False: "**no**", None: "n/a"}[verdict["met"]]
        lines.append(f"| {verdict['label']} | {verdict['target']} | {_fmt(verdict['value'])} | {met} |")
    lines += ["", "## Throughput (same input topic, same events)", ""]
    lines += ["| contestant | events/s | seconds | output records | of which score changes | broker CPU (s) |"]
    lines += ["|---|---|---|---|---|---|"]
    labels = {
        "ceiling": "ceiling: aiokafka consume-decode-encode-produce",
        "textbook": "textbook: per-event Faust agent, RocksDB table",
        "peer": "peer: Quix Streams, State on RocksDB + changelog",
        "leadscore": "leadscore: the real worker, 1 process",
        "leadscore_two_workers": "leadscore: 2 worker processes, one group",
    }
    for key, label in labels.items():
        step = latest["throughput"].get(key)
        if step:
            outputs, changes = _fmt(step.get("outputs")), _fmt(step.get("score_changes"))
            cpu = _cpu(step.get("broker_cpu_s"))
            lines.append(f"| {label} | {step['eps']:,.0f} | {step['seconds']:.1f} | {outputs} | {changes} | {cpu} |")
    lines += [
        "",
        f"leadscore / ceiling = {_fmt(latest['ratio_vs_ceiling'])}, / textbook = {_fmt(latest['ratio_vs_textbook'])}, "
        f"/ peer = {_fmt(latest['ratio_vs_peer'])}; two workers / one = {_fmt(latest['two_worker_ratio'])} "
        "(the broker and both workers share the same cores, and each worker keeps a standby copy of the other's "
        "partitions, as deployed).",
        "",
        "Output records: textbook and peer count every record they emit (score changes, threshold crossings, "
        "latest scores); leadscore's score changes are its `leadscore_score_changes_total`. Broker CPU: user + "
        "system seconds the broker's process used during the step (start-up and group joins included), on the "
        "same cores as the contestant.",
    ]
    steps = latest["throughput"].items()
    emitted = {key: step["score_changes"] for key, step in steps if step.get("score_changes") is not None}
    if len(emitted) > 1:
        same = "the same number of" if len(set(emitted.values())) == 1 else "**different** numbers of"
        counts = ", ".join(f"{key} {value:,}" for key, value in emitted.items())
        lines += ["", f"Contestants that score emitted {same} score changes ({counts}): a check that they score alike."]
    latency = latest.get("latency")
    if latency:
        lines += [
            "",
            "## Latency at half the measured maximum",
            "",
            f"{latency['inputs']:,} events at {latency['achieved_rate_eps']:,} events/s "
            f"(target {latency['target_rate_eps']:,}) for {latency['seconds']} s to a fresh worker; "
            f"{latency['matched']:,} inputs changed a score and were matched by `cause_event_id`; the broker used "
            f"{_cpu(latency.get('broker_cpu_s'))} s of CPU meanwhile.",
            "",
            "| timestamps | p50 | p95 | p99 | max |",
            "|---|---|---|---|---|",
        ]
        for key, label in (
            ("emission_ms", "emission: output Kafka timestamp (set by the worker's producer) - input produce time"),
            ("received_ms", "received: benchmark consumer receive time - input produce time"),
            ("input_visible_ms", "input seen: benchmark consumer got the input - input produce time (worker running)"),
        ):
            f = latency[key]
            lines.append(f"| {label} | {f['p50']} | {f['p95']} | {f['p99']} | {f['max']} |")
        lines += _floor_lines(latest)
    if latest.get("recovery"):
        lines += [
            "",
            "## Recovery, memory and disk",
            "",
            "State written straight to the worker's changelog; a worker on an empty data directory; "
            "seconds from spawning it to `/readyz` 200 (Python start-up and group join included).",
            "",
            "| leads | seconds | leads/s | net leads/s | recovered | exact (sample) | RSS | RSS - idle per lead "
            "| disk per lead |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        idle = next((r for r in latest["recovery"] if not r["leads"]), None)
        for r in latest["recovery"]:
            per_rss = round((r["rss_bytes"] - idle["rss_bytes"]) / r["leads"]) if r["leads"] and idle else None
            per_disk = round(r["disk_bytes"] / r["leads"]) if r["leads"] else None
            net = round(r["leads"] / (r["seconds"] - idle["seconds"])) if r["leads"] and idle else None
            lines.append(
                f"| {r['leads']:,} | {r['seconds']} | {_fmt(r['leads_per_s'])} | {_fmt(net)} | "
                f"{_fmt(r['recovered'])} | "
                f"{r.get('sampled_exact', '')} | {r['rss_bytes'] / 2**20:,.0f} MiB | {_fmt(per_rss)} | "
                f"{_fmt(per_disk)} |"
            )
        lines += [
            "",
            "leads/s: leads over seconds from spawn to ready (the figure judged, `recovery_leads_per_s` is the largest "
            "size's); net leads/s: leads over (seconds - the idle worker's seconds), i.e. without start-up and join.",
        ]
        if latest.get("recovery_note"):
            lines += ["", latest["recovery_note"]]
    engine, codecs = latest.get("engine"), latest.get("codec")
    if engine:
        lines += [
            "",
            "## In-process",
            "",
            f"Scoring engine alone, one core: {engine['events_per_second_engine_only']:,} events/s "
            f"({engine['events_per_second_with_state_round_trip']:,} with the JSON state round trip per event); "
            f"{_fmt(latest['engine_over_worker'])}x the worker.",
        ]
    if codecs:
        lines += ["", "| Avro round trip (encode + decode) | bytes | fastavro (µs) | avro (µs) |", "|---|---|---|---|"]
        for name, c in codecs.items():
            lines.append(f"| {name} | {c['bytes']} | {c['fastavro_us']} | {c['avro_us']} |")
    if latest.get("errors"):
        lines += ["", "## Steps that failed", ""] + [f"- {e}" for e in latest["errors"]]
    lines += ["", "## Plots", ""] + [f"![{p}]({p})" for p in plots]
    if latest.get("profile"):
        flamegraph = latest["profile"]["flamegraph"]
        lines += [
            "",
            f"py-spy flame graph of the worker (a run of its own, {latest['profile']['seconds']:.0f} s): "
            f"[{flamegraph}]({flamegraph})",
        ]
    lines += ["", "## How each figure is measured", "", Path(__file__).with_name("METHOD.md").read_text()]
    return "\n".join(lines) + "\n"


def _floor_lines(latest: dict[str, Any]) -> list[str]:
    """The floor rows of the latency table (a plain consumer, no worker, each broker) and what the worker adds."""
    floors = latest.get("latency_floor") or {}
    lines = []
    for floor in floors.values():
        f, wait = floor["received_ms"], floor["fetch_max_wait_ms"]
        count = f"{floor['received']:,} of {floor['inputs']:,} at {floor['achieved_rate_eps']:,}/s"
        count += f", broker CPU {_cpu(floor.get('broker_cpu_s'))} s"
        label = (
            f"floor, no worker, **{floor['broker']}**: plain aiokafka consumer (fetch wait {wait} ms) got the input "
            f"- input produce time ({count})"
        )
        lines.append(f"| {label} | {f['p50']} | {f['p95']} | {f['p99']} | {f['max']} |")
    added, own = latest.get("latency_added_p99_ms"), floors.get(latest["broker"]["kind"])
    if added is not None and own is not None:
        worker, base = latest["latency"]["emission_ms"]["p99"], own["received_ms"]["p99"]
        lines += [
            "",
            f"What the worker adds at p99 on {own['broker']}: emission p99 {worker} - floor p99 {base} = "
            f"**{added} ms**. That floor ran on the latency step's broker after one warm-up pass, before the "
            "worker; any other on a fresh broker after one warm-up pass; each at the same rate, with the fetch wait "
            "a worker on that broker uses.",
        ]
    return lines


def write(results: dict[str, Any], out: Path) -> dict[str, Any]:
    out.mkdir(parents=True, exist_ok=True)
    latest = summarise(results)
    (out / "latest.json").write_text(json.dumps(latest, indent=2) + "\n")
    plots = write_plots(latest, out)
    (out / "report.md").write_text(_markdown(latest, plots))
    return latest


def main() -> None:
    """Render report.md and the plots again from a latest.json: ``python -m bench.report [PATH]``."""
    import sys

    path = Path(sys.argv[1]) if len(sys.argv) > 1 else Path(__file__).parent / "results" / "latest.json"
    latest = write(json.loads(path.read_text()), path.parent)
    print(f"written {path.parent / 'report.md'} ({len(latest['targets'])} targets)")


if __name__ == "__main__":
    main()
