"""In-process figures: the scoring engine alone (``bench/engine_bench.py``), and the cost of one Avro message.

Codec: encode then decode one Confluent-framed record, with ``fastavro``
(``streams.kafka.codec.AvroCodec``, the worker's
hot path) and with the ``avro`` reference library (as ``tests/avro_reference.py`` reads leadscore's wire format),
for a ``LeadEvent`` and a ``ScoreChanged``; microseconds per round trip, best of five runs.
"""

from __future__ import annotations

import io
import struct
import time
from collections.abc import Callable
from datetime import UTC, datetime
from functools import partial
from typing import Any

import avro.io
import avro.schema

from bench import engine_bench
from bench.common import codec
from bench.model import lead_model
from schemas import SCHEMAS_DIR
from scoring import Engine
from streams.datasets.synthetic import JourneyGenerator
from streams.kafka.codec import change_to_record, event_to_record

HEADER = struct.Struct(">bI")


def engine(events: int, leads: int) -> dict[str, Any]:
    return engine_bench.run(events, leads, seed=1)


def _samples() -> dict[str, dict[str, Any]]:
    """A LeadEvent and the ScoreChanged it causes, as wire records."""
    scoring = Engine([lead_model()])
    for event in JourneyGenerator(10, seed=3).events(100):
        update = scoring.apply_event(None, event)
        if update.changes:
            return {"LeadEvent": event_to_record(event), "ScoreChanged": change_to_record(update.changes[0])}
    raise RuntimeError("no score change in 100 generated events")


def _reference(name: str, schema_id: int) -> tuple[Callable[[dict[str, Any]], bytes], Callable[[bytes], Any]]:
    files = {"LeadEvent": "lead_event.avsc", "ScoreChanged": "score_changed.avsc"}
    schema = avro.schema.parse((SCHEMAS_DIR / files[name]).read_text())
    writer, reader = avro.io.DatumWriter(schema), avro.io.DatumReader(schema)

    def encode(record: dict[str, Any]) -> bytes:
        buffer = io.BytesIO()
        buffer.write(HEADER.pack(0, schema_id))
        writer.write(record, avro.io.BinaryEncoder(buffer))
        return buffer.getvalue()

    def decode(data: bytes) -> Any:
        return reader.read(avro.io.BinaryDecoder(io.BytesIO(data[HEADER.size :])))

    return encode, decode


def _per_round_trip_us(encode: Callable[[dict[str, Any]], bytes], decode: Callable[[bytes], Any], record: Any) -> float:
    rounds = 2000
    best = float("inf")
    for _ in range(5):
        started = time.perf_counter()
        for _ in range(rounds):
            decode(encode(record))
        best = min(best, (time.perf_counter() - started) / rounds)
    return round(best * 1e6, 2)


def codec_costs() -> dict[str, dict[str, float]]:
    fast = codec()
    results: dict[str, dict[str, float]] = {}
    for name, record in _samples().items():
        schema_id = fast.registry.by_name(name).schema_id
        encode, decode = _reference(name, schema_id)
        # avro validates timestamp-millis as a datetime, as its readers return it
        reference_record = {**record, "occurred_at": datetime.fromtimestamp(record["occurred_at"] / 1000, tz=UTC)}
        results[name] = {
            "fastavro_us": _per_round_trip_us(partial(fast.encode, name), fast.decode, record),
            "avro_us": _per_round_trip_us(encode, decode, reference_record),
            "bytes": len(fast.encode(name, record)),
        }
    return results
