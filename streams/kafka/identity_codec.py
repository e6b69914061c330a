"""The identity contracts on the wire (ADR 044): ``LeadIdentity`` (input, ``lead-identities``) and ``LeadMerged``
(output, ``lead-merges``), Confluent-framed Avro through the worker's :class:`~streams.kafka.codec.AvroCodec`
(its registry, framing and checks); the records are :mod:`scoring.identities.records`'.

A module of its own beside ``codec.py``: the codec of the other contracts is at its size limit.
"""

from __future__ import annotations

from scoring.identities.records import IdentityKind, IdentityRecord, LeadMerged
from streams.errors import DecodeError
from streams.kafka.codec import AvroCodec, to_millis


class IdentityCodec:
    """Encodes and decodes the identity contracts with ``codec`` (one per process, as the codec is)."""

    def __init__(self, codec: AvroCodec) -> None:
        self.codec = codec

    def decode_identity(self, data: bytes | None) -> IdentityRecord:
        """A ``LeadIdentity`` message as the domain's record; raises :class:`DecodeError` on anything malformed (the
        ids and the time are checked by :func:`scoring.identities.aliases.decide_identity`)."""
        _, record = self.codec.decode(data, expected="LeadIdentity")
        try:
            kind = IdentityKind(record["kind"])
        except ValueError:
            raise DecodeError(f"LeadIdentity kind {record['kind']!r} is neither IDENTIFY nor MERGE") from None
        return IdentityRecord(
            identity_id=record["identity_id"],
            kind=kind,
            from_id=record["from_id"],
            to_id=record["to_id"],
            occurred_at_ms=to_millis(record["occurred_at"]),
        )

    def encode_identity(self, identity: IdentityRecord) -> bytes:
        """What a producer of ``lead-identities`` writes (the tests', the demo's)."""
        record = {
            "identity_id": identity.identity_id,
            "kind": identity.kind.value,
            "from_id": identity.from_id,
            "to_id": identity.to_id,
            "occurred_at": identity.occurred_at_ms,
        }
        return self.codec.encode("LeadIdentity", record)

    def encode_merged(self, merged: LeadMerged) -> bytes:
        record = {
            "merge_id": merged.merge_id,
            "identity_id": merged.identity_id,
            "kind": merged.kind.value,
            "absorbed_id": merged.absorbed_id,
            "survivor_id": merged.survivor_id,
            "occurred_at": merged.occurred_at_ms,
            "events_merged": merged.events_merged,
            "scores": [
                {"model_id": model_id, "score_before": before, "score_after": after}
                for model_id, before, after in merged.scores
            ],
        }
        return self.codec.encode("LeadMerged", record)
