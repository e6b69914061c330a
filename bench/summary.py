"""The flat figures of ``latest.json``: throughput and CPU per event of each contestant, the ratios of one run, the
latency and recovery figures, and the verdicts of :mod:`bench.targets`; every detail stays under its step's name.

Runs from before a figure was recorded read as None (``n/a``): a run without CPU marks, a recovery that compared a
sample only (``keys_compared`` absent).
"""

from __future__ import annotations

from typing import Any

from bench.targets import verdicts

#: What a run recorded before it named its broker: every one of those ran on the embedded Tansu broker.
OLD_RUNS_BROKER = {"kind": "tansu", "label": "Tansu (embedded)", "version": "unknown"}
#: The account roll-up's two runs (step ``accounts``, ``bench/accounts_e2e.py``): b2b with and without ``account:``.
WITH, WITHOUT = "leadscore_accounts", "leadscore_without_accounts"
CONTESTANTS = (
    *("ceiling", "textbook", "peer", "leadscore", "leadscore_two_workers", "leadscore_json_source"),
    *(WITH, WITHOUT),
)
RECOVERY_FIGURES = (
    *("recovery_leads_per_s", "recovery_leads", "recovery_exact", "recovery_keys_compared"),
    *("bytes_per_lead", "rss_bytes_per_lead"),
)


def ratio(a: float | None, b: float | None) -> float | None:
    return round(a / b, 3) if a and b else None


def _eps(results: dict[str, Any], name: str) -> float | None:
    step = results.get("throughput", {}).get(name)
    return round(step["eps"]) if step else None


def _per_event_us(results: dict[str, Any], name: str, figure: str) -> float | None:
    """CPU µs per event of a contestant's processes (``cpu_s_per_event``) or the broker's, over its window."""
    cpu = (results.get("throughput", {}).get(name) or {}).get("cpu") or {}
    value = cpu.get(figure)
    return round(value * 1e6, 2) if value is not None else None


def _broker_net_us(results: dict[str, Any], name: str) -> float | None:
    """The broker's CPU µs per event over a contestant's window, less what it would have used idle that long."""
    cpu = (results.get("throughput", {}).get(name) or {}).get("cpu") or {}
    idle = (results.get("broker_idle") or {}).get("cpu_s_per_s")
    if idle is None or cpu.get("broker_cpu_s") is None or not cpu.get("events"):
        return None
    busy: float = cpu["broker_cpu_s"] - idle * cpu["seconds"]
    events: int = cpu["events"]
    return round(busy / events * 1e6, 2)


def _sum(a: float | None, b: float | None) -> float | None:
    return round(a + b, 2) if a is not None and b is not None else None


def cpu_figures(results: dict[str, Any]) -> dict[str, Any]:
    """CPU per event of each contestant and of the broker while it ran, and the CPU ratios of the targets."""
    own = {name: _per_event_us(results, name, "cpu_s_per_event") for name in CONTESTANTS}
    broker = {name: _per_event_us(results, name, "broker_cpu_s_per_event") for name in CONTESTANTS}
    net = {name: _broker_net_us(results, name) for name in CONTESTANTS}
    both = {name: _sum(own[name], net[name]) for name in CONTESTANTS}
    return {
        "cpu_us_per_event": own,
        "broker_cpu_us_per_event": broker,
        "broker_net_cpu_us_per_event": net,
        "cpu_with_broker_us_per_event": both,  # the contestant's own and what it made the broker do
        "cpu_with_broker_ratio_vs_peer": ratio(both["leadscore"], both["peer"]),
        "cpu_ratio_vs_peer": ratio(own["leadscore"], own["peer"]),
        "cpu_ratio_vs_textbook": ratio(own["leadscore"], own["textbook"]),
        "cpu_ratio_vs_ceiling": ratio(own["leadscore"], own["ceiling"]),
        "two_worker_cpu_ratio": ratio(own["leadscore_two_workers"], own["leadscore"]),
        # a declared JSON source (Segment track calls) against the native Avro input, same events, same run
        "json_source_cpu_ratio": ratio(own["leadscore_json_source"], own["leadscore"]),
        "json_source_cpu_with_broker_ratio": ratio(both["leadscore_json_source"], both["leadscore"]),
        "json_source_extra_cpu_us_per_event": _difference(own["leadscore_json_source"], own["leadscore"]),
    }


def _difference(a: float | None, b: float | None) -> float | None:
    return round(a - b, 2) if a is not None and b is not None else None


def account_figures(results: dict[str, Any]) -> dict[str, Any]:
    """The flat figures of ``latest.json``: each run's events/s, the accounts run's with the roll-up caught up, and
    the ratios to the run without accounts (None where a run is missing)."""
    steps = results.get("throughput", {})
    with_, without = steps.get(WITH), steps.get(WITHOUT)
    rolled = (with_ or {}).get("roll_up")
    eps = {key: round(step["eps"]) if step else None for key, step in ((WITH, with_), (WITHOUT, without))}
    rolled_eps = round(rolled["eps"]) if rolled else None
    own = {key: _us(step) for key, step in ((WITH, with_), (WITHOUT, without))}
    rolled_us = _us(rolled)
    return {
        "leadscore_accounts_eps": eps[WITH],
        "leadscore_without_accounts_eps": eps[WITHOUT],
        "leadscore_accounts_rolled_up_eps": rolled_eps,
        "accounts_ratio": ratio(eps[WITH], eps[WITHOUT]),
        "accounts_rolled_up_ratio": ratio(rolled_eps, eps[WITHOUT]),
        "accounts_cpu_us_per_event": own[WITH],
        "without_accounts_cpu_us_per_event": own[WITHOUT],
        "accounts_rolled_up_cpu_us_per_event": rolled_us,
        "accounts_cpu_ratio": ratio(own[WITH], own[WITHOUT]),
        "accounts_extra_cpu_us_per_event": _difference(own[WITH], own[WITHOUT]),
        "accounts_rolled_up_extra_cpu_us_per_event": _difference(rolled_us, own[WITHOUT]),
        "accounts_rolled_up_cpu_ratio": ratio(rolled_us, own[WITHOUT]),
    }


def _us(step: dict[str, Any] | None) -> float | None:
    value = ((step or {}).get("cpu") or {}).get("cpu_s_per_event")
    return None if value is None else round(value * 1e6, 2)


def _recovery(results: dict[str, Any]) -> dict[str, Any]:
    recoveries = [r for r in results.get("recovery", []) if r["leads"]]
    idle = next((r for r in results.get("recovery", []) if not r["leads"]), None)
    largest = max(recoveries, key=lambda r: r["leads"], default=None)
    if largest is None:
        return dict.fromkeys(RECOVERY_FIGURES)
    compared = largest.get("keys_compared", largest.get("checked_keys"))  # absent: a sample was compared
    return {
        "recovery_leads_per_s": largest["leads_per_s"],
        "recovery_leads": largest["leads"],
        "recovery_exact": all(r["exact"] for r in recoveries),
        "recovery_keys_compared": compared,
        "bytes_per_lead": round(largest["disk_bytes"] / largest["leads"]),
        "rss_bytes_per_lead": round((largest["rss_bytes"] - idle["rss_bytes"]) / largest["leads"]) if idle else None,
    }


def _added(worker: dict[str, float] | None, floor: dict[str, float] | None) -> float | None:
    """What the worker adds at p99: its emission p99 minus the floor's p99 on the same broker."""
    return round(worker["p99"] - floor["p99"], 2) if worker and floor else None


def summarise(results: dict[str, Any]) -> dict[str, Any]:
    """The flat figures of ``latest.json``, then every detail under its step's name."""
    ceiling, textbook, peer = _eps(results, "ceiling"), _eps(results, "textbook"), _eps(results, "peer")
    leadscore, two = _eps(results, "leadscore"), _eps(results, "leadscore_two_workers")
    json_source = _eps(results, "leadscore_json_source")
    latency = results.get("latency") or {}
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
        "leadscore_json_source_eps": json_source,
        "ratio_vs_ceiling": ratio(leadscore, ceiling),
        "ratio_vs_textbook": ratio(leadscore, textbook),
        "ratio_vs_peer": ratio(leadscore, peer),
        **cpu_figures(results),
        "latency_ms": latency.get("emission_ms"),
        "latency_received_ms": latency.get("received_ms"),
        "latency_rate_eps": latency.get("target_rate_eps"),
        "latency_floor_ms": floors or None,
        "latency_added_p99_ms": _added(latency.get("emission_ms"), floors.get(broker["kind"])),
        **_recovery(results),
        "two_worker_ratio": ratio(two, leadscore),
        "json_source_ratio": ratio(json_source, leadscore),
        "engine_eps": engine,
        "engine_over_worker": ratio(engine, leadscore),
        **account_figures(results),
    }
    summary["targets"] = verdicts(summary)
    return {**summary, **{key: value for key, value in results.items() if key not in summary}}
