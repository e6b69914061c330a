"""The bench's JSON-source contestant does the native contestant's work: the generated events rendered as Segment
track calls map back, through bench/sources-segment.yaml and the worker's own ``Source.read``, to exactly the
events the native input carries, and score exactly alike. The file is streams/sources/examples/segment.yaml with
additions only; a record's timestamp is the event time to the millisecond, in UTC."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import orjson

import streams.sources
from bench import json_source
from bench.common import SEED, codec
from bench.report_throughput import json_source_lines
from bench.summary import summarise
from scoring import Engine, LeadEvent, example_model_path, load_model
from streams.datasets.segment import EVENT_NAMES, iso
from streams.datasets.synthetic import JourneyGenerator
from streams.kafka.partitioner import lead_partition
from streams.sources.source import load_sources
from streams.sources.spec import read_sources_spec
from streams.worker.metrics import Metrics
from streams.worker.processor import Message, Processor, Result

SEGMENT = Path(streams.sources.__file__).parent / "examples" / "segment.yaml"
PARTITIONS = 4


def _events(count: int = 6000, leads: int = 600) -> list[LeadEvent]:
    """As the bench generates its input (``bench.common.produce_events``), fewer."""
    return list(JourneyGenerator(leads, seed=SEED, mean_gap_ms=2000).events(count))


def test_every_generated_event_maps_back_to_itself_through_the_bench_sources_file() -> None:
    events = _events()
    (source,) = load_sources(json_source.SOURCES_FILE, codec()).values()
    for event in events:
        assert source.read(json_source.render(event)) == event
    # the sample has every type, property, channel and both kinds of account the generator makes
    assert {e.type for e in events} >= {"email_open", "email_click", "page_view", "content_download", "unsubscribe"}
    assert {e.type for e in events} >= {"webinar_signup", "webinar_attended", "demo_request"}
    assert {name for e in events for name in e.properties} == {"campaign", "link", "path", "asset", "webinar", "form"}
    assert {e.source for e in events} == {"email", "web", "webinar-platform"}
    assert {e.account_id is None for e in events} == {True, False}


def test_a_record_is_a_segment_track_call() -> None:
    event = LeadEvent(
        event_id="evt-1-000000007",
        lead_id="lead-0000042",
        type="email_click",
        occurred_at_ms=1_767_603_601_005,
        source="email",
        properties={"campaign": "q4-launch", "link": "/product"},
        account_id="acct-000010",
    )
    record = orjson.loads(json_source.render(event))
    assert record == {
        "type": "track",
        "event": "Email Link Clicked",
        "userId": "lead-0000042",
        "messageId": "evt-1-000000007",
        "timestamp": "2026-01-05T09:00:01.005Z",
        "properties": {"link_url": "/product"},
        "context": {"campaign": {"name": "q4-launch"}, "groupId": "acct-000010"},
    }
    spec = json_source.source_spec()
    assert spec.events is not None and spec.events.type.map is not None
    assert all(spec.events.type.map[name] == event_type for event_type, name in EVENT_NAMES.items())


def test_timestamps_are_exact_to_the_millisecond() -> None:
    assert iso(0) == "1970-01-01T00:00:00.000Z"
    assert iso(1_767_603_600_999) == "2026-01-05T09:00:00.999Z"
    (source,) = load_sources(json_source.SOURCES_FILE, codec()).values()
    for at_ms in (946_684_800_000, 1_767_603_600_001, 4_102_444_799_999):
        event = LeadEvent("e", "lead-1", "page_view", at_ms, "web", {"path": "/"})
        mapped = source.read(json_source.render(event))
        assert isinstance(mapped, LeadEvent)
        assert mapped.occurred_at_ms == at_ms


def test_the_bench_file_is_the_shipped_segment_mapping_with_additions_only() -> None:
    (shipped,) = read_sources_spec(SEGMENT).sources
    bench = json_source.source_spec()
    assert shipped.events is not None and bench.events is not None
    assert bench.topic != shipped.topic  # a topic of its own
    assert bench.skip == shipped.skip and bench.profiles == shipped.profiles
    assert shipped.events.source is None and bench.events.source is not None  # the channel, added
    assert bench.events.properties.keys() == shipped.events.properties.keys()
    for name, field in shipped.events.properties.items():
        assert bench.events.properties[name] == field
    same = {"when", "lead_id", "anonymous_id", "event_id", "type", "occurred_at", "account_id", "properties_from"}
    for name in same:
        assert getattr(bench.events, name) == getattr(shipped.events, name), name


def _records(result: Result) -> tuple[Any, ...]:
    return result.lead_id, result.changes, result.crossings, result.scores, result.dead_letter, result.forward


def test_the_json_records_score_exactly_as_the_native_ones() -> None:
    """The worker's Processor on the two inputs, message by message: the same score changes, crossings and scores
    (a source's records go through ``process_source``, the native ones through ``process_event``)."""
    avro, spec = codec(), json_source.source_spec()
    sources = load_sources(json_source.SOURCES_FILE, avro)
    engine = Engine([load_model(example_model_path("b2b"))])
    native = Processor(engine, avro, Metrics(), PARTITIONS, "rerouted")
    declared = Processor(engine, avro, Metrics(), PARTITIONS, "rerouted", sources=sources)
    states: dict[str, dict[str, Any]] = {"native": {}, "json": {}}
    changes = 0
    for offset, event in enumerate(_events(3000, 300)):
        key, partition = event.lead_id.encode(), lead_partition(event.lead_id, PARTITIONS)
        expected = native.process_event(
            Message("lead-events", partition, offset, key, avro.encode_event(event)), states["native"].get
        )
        result = declared.process_source(
            Message(spec.topic, partition, offset, key, json_source.render(event)), states["json"].get
        )
        for name, outcome in (("native", expected), ("json", result)):
            if outcome.state is not None:
                states[name][outcome.lead_id] = outcome.state
        assert _records(result) == _records(expected)
        changes += len(result.changes)
    assert changes > 1000
    assert states["json"].keys() == states["native"].keys()


def test_the_report_sets_the_json_source_against_the_native_input() -> None:
    def step(eps: float, cpu_s: float) -> dict[str, Any]:
        cpu = {"events": 19_000, "seconds": 19_000 / eps, "eps": eps, "cpu_s": cpu_s, "broker_cpu_s": 2.0}
        cpu |= {"cpu_s_per_event": cpu_s / 19_000, "broker_cpu_s_per_event": 2.0 / 19_000}
        return {"eps": eps, "seconds": cpu["seconds"], "events": 20_000, "score_changes": 9000, "cpu": cpu}

    read = {"records": 5000, "mismatched": 0, "json_source_read": 9.5, "json_loads": 1.2, "avro_decode_event": 2.5}
    produced = {"topic": "bench-segment-events", "json_mean_bytes": 230.4, "avro_mean_bytes": 95.0, "read_us": read}
    json_step = {**step(8000, 0.95), "input": produced, "source_records": {"event": 20_000}}
    results = {
        "events": 20_000,
        "leads": 10_000,
        "mode": "quick",
        "throughput": {"leadscore": step(10_000, 0.76), "leadscore_json_source": json_step},
    }
    latest = summarise(results)
    assert latest["json_source_ratio"] == 0.8
    assert latest["json_source_cpu_ratio"] == 1.25
    assert latest["json_source_extra_cpu_us_per_event"] == 10.0
    text = "\n".join(json_source_lines(latest))
    assert "**0.800** in events/s and **1.250** in CPU per event (+10.0 µs per event" in text
    assert "20,000 event" in text and "`bench-segment-events`" in text
    assert json_source_lines(summarise({**results, "throughput": {"leadscore": step(10_000, 0.76)}})) == []
