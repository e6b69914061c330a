"""LeadIdentity (16) and LeadMerged (17) on the wire (ADR 044): the identity codec, read back by the reference
library."""

import pytest

from scoring.identities.records import IdentityKind, IdentityRecord, LeadMerged
from streams.errors import DecodeError
from streams.kafka.identity_codec import IdentityCodec
from tests.avro_reference import reference_decode
from tests.conftest import T0


def test_identity_round_trip_and_wire_ids(codec):
    identities = IdentityCodec(codec)
    record = IdentityRecord("identify-1", IdentityKind.IDENTIFY, "anon-1", "lead-1", T0)
    data = identities.encode_identity(record)
    assert identities.decode_identity(data) == record
    assert reference_decode(data)[1]["kind"] == "IDENTIFY"
    assert (codec.registry.by_name("LeadIdentity").schema_id, codec.registry.by_name("LeadMerged").schema_id) == (
        16,
        17,
    )


def test_lead_merged_is_read_by_the_reference_library(codec):
    merged = LeadMerged("m-1", "merge-1", IdentityKind.MERGE, "lead-a", "lead-b", T0, 4, (("b2b", 30.0, 61.0),))
    name, record = reference_decode(IdentityCodec(codec).encode_merged(merged))
    assert name == "LeadMerged" and (record["absorbed_id"], record["events_merged"]) == ("lead-a", 4)
    assert record["scores"] == [{"model_id": "b2b", "score_before": 30.0, "score_after": 61.0}]


def test_an_event_is_no_identity(codec):
    from tests.conftest import make_event

    with pytest.raises(DecodeError, match="expected LeadIdentity"):
        IdentityCodec(codec).decode_identity(codec.encode_event(make_event("lead-1", "page_view")))
