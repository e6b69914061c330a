"""Assembles one run's figures: ``bench/results/latest.json``, ``report.md`` and the PNG plots beside them."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

from bench.accounts import lines as account_lines
from bench.plots import write_plots
from bench.report_throughput import fmt, seconds_text, target_lines, throughput_lines
from bench.summary import summarise

__all__ = ["main", "summarise", "write"]


def _load(meta: dict[str, Any], when: str) -> str:
    figures = meta.get(f"load_average_at_{when}")
    return ", ".join(f"{f:.2f}" for f in figures) if figures else "n/a"


def _markdown(latest: dict[str, Any], plots: list[str]) -> str:
    meta = latest["meta"]
    lines = [
        "# leadscore benchmark (issues 5 and 15)",
        "",
        f"Run {meta['started']} on commit `{meta['commit']}`, mode **{latest['mode']}**: {latest['events']:,} "
        f"generated events over {latest['leads']:,} leads (b2b example model without its `account:` section, as "
        f"every contestant scores it), broker **{latest['broker']['label']}**, "
        f"{meta['cpus']} CPUs shared by the broker and every process measured. "
        f"Load average at start {_load(meta, 'start')}, at end {_load(meta, 'end')} (1, 5, 15 min). "
        f"{meta['note'] + '. ' if meta['note'] else ''}Command: `{meta['command']}`.",
        "",
    ]
    lines += target_lines(latest)
    lines += ["", *throughput_lines(latest)]
    latency = latest.get("latency")
    if latency:
        lines += [
            "",
            "## Latency at half the measured maximum",
            "",
            f"{latency['inputs']:,} events at {latency['achieved_rate_eps']:,} events/s "
            f"(target {latency['target_rate_eps']:,}) for {latency['seconds']} s to a fresh worker; "
            f"{latency['matched']:,} inputs changed a score and were matched by `cause_event_id`; the broker used "
            f"{seconds_text(latency.get('broker_cpu_s'))} s of CPU meanwhile.",
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
            "| leads | seconds | leads/s | net leads/s | recovered | exact | keys compared | sample via API | RSS "
            "| RSS - idle per lead | disk per lead |",
            "|---|---|---|---|---|---|---|---|---|---|---|",
        ]
        idle = next((r for r in latest["recovery"] if not r["leads"]), None)
        for r in latest["recovery"]:
            per_rss = round((r["rss_bytes"] - idle["rss_bytes"]) / r["leads"]) if r["leads"] and idle else None
            per_disk = round(r["disk_bytes"] / r["leads"]) if r["leads"] else None
            net = round(r["leads"] / (r["seconds"] - idle["seconds"])) if r["leads"] and idle else None
            lines.append(
                f"| {r['leads']:,} | {r['seconds']} | {fmt(r['leads_per_s'])} | {fmt(net)} | "
                f"{fmt(r['recovered'])} | {'yes' if r['exact'] else '**no**'} | {fmt(_compared(r))} | "
                f"{r.get('sampled_exact', '')} | {r['rss_bytes'] / 2**20:,.0f} MiB | {fmt(per_rss)} | "
                f"{fmt(per_disk)} |"
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
            f"Scoring engine alone, one core, per CPU second: {fmt(engine.get('events_per_second_engine_only'))}"
            f" events/s on one live state per lead ({fmt(engine.get('events_per_second_as_the_worker_asks'))} with"
            " the due time and the lead-scores snapshot the worker asks for per event,"
            f" {fmt(engine.get('events_per_second_with_state_round_trip'))} with a state format 2 round trip per"
            f" event); {fmt(latest['engine_over_worker'])}x the worker.",
        ]
    lines += features_lines(latest.get("features"))
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


def features_lines(costs: dict[str, Any] | None) -> list[str]:
    """The cost of each model feature of issue 17 (``bench/features.py``): the worker's per-event path in-process."""
    if not costs:
        return []
    lines = [
        "",
        f"Model features, the worker's per-event path in-process ({fmt(costs['events'])} events, median of"
        f" {costs['rounds']} interleaved rounds; `python -m bench.features`):",
        "",
        "| variant | events per CPU second | CPU µs per event | cost µs per event | CPU ratio |",
        "|---|---|---|---|---|",
    ]
    for name, row in costs["variants"].items():
        eps = fmt(row["events_per_cpu_second"]) if "events_per_cpu_second" in row else "-"
        us = row.get("cpu_us_per_event", "-")
        lines.append(f"| {name} | {eps} | {us} | {row['cost_us_per_event']} | {row['cpu_ratio']} |")
    lines.append(f"\nThe path to SQL: {costs['path_us_per_query']} µs per query (per API call, not per event).")
    return lines + account_lines(costs.get("accounts"))


def _compared(recovery: dict[str, Any]) -> int | None:
    """Keys compared with what was written (every key: the leads); absent from runs that compared a sample only."""
    compared: int | None = recovery.get("keys_compared", recovery.get("checked_keys"))
    return compared


def _floor_lines(latest: dict[str, Any]) -> list[str]:
    """The floor rows of the latency table (a plain consumer, no worker, each broker) and what the worker adds."""
    floors = latest.get("latency_floor") or {}
    lines = []
    for floor in floors.values():
        f, wait = floor["received_ms"], floor["fetch_max_wait_ms"]
        count = f"{floor['received']:,} of {floor['inputs']:,} at {floor['achieved_rate_eps']:,}/s"
        count += f", broker CPU {seconds_text(floor.get('broker_cpu_s'))} s"
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
