"""The JSON-source contestant's input: the generated events a second time, as Segment ``track`` calls in JSON.

The same ``JourneyGenerator`` events as the native input, each rendered by ``streams.datasets.segment.track_call``
(the demo's Segment JSON) as the record ``bench/sources-segment.yaml`` maps back to it exactly
(streams/sources/examples/segment.yaml plus the event's channel; ``tests/unit/test_bench_json_source.py`` checks a
sample). Keyed by lead id with Kafka's murmur2 partitioner, like the native input, to a 4-partition
topic of its own: a worker with ``sources_path`` set to the file reads it on the same batch path
(``Processor.process_source``) and does the same scoring work as on the Avro input.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any

import orjson
from kafka import KafkaProducer

from bench.common import SEED, codec, create_topic, kafka_python_options, progress_bar
from scoring import LeadEvent
from streams.datasets.segment import track_call
from streams.datasets.synthetic import JourneyGenerator
from streams.settings import Settings
from streams.sources.source import Source, load_sources
from streams.sources.spec import SourceSpec, read_sources_spec

SOURCES_FILE = Path(__file__).resolve().with_name("sources-segment.yaml")
PARTITIONS = 4


def source_spec(path: Path = SOURCES_FILE) -> SourceSpec:
    """The one source the bench's sources file declares."""
    (spec,) = read_sources_spec(path).sources
    return spec


def load_source(path: Path = SOURCES_FILE) -> Source:
    """That source compiled, as the worker reads it."""
    (source,) = load_sources(path, codec()).values()
    return source


def render(event: LeadEvent) -> bytes:
    """One generated event as the Segment track call the JSON input carries (``streams.datasets.segment``)."""
    return orjson.dumps(track_call(event))


def produce(cluster: Settings, events: int, leads: int, seed: int = SEED) -> dict[str, Any]:
    """The generated events (as ``bench.common.produce_events`` makes them) as Segment JSON to the source's topic,
    created with 4 partitions; the records' mean size beside the Avro one's, and the in-process cost of reading
    one (:func:`read_costs`)."""
    spec = source_spec()
    avro = codec()
    create_topic(cluster, spec.topic, PARTITIONS)
    producer = KafkaProducer(**kafka_python_options(cluster), linger_ms=20, batch_size=256 * 1024, acks=1)
    json_bytes = avro_bytes = 0
    sample: list[tuple[LeadEvent, bytes, bytes]] = []
    stream = JourneyGenerator(leads, seed=seed, mean_gap_ms=2000).events(events)
    with progress_bar() as bar:
        task = bar.add_task("producing the JSON input", total=events, note=spec.topic)
        for n, event in enumerate(stream, 1):
            value, native = render(event), avro.encode_event(event)
            producer.send(spec.topic, key=event.lead_id.encode(), value=value)
            json_bytes, avro_bytes = json_bytes + len(value), avro_bytes + len(native)
            if n <= SAMPLE:
                sample.append((event, value, native))
            if n % 2000 == 0:
                bar.update(task, completed=n)
    producer.flush()
    producer.close()
    return {
        "topic": spec.topic,
        "sources_file": str(SOURCES_FILE.relative_to(SOURCES_FILE.parent.parent)),
        "events": events,
        "json_mean_bytes": round(json_bytes / events, 1) if events else None,
        "avro_mean_bytes": round(avro_bytes / events, 1) if events else None,
        "read_us": read_costs(sample),
    }


SAMPLE = 5000  # records of the in-process read costs


def read_costs(sample: Iterable[tuple[LeadEvent, bytes, bytes]]) -> dict[str, Any]:
    """In-process CPU µs per record (this thread's CPU time, so a busy machine does not stretch it), best of five
    passes over the sample: ``Source.read`` of the JSON (decode and map), ``orjson.loads`` alone, and
    ``AvroCodec.decode_event`` of the native record; ``mismatched`` counts JSON records that did not map back to
    their event (0, or the two contestants do different work)."""
    rows = list(sample)
    source, avro = load_source(), codec()
    mismatched = sum(source.read(value) != event for event, value, _ in rows)
    values, natives = [value for _, value, _ in rows], [native for _, _, native in rows]
    return {
        "records": len(rows),
        "mismatched": mismatched,
        "json_source_read": _best_us(source.read, values),
        "json_loads": _best_us(orjson.loads, values),
        "avro_decode_event": _best_us(avro.decode_event, natives),
    }


def _best_us(read: Callable[[bytes], object], values: list[bytes]) -> float | None:
    if not values:
        return None
    best = float("inf")
    for _ in range(5):
        started = time.thread_time()
        for value in values:
            read(value)
        best = min(best, time.thread_time() - started)
    return round(best / len(values) * 1e6, 2)
