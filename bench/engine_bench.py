"""Benchmark of the scoring engine alone, in-process, on one core: events scored per second and bytes per lead.

Run with ``make bench`` (or ``python -m bench.engine_bench --help``). Writes bench/results/engine.json.
Two figures: the engine alone (states kept as objects), and the engine with the state round trip the worker does
per event (plain data in, plain data out, JSON as in the changelog).
"""

from __future__ import annotations

import argparse
import gc
import json
import platform
import statistics
import time
from pathlib import Path

from rich.console import Console
from rich.progress import track
from rich.table import Table

from scoring import Engine, LeadState, example_model_path, load_model
from streams.datasets.synthetic import JourneyGenerator

RESULTS = Path(__file__).parent / "results"


def run(events: int, leads: int, seed: int) -> dict[str, object]:
    engine = Engine([load_model(example_model_path("b2b"))])
    stream = list(
        track(
            JourneyGenerator(leads, seed=seed, mean_gap_ms=2000).events(events),
            total=events,
            description="generating",
            transient=True,
        )
    )

    gc.collect()
    gc.freeze()  # the generated events are long-lived: keep the collector from rescanning them
    states: dict[str, LeadState] = {}
    started = time.perf_counter()
    for event in stream:
        states[event.lead_id] = engine.apply_event(states.get(event.lead_id), event).state
    engine_only = len(stream) / (time.perf_counter() - started)

    stored: dict[str, str] = {}
    gc.collect()
    started = time.perf_counter()
    for event in stream:
        raw = stored.get(event.lead_id)
        state = LeadState.from_dict(json.loads(raw)) if raw is not None else None
        update = engine.apply_event(state, event)
        stored[event.lead_id] = json.dumps(update.state.to_dict(), separators=(",", ":"))
    with_round_trip = len(stream) / (time.perf_counter() - started)

    sizes = sorted(len(value.encode()) for value in stored.values())
    per_lead_events = statistics.median(
        sum(model.events_scored for model in state.models.values()) for state in states.values()
    )
    return {
        "benchmark": "engine",
        "model": "b2b (example)",
        "events": len(stream),
        "leads": len(states),
        "events_per_second_engine_only": round(engine_only),
        "events_per_second_with_state_round_trip": round(with_round_trip),
        "state_bytes_per_lead_median": statistics.median(sizes),
        "state_bytes_per_lead_p95": sizes[int(0.95 * (len(sizes) - 1))],
        "state_bytes_per_lead_max": sizes[-1],
        "events_per_lead_median": per_lead_events,
        "python": platform.python_version(),
        "machine": platform.machine(),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=200_000, help="events to score (default 200,000)")
    parser.add_argument("--leads", type=int, default=100_000, help="distinct leads (default 100,000)")
    parser.add_argument("--seed", type=int, default=1)
    args = parser.parse_args()
    result = run(args.events, args.leads, args.seed)
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "engine.json").write_text(json.dumps(result, indent=2) + "\n")
    table = Table(title="scoring engine, one core")
    table.add_column("figure")
    table.add_column("value", justify="right")
    for key, value in result.items():
        table.add_row(key, f"{value:,}" if isinstance(value, int | float) else str(value))
    Console().print(table)
    Console().print(f"written to {RESULTS / 'engine.json'}")


if __name__ == "__main__":
    main()
