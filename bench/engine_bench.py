"""Benchmark of the scoring engine alone, in-process, on one core: events scored per second and bytes per lead.

Run with ``make bench`` (or ``python -m bench.engine_bench --help``). Writes bench/results/engine.json.
Three figures: the engine alone (one live state per lead, changed in place: ``Engine.score_event``, as the worker
scores); the engine with what the worker asks of it per event besides (``next_due``, and the ``lead-scores``
snapshot when a score moved); and the engine with the state round trip of a store read per event (state format
2, decoded before and encoded after every event: the worker's cost on a cache miss).
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

from bench.model import lead_model
from scoring import Engine, LeadState
from streams.datasets.synthetic import JourneyGenerator
from streams.worker.stored import StoredLead, decode_stored, encode_stored

RESULTS = Path(__file__).parent / "results"


def run(events: int, leads: int, seed: int) -> dict[str, object]:
    engine = Engine([lead_model()])
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
    started = time.process_time()
    for event in stream:
        states[event.lead_id] = engine.score_event(states.get(event.lead_id), event).state
    engine_only = len(stream) / (time.process_time() - started)

    worker_states: dict[str, LeadState] = {}
    gc.collect()
    started = time.process_time()
    for event in stream:
        update = engine.score_event(worker_states.get(event.lead_id), event)
        state = worker_states[event.lead_id] = update.state
        at_ms = max((model.levels_at_ms for model in state.models.values()), default=0)
        engine.next_due(state, at_ms, update.scores)
        if update.changes or update.crossings:
            engine.snapshot(state, at_ms, 0, update.scores)
    as_worker = len(stream) / (time.process_time() - started)

    stored: dict[str, bytes] = {}
    gc.collect()
    started = time.process_time()
    for event in stream:
        raw = stored.get(event.lead_id)
        update = engine.score_event(decode_stored(raw).state if raw is not None else None, event)
        stored[event.lead_id] = encode_stored(StoredLead(0, None, update.state))
    with_round_trip = len(stream) / (time.process_time() - started)

    sizes = sorted(len(value) for value in stored.values())
    per_lead_events = statistics.median(
        sum(model.events_scored for model in state.models.values()) for state in states.values()
    )
    return {
        "benchmark": "engine",
        "model": "b2b (example)",
        "events": len(stream),
        "leads": len(states),
        "events_per_second_engine_only": round(engine_only),
        "events_per_second_as_the_worker_asks": round(as_worker),
        "events_per_second_with_state_round_trip": round(with_round_trip),
        "clock": "CPU seconds of this process (time.process_time)",
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
