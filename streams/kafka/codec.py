"""Confluent-framed Avro: magic byte 0, a 4-byte big-endian schema id, then the Avro binary body.

Standard tooling (Confluent's deserializers, kcat with a registry, ksqlDB) reads these messages. fastavro does the
encoding on the hot path; the ``avro`` reference library checks every contract at load time (ADR 002).
Conversion between wire records and the scoring domain lives here too, so agents only call functions.
"""

from __future__ import annotations

import io
import struct
from collections.abc import Iterable
from datetime import UTC, datetime, timedelta
from typing import Any

import fastavro
from fastavro.read import SchemaResolutionError

from scoring import LeadEvent, LeadProfile, ModelSnapshot, ScoreChange, ThresholdCrossing
from scoring.conversions import Conversion, Outcome
from scoring.outputs import TrendReading
from scoring.routing import Decision
from scoring.trail import ScoreAtConversion
from streams.errors import DecodeError, SchemaRegistryError
from streams.kafka.registry import SchemaRegistry

MAGIC = 0
_HEADER = struct.Struct(">bI")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLISECOND = timedelta(milliseconds=1)


def to_millis(value: datetime | int) -> int:
    """Unix milliseconds of a decoded timestamp-millis value, exactly (no float rounding)."""
    if isinstance(value, datetime):
        return (value - _EPOCH) // _MILLISECOND
    return int(value)


class AvroCodec:
    """Encodes and decodes framed records; one instance per process, built from a registry."""

    def __init__(self, registry: SchemaRegistry) -> None:
        self.registry = registry

    async def resolve(self, values: Iterable[bytes | None]) -> None:
        """Resolve the schema ids of ``values`` the registry has not seen, before they are decoded (ADR 021): the
        decoding itself never waits for the network. Malformed values are left to :meth:`decode` to reject."""
        if self.registry.resolves_ids:
            ids = {
                _HEADER.unpack_from(v)[1] for v in values if v is not None and len(v) >= _HEADER.size and v[0] == MAGIC
            }
            await self.registry.resolve(ids)

    def encode(self, schema_name: str, record: dict[str, Any]) -> bytes:
        entry = self.registry.by_name(schema_name)
        buffer = io.BytesIO()
        buffer.write(_HEADER.pack(MAGIC, entry.schema_id))
        fastavro.schemaless_writer(buffer, entry.parsed, record)
        return buffer.getvalue()

    def schema_name(self, data: bytes | None) -> str:
        """The record name a framed message says it holds, without decoding the body."""
        if not data or len(data) < _HEADER.size or data[0] != MAGIC:
            raise DecodeError("not a Confluent-framed Avro message")
        try:
            return self.registry.by_id(_HEADER.unpack_from(data)[1]).name
        except SchemaRegistryError as exc:
            raise DecodeError(str(exc)) from None

    def decode(self, data: bytes | None, expected: str | None = None) -> tuple[str, dict[str, Any]]:
        """Return ``(schema name, record)``; raise :class:`DecodeError` on anything malformed."""
        if not data or len(data) < _HEADER.size:
            raise DecodeError("message too short for the Confluent header (need 5 bytes)")
        magic, schema_id = _HEADER.unpack_from(data)
        if magic != MAGIC:
            raise DecodeError(f"wrong magic byte {magic} (expected 0: Confluent wire format)")
        try:
            entry = self.registry.by_id(schema_id)
        except SchemaRegistryError as exc:
            raise DecodeError(str(exc)) from None
        if expected is not None and entry.name != expected:
            raise DecodeError(f"schema id {schema_id} is {entry.name}, expected {expected}")
        body = io.BytesIO(data[_HEADER.size :])
        try:
            record = fastavro.schemaless_reader(body, entry.parsed, entry.reader)
        except SchemaResolutionError as exc:  # a version of the contract that ours cannot read (ADR 012)
            raise DecodeError(f"schema id {schema_id} is a {entry.name} ours cannot read: {exc}"[:500]) from None
        except Exception as exc:  # fastavro raises many types on corrupt input: EOF, ValueError, Unicode, ...
            raise DecodeError(f"corrupt {entry.name} body: {type(exc).__name__}: {exc}"[:500]) from None
        if body.tell() != len(data) - _HEADER.size:
            raise DecodeError(f"{len(data) - _HEADER.size - body.tell()} trailing bytes after {entry.name}")
        if not isinstance(record, dict):
            raise DecodeError(f"schema id {schema_id} ({entry.name}) is not an Avro record")
        return entry.name, record

    # ---- domain <-> wire -------------------------------------------------------------------------------

    def decode_event(self, data: bytes | None) -> LeadEvent:
        _, record = self.decode(data, expected="LeadEvent")
        return event_from_record(record)

    def decode_profile(self, data: bytes | None) -> LeadProfile:
        _, record = self.decode(data, expected="LeadProfile")
        return profile_from_record(record)

    def decode_conversion(self, data: bytes | None) -> Conversion:
        return conversion_from_record(self.decode(data, "Conversion")[1])

    def encode_conversion(self, conversion: Conversion) -> bytes:
        return self.encode("Conversion", conversion_to_record(conversion))

    def encode_conversion_scored(
        self, conversion: Conversion, lead_time_ms: int, known_lead: bool, joined: tuple[ScoreAtConversion, ...]
    ) -> bytes:
        record = conversion_to_record(conversion)
        record.update(
            lead_time_ms=lead_time_ms,
            known_lead=known_lead,
            models=[
                {
                    "model_id": score.model_id,
                    "model_version": score.model_version,
                    "score": score.score,
                    "levels": list(score.levels),
                    "score_before": score.score_before,
                    "exact": score.exact,
                }
                for score in joined
            ],
        )
        return self.encode("ConversionScored", record)

    def encode_profile(self, profile: LeadProfile) -> bytes:
        return self.encode("LeadProfile", profile_to_record(profile))

    def encode_event(self, event: LeadEvent) -> bytes:
        return self.encode("LeadEvent", event_to_record(event))

    def encode_scores(self, lead_id: str, at_ms: int, snapshots: tuple[ModelSnapshot, ...]) -> bytes:
        models = [snapshot_to_record(s) for s in snapshots if s.applies]
        return self.encode("LeadScore", {"lead_id": lead_id, "updated_at": at_ms, "models": models})

    def decode_erasure(self, data: bytes | None) -> tuple[str, str]:
        """``(request_id, lead_id)`` of a LeadErasure."""
        _, record = self.decode(data, expected="LeadErasure")
        return record["request_id"], record["lead_id"]

    def encode_erasure_completed(self, request_id: str, lead_id: str, had_state: bool, at_ms: int) -> bytes:
        record = {"request_id": request_id, "lead_id": lead_id, "had_state": had_state, "completed_at": at_ms}
        return self.encode("ErasureCompleted", record)

    def encode_change(self, change: ScoreChange) -> bytes:
        return self.encode("ScoreChanged", change_to_record(change))

    def encode_crossing(self, crossing: ThresholdCrossing) -> bytes:
        return self.encode("ThresholdCrossed", crossing_to_record(crossing))

    def encode_routed(self, decision: Decision) -> bytes:
        """A ``LeadRouted`` (ADR 039) of an ASSIGNED or RELEASED decision (an UNROUTED one is a dead letter)."""
        request = decision.request
        record = {
            "routing_id": decision.routing_id,
            "lead_id": request.lead_id,
            "model_id": request.model_id,
            "model_version": request.model_version,
            "level": request.level,
            "route_id": decision.route_id or "",
            "owner_id": decision.owner_id,
            "action": decision.action.value,
            "reason": decision.reason,
            "crossing_id": request.crossing_id,
            "occurred_at": request.occurred_at_ms,
        }
        return self.encode("LeadRouted", record)


def event_from_record(record: dict[str, Any]) -> LeadEvent:
    return LeadEvent(
        event_id=record["event_id"],
        lead_id=record["lead_id"],
        type=record["type"],
        occurred_at_ms=to_millis(record["occurred_at"]),
        source=record["source"],
        properties=record["properties"],
        account_id=record["account_id"],
    )


def event_to_record(event: LeadEvent) -> dict[str, Any]:
    return {
        "event_id": event.event_id,
        "lead_id": event.lead_id,
        "type": event.type,
        "occurred_at": event.occurred_at_ms,
        "properties": dict(event.properties),
        "source": event.source,
        "account_id": event.account_id,
    }


def conversion_from_record(record: dict[str, Any]) -> Conversion:
    return Conversion(
        conversion_id=record["conversion_id"],
        lead_id=record["lead_id"],
        outcome=Outcome(record["outcome"]),
        occurred_at_ms=to_millis(record["occurred_at"]),
        value=record["value"],
        currency=record["currency"],
    )


def conversion_to_record(conversion: Conversion) -> dict[str, Any]:
    return {
        "conversion_id": conversion.conversion_id,
        "lead_id": conversion.lead_id,
        "outcome": conversion.outcome.value,
        "value": conversion.value,
        "currency": conversion.currency,
        "occurred_at": conversion.occurred_at_ms,
    }


_PROFILE_FIELDS = ("email", "company", "company_size", "industry", "title", "seniority", "department", "country")


def profile_from_record(record: dict[str, Any]) -> LeadProfile:
    return LeadProfile(
        lead_id=record["lead_id"],
        updated_at_ms=to_millis(record["updated_at"]),
        attributes=record["attributes"],
        **{name: record[name] for name in _PROFILE_FIELDS},
    )


def profile_to_record(profile: LeadProfile) -> dict[str, Any]:
    record: dict[str, Any] = {name: getattr(profile, name) for name in _PROFILE_FIELDS}
    record.update(lead_id=profile.lead_id, updated_at=profile.updated_at_ms, attributes=dict(profile.attributes))
    return record


def snapshot_to_record(snapshot: ModelSnapshot) -> dict[str, Any]:
    """One model's view of a lead, as in ``LeadScore.models`` (and the query API)."""
    return {
        "model_id": snapshot.model_id,
        "model_version": snapshot.model_version,
        "score": snapshot.score,
        "engagement": snapshot.engagement,
        "fit": snapshot.fit,
        "grade": snapshot.grade,
        "levels": list(snapshot.levels),
        "trend": trend_to_record(snapshot.trend),
        "drops": [{"level": level, "drops_at": at_ms} for level, at_ms in snapshot.drops],
    }


def trend_to_record(trend: TrendReading | None) -> dict[str, Any] | None:
    """``ModelScore.trend``: None when the model has no trend."""
    if trend is None:
        return None
    return {"recent": trend.recent, "baseline": trend.baseline, "surging": trend.surging}


def change_to_record(change: ScoreChange) -> dict[str, Any]:
    return {
        "change_id": change.change_id,
        "lead_id": change.lead_id,
        "model_id": change.model_id,
        "model_version": change.model_version,
        "score": change.score,
        "previous_score": change.previous_score,
        "delta": change.delta,
        "engagement": change.engagement,
        "fit": change.fit,
        "grade": change.grade,
        "level": change.level,
        "cause": change.cause.value,
        "cause_event_id": change.cause_event_id,
        "occurred_at": change.occurred_at_ms,
        "contributions": [
            {"rule_id": c.rule_id, "points": c.points, "value_now": c.value_now} for c in change.contributions
        ],
    }


def crossing_to_record(crossing: ThresholdCrossing) -> dict[str, Any]:
    return {
        "crossing_id": crossing.crossing_id,
        "lead_id": crossing.lead_id,
        "model_id": crossing.model_id,
        "model_version": crossing.model_version,
        "level": crossing.level,
        "direction": crossing.direction.value,
        "threshold": crossing.threshold,
        "score": crossing.score,
        "cause": crossing.cause.value,
        "cause_event_id": crossing.cause_event_id,
        "occurred_at": crossing.occurred_at_ms,
    }
