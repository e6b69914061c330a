import io
import json
import struct
from datetime import UTC, datetime

import avro.io
import avro.schema
import pytest

from schemas import SCHEMAS_DIR
from scoring import Engine
from streams.errors import DecodeError
from streams.kafka.codec import change_to_record, event_to_record
from tests.avro_reference import reference_decode
from tests.conftest import T0, make_event

REQUIRED_CONTRACTS = {"LeadEvent", "LeadProfile", "ScoreChanged", "ThresholdCrossed", "Conversion", "DeadLetter"}


def all_contracts() -> list[dict]:
    return [json.loads(path.read_text()) for path in sorted(SCHEMAS_DIR.glob("*.avsc"))]


def test_every_topic_has_a_contract(codec):
    assert set(codec.registry.names()) >= REQUIRED_CONTRACTS


@pytest.mark.parametrize("contract", all_contracts(), ids=lambda c: c["name"])
def test_every_field_is_documented_and_times_are_timestamp_millis(contract):
    assert contract.get("doc")
    for field in contract["fields"]:
        assert field.get("doc"), f"{contract['name']}.{field['name']} has no doc"
        if field["name"].endswith("_at"):
            assert field["type"] == {"type": "long", "logicalType": "timestamp-millis"}


def test_event_round_trip_and_confluent_framing(codec):
    event = make_event("lead-1", "page_view", path="/pricing")
    data = codec.encode_event(event)
    assert data[0] == 0
    assert struct.unpack(">I", data[1:5])[0] == codec.registry.by_name("LeadEvent").schema_id
    assert codec.decode_event(data) == event


def test_reference_library_reads_what_leadscore_writes(codec, simple_model):
    event = make_event("lead-1", "demo_request", event_id="ev-9")
    name, record = reference_decode(codec.encode_event(event))
    assert name == "LeadEvent"
    assert record["lead_id"] == "lead-1"
    assert record["type"] == "demo_request"
    [change] = Engine([simple_model]).apply_event(None, event).changes
    _, decoded = reference_decode(codec.encode_change(change))
    expected = change_to_record(change)
    assert decoded["score"] == expected["score"] == 30
    assert decoded["contributions"] == [{"rule_id": "demo-request", "points": 30.0, "value_now": 30.0}]
    assert decoded["change_id"] == change.change_id


def test_reference_written_event_is_read_by_leadscore(codec):
    schema = avro.schema.parse((SCHEMAS_DIR / "lead_event.avsc").read_text())
    buffer = io.BytesIO()
    buffer.write(struct.pack(">bI", 0, 1))
    record = event_to_record(make_event("x", "email_open", event_id="ref-1"))
    record["occurred_at"] = datetime.fromtimestamp(record["occurred_at"] / 1000, tz=UTC)
    avro.io.DatumWriter(schema).write(record, avro.io.BinaryEncoder(buffer))
    decoded = codec.decode_event(buffer.getvalue())
    assert decoded.event_id == "ref-1"
    assert decoded.occurred_at_ms == T0


@pytest.mark.parametrize(
    ("mutate", "reason"),
    [
        (lambda d: b"", "too short"),
        (lambda d: b"\x01" + d[1:], "wrong magic byte 1"),
        (lambda d: d[:1] + struct.pack(">I", 999) + d[5:], "unknown schema id 999"),
        (lambda d: d[:1] + struct.pack(">I", 3) + d[5:], "is ScoreChanged, expected LeadEvent"),
        (lambda d: d[:12], "corrupt LeadEvent body"),
        (lambda d: d + b"\x00\x00", "2 trailing bytes"),
        (lambda d: b'{"lead_id": "json is not avro"}', "wrong magic byte"),
    ],
)
def test_malformed_messages_raise_decode_error(codec, mutate, reason):
    data = codec.encode_event(make_event("lead-1", "page_view"))
    with pytest.raises(DecodeError, match=reason):
        codec.decode_event(mutate(data))


def test_profile_round_trip(codec):
    from scoring import LeadProfile

    profile = LeadProfile("l", T0, email="a@b.c", company_size=12, attributes={"budget": "yes"})
    assert codec.decode_profile(codec.encode_profile(profile)) == profile
