"""Declared sources (ADR 035): the sources file's validation, field reading, formats and mapping, without a worker."""

from __future__ import annotations

import base64
from pathlib import Path

import orjson
import pytest

from scoring import LeadEvent, LeadProfile
from streams.errors import SourceMappingError, SourcesError
from streams.kafka.codec import AvroCodec
from streams.kafka.registry import LocalSchemaRegistry
from streams.sources.formats import decode_cloudevent
from streams.sources.mapping import Skipped
from streams.sources.source import Source, build_sources, load_sources
from streams.sources.spec import parse_sources, read_sources_spec

EXAMPLES = Path(__file__).parents[2] / "streams" / "sources" / "examples"
CODEC = AvroCodec(LocalSchemaRegistry())


def one_source(events: dict | None = None, **source: object) -> Source:
    raw = {
        "version": 1,
        "sources": [
            {
                "name": "web",
                "topic": "web-events",
                "format": "json",
                "events": events
                or {"lead_id": "user", "event_id": "id", "type": "kind", "occurred_at": "at", "properties": {}},
                **source,
            }
        ],
    }
    return build_sources(parse_sources(raw, "test.yaml"), CODEC, "test.yaml")["web-events"]


def read(source: Source, record: dict) -> LeadEvent | LeadProfile | Skipped:
    return source.read(orjson.dumps(record))


# ---- the file ---------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("example", sorted(EXAMPLES.glob("*.yaml")), ids=lambda path: path.name)
def test_every_shipped_example_loads(example):
    assert load_sources(example, CODEC)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"format": "xml"}, "test.yaml: sources[0] (name 'web').format: Input should be"),
        ({"events": {"lead_id": "u"}}, "test.yaml: sources[0] (name 'web').events.event_id: required field is missing"),
        ({"evnts": {}}, "test.yaml: sources[0] (name 'web').evnts: unknown field (check the spelling)"),
        ({"name": "no spaces"}, "sources[0] (name 'no spaces').name: must be letters, digits"),
        ({"format": "leadscore"}, "format leadscore is read as leadscore's own contract"),
    ],
)
def test_errors_name_the_file_the_source_and_the_field(change, message):
    raw = {
        "version": 1,
        "sources": [
            {
                "name": "web",
                "topic": "t",
                "format": "json",
                "events": {"lead_id": "u", "event_id": "i", "type": "t", "occurred_at": "a"},
            }
        ],
    }
    raw["sources"][0].update(change)
    with pytest.raises(SourcesError) as caught:
        build_sources(parse_sources(raw, "test.yaml"), CODEC, "test.yaml")
    assert message in str(caught.value)


def test_a_field_spec_needs_exactly_one_origin_and_a_known_time_format():
    base = {"lead_id": "u", "event_id": "i", "type": "t"}
    with pytest.raises(SourcesError, match=r"events\.occurred_at: give exactly one of path, const or template"):
        one_source({**base, "occurred_at": {"path": "a", "const": 1}})
    with pytest.raises(SourcesError, match="format: expected one of iso8601"):
        one_source({**base, "occurred_at": {"path": "a", "format": "rfc2822"}})
    with pytest.raises(SourcesError, match="unknown time zone"):
        one_source({**base, "occurred_at": {"path": "a", "timezone": "Mars/Olympus"}})


def test_a_bad_condition_and_duplicate_topics_are_named(tmp_path):
    with pytest.raises(
        SourcesError, match=r"test.yaml: sources\[0\] \(name 'web'\)\.skip.in_list: no list named 'nowhere'"
    ):
        one_source(skip={"field": "type", "in_list": "nowhere"})
    path = tmp_path / "dup.yaml"
    entry = "{name: NAME, topic: same, format: leadscore}"
    path.write_text(f"version: 1\nsources: [{entry.replace('NAME', 'a')}, {entry.replace('NAME', 'b')}]\n")
    with pytest.raises(SourcesError, match="duplicate source topic 'same'"):
        read_sources_spec(path)
    path.write_text("version: 1\nsources: *x\n")
    with pytest.raises(SourcesError, match=r"dup\.yaml: not valid YAML"):
        read_sources_spec(path)


# ---- fields -----------------------------------------------------------------------------------------------------


def test_paths_lists_templates_and_transforms():
    source = one_source(
        {
            "lead_id": ["user.id", "anon"],
            "event_id": {"template": "{source}-{seq}"},
            "type": {"path": "kind", "lowercase": True, "map": {"clicked": "email_click"}},
            "occurred_at": {"path": "at", "format": "epoch_s"},
            "account_id": "items.1.account",
            "properties": {"n": "count", "flag": "on", "missing": "nope"},
            "properties_from": "extra",
        }
    )
    record = {
        "anon": "a-1",
        "source": "crm",
        "seq": 7,
        "kind": "CLICKED",
        "at": 1_700_000_000.5,
        "items": [{}, {"account": "acme"}],
        "count": 3.0,
        "on": True,
        "extra": {"plan": "pro", "nested": {"x": 1}, "empty": None},
    }
    assert read(source, record) == LeadEvent(
        event_id="crm-7",
        lead_id="a-1",
        type="email_click",
        occurred_at_ms=1_700_000_000_500,
        source="web",
        properties={"plan": "pro", "n": "3", "flag": "true"},
        account_id="acme",
    )
    assert read(source, {**record, "user": {"id": "lead-1"}, "kind": "page_view"}).lead_id == "lead-1"


@pytest.mark.parametrize(
    ("value", "fmt", "expected"),
    [
        ("2024-05-06T09:05:12.345Z", None, 1_714_986_312_345),
        ("2024-05-06T11:05:12.345+02:00", "iso8601", 1_714_986_312_345),
        ("2024-05-06 09:05:12", "%Y-%m-%d %H:%M:%S", 1_714_986_312_000),
        (1_714_986_312_345, "epoch_ms", 1_714_986_312_345),
        ("1714986312", "epoch_s", 1_714_986_312_000),
        (1_714_986_312_345_678, "epoch_us", 1_714_986_312_345),
    ],
)
def test_event_times_in_every_format_are_exact_milliseconds(value, fmt, expected):
    spec = {"path": "at"} if fmt is None else {"path": "at", "format": fmt}
    source = one_source({"lead_id": "u", "event_id": "i", "type": "t", "occurred_at": spec})
    event = read(source, {"u": "lead", "i": "1", "t": "email_open", "at": value})
    assert isinstance(event, LeadEvent)
    assert event.occurred_at_ms == expected


def test_a_time_without_a_zone_is_read_in_the_fields_timezone():
    spec = {"path": "at", "timezone": "Europe/Berlin"}
    source = one_source({"lead_id": "u", "event_id": "i", "type": "t", "occurred_at": spec})
    event = read(source, {"u": "lead", "i": "1", "t": "x", "at": "2024-05-06T11:05:12.345"})
    assert isinstance(event, LeadEvent)
    assert event.occurred_at_ms == 1_714_986_312_345  # 11:05 in Berlin (CEST) is 09:05 UTC


@pytest.mark.parametrize(
    ("record", "reason"),
    [
        ({"i": "1", "t": "x", "at": "2024-05-06T09:00:00Z"}, "source web: events.lead_id: no value at u"),
        ({"u": "l", "i": "1", "t": "x", "at": "soon"}, "events.occurred_at: 'soon' at at is not a time in format"),
        ({"u": "l", "i": "1", "t": "x", "at": 1714986312}, "is not a time in format iso8601"),
        ({"u": "l", "t": "x", "at": "2024-05-06T09:00:00Z"}, "events.event_id: no value at i"),
    ],
)
def test_a_record_that_cannot_be_mapped_says_which_step_failed(record, reason):
    source = one_source({"lead_id": "u", "event_id": "i", "type": "t", "occurred_at": "at"})
    with pytest.raises(SourceMappingError) as caught:
        read(source, record)
    assert reason in str(caught.value)


def test_unmapped_values_are_kept_skipped_or_errors():
    def with_unmapped(unmapped: str) -> Source:
        kind = {"path": "t", "map": {"a": "email_open"}, "unmapped": unmapped}
        return one_source({"lead_id": "u", "event_id": "i", "type": kind, "occurred_at": "at"})

    record = {"u": "l", "i": "1", "t": "b", "at": "2024-05-06T09:00:00Z"}
    kept = read(with_unmapped("keep"), record)
    assert isinstance(kept, LeadEvent) and kept.type == "b"
    assert read(with_unmapped("skip"), record) == Skipped("events.type: 'b' is not in the map")
    with pytest.raises(SourceMappingError, match="'b' at t is not in the map"):
        read(with_unmapped("error"), record)


def test_skip_when_and_profiles():
    source = one_source(
        {
            "when": {"field": "kind", "equals": "track"},
            "lead_id": "u",
            "event_id": "i",
            "type": "e",
            "occurred_at": "at",
        },
        skip={"field": "kind", "in": ["page"]},
        profiles={
            "when": {"field": "kind", "equals": "identify"},
            "lead_id": "u",
            "updated_at": "at",
            "company_size": "traits.size",
            "industry": {"path": "traits.industry", "lowercase": True},
            "attributes_from": "traits.custom",
        },
    )
    at = "2024-05-06T09:00:00Z"
    assert read(source, {"kind": "page"}) == Skipped("the skip condition holds")
    assert read(source, {"kind": "alias"}) == Skipped("no mapping's when holds")
    profile = read(source, {"kind": "identify", "u": "l", "at": at, "traits": {"size": "250", "industry": "SaaS"}})
    assert profile == LeadProfile("l", 1_714_986_000_000, company_size=250, industry="saas")
    with pytest.raises(SourceMappingError, match=r"profiles\.company_size: 'many' at traits.size is not a number"):
        read(source, {"kind": "identify", "u": "l", "at": at, "traits": {"size": "many"}})


# ---- formats ----------------------------------------------------------------------------------------------------


def test_cloudevents_in_binary_and_structured_mode_decode_to_the_same_record():
    data = {"campaign": "q2", "minutes": 47}
    structured = {
        "specversion": "1.0",
        "id": "e1",
        "source": "/s",
        "type": "t",
        "subject": "lead-1",
        "time": "2024-05-06T09:00:00Z",
        "datacontenttype": "application/json",
        "data": data,
    }
    headers = [(f"ce_{k}", str(v).encode()) for k, v in structured.items() if k not in ("data", "datacontenttype")]
    headers.append(("content-type", b"application/json"))
    binary = decode_cloudevent(orjson.dumps(data), headers)
    assert binary == decode_cloudevent(orjson.dumps(structured)) == structured
    encoded = {k: v for k, v in structured.items() if k != "data"} | {
        "data_base64": base64.b64encode(b'{"a":1}').decode()
    }
    assert decode_cloudevent(orjson.dumps(encoded))["data"] == {"a": 1}
    with pytest.raises(SourceMappingError, match=r"binary mode.*attribute id is missing"):
        decode_cloudevent(b"{}", [("ce_specversion", b"1.0"), ("ce_source", b"/s"), ("ce_type", b"t")])


@pytest.mark.parametrize(
    ("value", "reason"),
    [(b"not json", "json: not valid JSON"), (b"[1, 2]", "json: expected an object, got list"), (None, "no value")],
)
def test_json_that_is_no_object_is_a_mapping_error(value, reason):
    with pytest.raises(SourceMappingError, match=reason):
        one_source().read(value)


def test_a_leadscore_source_reads_the_native_contracts():
    source = build_sources(
        parse_sources({"version": 1, "sources": [{"name": "n", "topic": "t", "format": "leadscore"}]}), CODEC
    )["t"]
    event = LeadEvent("e1", "lead-1", "email_open", 1_714_986_000_000, "web")
    profile = LeadProfile("lead-1", 1_714_986_000_000, company="Acme")
    assert source.read(CODEC.encode_event(event)) == event
    assert source.read(CODEC.encode_profile(profile)) == profile
    with pytest.raises(SourceMappingError, match="source n: not a Confluent-framed Avro message"):
        source.read(b"{}")


def test_generated_journeys_written_as_segment_calls_map_back_to_the_same_events_and_profiles():
    from dataclasses import replace

    from streams.datasets.segment import identify_call, track_call
    from streams.datasets.synthetic import JourneyGenerator

    segment = load_sources(EXAMPLES / "segment.yaml", CODEC)["segment-events"]
    journeys = JourneyGenerator(300, seed=3, start_ms=1_714_986_000_000)
    events = list(journeys.events(3000))
    assert {event.type for event in events} >= {"email_open", "page_view", "content_download", "demo_request"}
    for event in events:
        assert segment.read(orjson.dumps(track_call(event))) == replace(event, source="segment")
    for lead_id in sorted({event.lead_id for event in events}):
        profile = journeys.profile(lead_id)
        assert segment.read(orjson.dumps(identify_call(profile, f"id-{lead_id}"))) == profile
