"""What each of issue 17's model features costs: the worker's per-event path in-process, with and without it.

The same generated events (``JourneyGenerator``, as the throughput steps produce them), encoded as the
``lead-events`` messages the worker reads, go through ``Processor.process_event`` (decode, score in place on one
live state per lead, next due time, encode every output: changes, crossings, the ``lead-scores`` snapshot with
its drop times, route requests) under the b2b model and under the b2b model plus one feature (``VARIANTS``: each
an overlay of model-file sections; ``accounts``: b2b with its ``account:`` section, and the roll-up's own passes
in :mod:`bench.accounts`). CPU seconds per event (``time.process_time``), rounds interleaved so that
every variant sees the same machine; the median of the rounds. In-process on purpose: a feature's cost is a few
microseconds per event, far below what a run through the broker can resolve (ADR 032's noise); the throughput
steps give the end-to-end figure. Run alone: ``python -m bench.features`` (``make bench`` runs it as ``features``).
"""

from __future__ import annotations

import argparse
import gc
import json
import statistics
import time
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from bench.accounts import b2b_account_section
from bench.accounts import lines as account_lines
from bench.accounts import run as accounts_cost
from bench.common import RESULTS, SEED, codec
from bench.model import lead_model_raw
from scoring import Engine, parse_model
from scoring.model.compile import ScoringModel
from scoring.path import paths_to
from scoring.routing import LeadRouting, RouteState, decode_request, route
from streams.datasets.synthetic import JourneyGenerator
from streams.kafka.partitioner import lead_partition
from streams.worker.metrics import Metrics
from streams.worker.processor import Message, Processor
from streams.worker.stored import StoredLead

PARTITIONS = 4
TOPIC = "lead-events"

#: Each feature as the model-file sections it adds to the b2b model (the README's examples). The generated events
#: have no sends, user agents or bursts: the filters do all their bookkeeping and ignore nothing, so the figure is
#: what they cost, not what they save.
VARIANTS: Mapping[str, Mapping[str, Any]] = {
    "filters": {
        "filters": {
            "scanner_clicks": {
                "events": ["email_click"],
                "within": "30s",
                "send_event": "email_sent",
                "match": "campaign",
            },
            "bursts": {"max_events": 5, "per": "1s"},
            "user_agents": {"property": "user_agent", "match": ["bot", "crawler", "headless"]},
        }
    },
    "trend": {"trend": {"window": "7d", "baseline": "28d", "bucket": "1d", "min_points": 30}},
    "routing": {
        "routing": [
            {
                "id": "grade-a-b",
                "level": "MQL",
                "when": {"field": "grade", "in": ["A", "B"]},
                "owners": [{"id": "anna", "weight": 2}, {"id": "ben"}],
                "assign": "weighted",
                "capacity": {"leads": 500, "per": "7d"},
            },
            {"id": "fallback", "level": "MQL", "owners": [{"id": "inside-sales"}]},
        ]
    },
}


def model(overlay: Mapping[str, Any]) -> ScoringModel:
    """The b2b example model without its ``account:`` section (the figures stay those of a lead model), with
    ``overlay``'s sections added (or replaced): ``{"account": b2b_account_section()}`` puts it back."""
    raw = {**lead_model_raw(), **overlay}  # bench/model.py: the contestants' model
    return parse_model(raw, source=f"b2b.yaml+{'+'.join(overlay) or 'nothing'}")


def messages(events: int, leads: int) -> list[Message]:
    """The generated events as the worker's input messages, each on its lead's partition."""
    avro = codec()
    out = []
    for offset, event in enumerate(JourneyGenerator(leads, seed=SEED, mean_gap_ms=2000).events(events)):
        key = event.lead_id.encode()
        out.append(Message(TOPIC, lead_partition(event.lead_id, PARTITIONS), offset, key, avro.encode_event(event)))
    return out


class WithoutDrops(Engine):
    """The engine with no time to drop in its snapshots: the figure without that feature (it has no switch)."""

    @staticmethod
    def _drops(*_: object) -> tuple[tuple[str, int | None], ...]:
        return ()


def one_pass(processor: Processor, inputs: list[Message], requests: list[bytes] | None = None) -> float:
    """CPU seconds for the whole input, every lead starting empty; states kept live between its events.
    ``requests``: where to keep the route requests the input made."""
    states: dict[str, StoredLead] = {}
    load: Callable[[str], StoredLead | None] = states.get
    gc.collect()
    gc.disable()  # a full collection lands in whichever pass crosses its threshold: not a variant's cost
    try:
        started = time.process_time()
        for message in inputs:
            result = processor.process_event(message, load)
            if result.state is not None:
                states[result.lead_id] = result.state
            if requests is not None:
                requests += result.route_requests
        return time.process_time() - started
    finally:
        gc.enable()


def routing_agent_pass(model: ScoringModel, requests: list[bytes]) -> float:
    """CPU seconds of the routing agent's work on ``requests`` (ADR 039): decode, decide, encode the LeadRouted."""
    avro = codec()
    states: dict[str, RouteState] = {}
    leads: dict[str, LeadRouting] = {}
    started = time.process_time()
    for data in requests:
        request = decode_request(data)
        routed = route(model, states, leads.get(request.lead_id), request)
        states.update(routed.states)
        if routed.lead is not None:
            leads[request.lead_id] = routed.lead
        if routed.decision is not None and routed.decision.owner_id is not None:
            avro.encode_routed(routed.decision)
    return time.process_time() - started


def run(events: int, leads: int, rounds: int) -> dict[str, Any]:
    inputs = messages(events, leads)
    processors = {
        name: Processor(Engine([model(overlay)]), codec(), Metrics(), PARTITIONS, "rerouted")
        for name, overlay in {"b2b": {}, **VARIANTS}.items()
    }
    processors["accounts"] = Processor(  # the worker's lead side with the account section (ADR 041)
        Engine([model({"account": b2b_account_section()})]), codec(), Metrics(), PARTITIONS, "rerouted"
    )
    processors["no-drops"] = Processor(WithoutDrops([model({})]), codec(), Metrics(), PARTITIONS, "rerouted")
    processors["no-moves"] = Processor(Engine([model({})]), codec(), Metrics(), PARTITIONS, "rerouted", moves_kept=0)
    seconds: dict[str, list[float]] = {name: [] for name in processors}
    agent: list[float] = []
    requests: list[bytes] = []
    for _ in range(rounds):
        for name, processor in processors.items():
            if name == "routing":
                requests.clear()
                seconds[name].append(one_pass(processor, inputs, requests))
                agent.append(routing_agent_pass(processors[name].engine.models[0], requests))
            else:
                seconds[name].append(one_pass(processor, inputs))
    seconds["routing+agent"] = [a + b for a, b in zip(seconds["routing"], agent, strict=True)]
    base = statistics.median(seconds["b2b"])
    figures = {}
    for name, measured in seconds.items():
        median = statistics.median(measured)
        figures[name] = {
            "cpu_us_per_event": round(median / events * 1e6, 2),
            "events_per_cpu_second": round(events / median),
            "cost_us_per_event": round((median - base) / events * 1e6, 2),
            "cpu_ratio": round(median / base, 3),
        }
    figures["drops"] = {  # the time to drop is always on: its cost is b2b's figure against no-drops'
        "cost_us_per_event": round((base - statistics.median(seconds["no-drops"])) / events * 1e6, 2),
        "cpu_ratio": round(base / statistics.median(seconds["no-drops"]), 3),
    }
    figures["moves"] = {  # kept for the lead page by default (LEADSCORE_PAGE_MOVES=24): b2b against no-moves
        "cost_us_per_event": round((base - statistics.median(seconds["no-moves"])) / events * 1e6, 2),
        "cpu_ratio": round(base / statistics.median(seconds["no-moves"]), 3),
    }
    return {
        "events": events,
        "leads": leads,
        "rounds": rounds,
        "route_requests": len(requests),
        "path_us_per_query": path_cost(processors["b2b"], inputs),
        "variants": figures,
        "accounts": accounts_cost(events, leads, rounds),
    }


def path_cost(processor: Processor, inputs: list[Message], leads: int = 2000) -> float:
    """CPU µs of one ``GET /leads/{id}/path?to=SQL`` answer's search (not on the event path: per query)."""
    states: dict[str, StoredLead] = {}
    for message in inputs:
        result = processor.process_event(message, states.get)
        if result.state is not None:
            states[result.lead_id] = result.state
    chosen = list(states.values())[:leads]
    engine = processor.engine
    started = time.process_time()
    for stored in chosen:
        paths_to(engine, stored.state, "SQL", stored.state.latest_ms)
    return round((time.process_time() - started) / len(chosen) * 1e6, 1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--events", type=int, default=100_000, help="generated events (default 100,000)")
    parser.add_argument("--leads", type=int, default=20_000, help="distinct leads (default 20,000)")
    parser.add_argument("--rounds", type=int, default=3, help="interleaved rounds per variant (default 3)")
    parser.add_argument("--out", type=Path, default=RESULTS / "features.json", help="where to write the figures")
    args = parser.parse_args()
    figures = run(args.events, args.leads, args.rounds)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(figures, indent=2) + "\n")
    for name, row in figures["variants"].items():
        if "events_per_cpu_second" not in row:
            print(f"{name:<14} +{row['cost_us_per_event']:.2f} µs  x{row['cpu_ratio']}")
            continue
        print(
            f"{name:<14} {row['events_per_cpu_second']:>8,} events/CPU-s  {row['cpu_us_per_event']:>7.2f} µs/event"
            f"  +{row['cost_us_per_event']:.2f} µs  x{row['cpu_ratio']}"
        )
    print(f"route requests: {figures['route_requests']:,}; path to SQL: {figures['path_us_per_query']} µs per query")
    for line in account_lines(figures["accounts"]):
        print(line)


if __name__ == "__main__":
    main()
