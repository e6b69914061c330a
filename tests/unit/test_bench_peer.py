"""The Quix peer scores as the worker does: leadscore's Processor per input, the lead's state through leadscore's own
state codec as bytes (what Quix's State holds), giving the same records as the Processor with its states kept as
they are. When the state format changes, this fails until bench/contestants/per_input.py follows it."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.contestants import per_input
from scoring import Engine, example_model_path, load_model
from streams.datasets.synthetic import JourneyGenerator
from streams.kafka.codec import AvroCodec
from streams.kafka.partitioner import lead_partition
from streams.kafka.registry import LocalSchemaRegistry
from streams.worker.metrics import Metrics
from streams.worker.processor import Message, Processor, Result

PARTITIONS = 4


def _processor() -> Processor:
    engine = Engine([load_model(example_model_path("b2b"))])
    return Processor(engine, AvroCodec(LocalSchemaRegistry()), Metrics(), PARTITIONS, "peer-rerouted")


def _messages(events: int, leads: int) -> list[Message]:
    codec = AvroCodec(LocalSchemaRegistry())
    messages = []
    for offset, event in enumerate(JourneyGenerator(leads, seed=7, mean_gap_ms=2000).events(events)):
        key = event.lead_id.encode()
        partition = lead_partition(event.lead_id, PARTITIONS)
        messages.append(Message("lead-events", partition, offset, key, codec.encode_event(event)))
    return messages


def _records(result: Result) -> tuple[Any, ...]:
    return result.lead_id, result.changes, result.crossings, result.scores, result.dead_letter


def test_the_peer_scores_through_its_state_bytes_exactly_as_the_processor_with_live_states() -> None:
    messages = _messages(3000, 200)
    stored: dict[str, bytes] = {}  # what Quix's State holds: bytes per lead
    live: dict[str, Any] = {}  # the Processor's own states, never encoded
    peer, reference = _processor(), _processor()
    changes = 0
    for message in messages:
        result = per_input.score(peer, message, stored.get, stored.__setitem__)
        expected = reference.process_event(message, live.get)
        if expected.state is not None:
            live[expected.lead_id] = expected.state
        assert _records(result) == _records(expected)
        latest = [] if expected.scores is None else [expected.scores]  # None: a duplicate, nothing emitted
        assert per_input.outputs(result) == [*expected.changes, *expected.crossings, *latest]
        changes += len(result.changes)
    assert changes > 1000  # the stream moved scores: the states read back were used
    assert stored.keys() == live.keys()
    for lead_id, data in stored.items():
        assert per_input.decode_state(data) == live[lead_id]
        assert per_input.encode_state(live[lead_id]) == data


def test_what_the_peer_imports_of_leadscore_needs_no_faust_and_no_aiokafka() -> None:
    """The peer's virtualenv (bench/peer-requirements.txt) has neither: its per-input scoring, progress file and
    CPU readings must import without them."""
    blocked = "faust", "aiokafka", "confluent_kafka.schema_registry", "rich", "matplotlib"
    script = (
        f"import sys; sys.modules.update(dict.fromkeys({blocked!r}))\n"
        "import bench.contestants.per_input, bench.contestants.progress, bench.cpu\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, cwd=Path(__file__).parents[2], timeout=120)
