"""A lead as the worker stores it in its table and changelog: the domain state in an envelope of the shell's own.

State format 2 (ADR 033): one byte ``0x02``, then MessagePack of :class:`StoredLead`, every Struct by position::

    [partition, due_ms | nil, [lead_id, {model_id: ModelState}, {event_digest: at_ms}, latest_ms], trail | nil,
     moves | nil]

The envelope holds what is not domain state: the partition and the next due time (for rebuilding the due index
after a recovery without decoding the scores), the score trail (for joining conversions, ADR 017) and the lead's
last moves (score changes and crossings, for the lead page, ADR 040). Format 1, JSON of
:meth:`scoring.LeadState.to_dict` with the shell's ``p``, ``d`` and ``h`` keys inside it (written by 0.2), is still
read: a worker upgraded in place recovers its old changelog and writes format 2 from then on.
"""

from __future__ import annotations

from typing import Any

import msgspec
import orjson

from scoring import LeadState, StateFormatError
from scoring.trail import Move

FORMAT_2 = b"\x02"
_FORMAT_1 = b"{"  # JSON: format 1 values are JSON objects


class StoredLead(msgspec.Struct, array_like=True):
    """One lead's stored value: where it lives, when time alone next moves it across a level, its state and its
    score trail. The hot path keeps these decoded (one live object per lead) and encodes each once per batch."""

    partition: int
    due_ms: int | None
    state: LeadState
    trail: list[Any] | None = None
    moves: list[Move] | None = None  # the last score changes and crossings, for the lead page (ADR 040)


class _StateHead(msgspec.Struct, array_like=True):
    lead_id: str
    models: msgspec.Raw
    seen: msgspec.Raw
    latest_ms: int = 0


class _Head(msgspec.Struct, array_like=True):
    """What a recovery needs of a stored lead: the state's models and event digests are skipped, not decoded."""

    partition: int
    due_ms: int | None
    state: _StateHead


_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(StoredLead)
_head_decoder = msgspec.msgpack.Decoder(_Head)


def encode_stored(lead: StoredLead) -> bytes:
    """State format 2."""
    return FORMAT_2 + _encoder.encode(lead)


def decode_stored(value: bytes) -> StoredLead:
    """A stored value of format 2 or 1. Raises :class:`scoring.StateFormatError` for anything else."""
    marker = value[:1]
    try:
        if marker == FORMAT_2:
            return _decoder.decode(memoryview(value)[1:])
        if marker == _FORMAT_1:
            data = orjson.loads(value)
            return StoredLead(data.get("p", -1), data.get("d"), LeadState.from_dict(data), data.get("h"))
    except (msgspec.DecodeError, orjson.JSONDecodeError, KeyError, TypeError, ValueError) as exc:
        raise StateFormatError(f"a stored lead state cannot be read: {exc}") from None
    raise StateFormatError(f"lead state format {marker!r} is neither 2 (b'\\x02') nor 1 (JSON)")


def as_json(lead: StoredLead) -> dict[str, Any]:
    """The lead in format 1's JSON form (``to_dict`` with ``p``, ``d`` and ``h``): the query API's ``?raw=1``
    view, and what 0.2 wrote (the upgrade test writes a changelog of these)."""
    data = lead.state.to_dict()
    data["p"], data["d"] = lead.partition, lead.due_ms
    if lead.trail:
        data["h"] = lead.trail
    return data


def stored_head(value: bytes) -> tuple[int, int | None, int]:
    """``(partition, due_ms, latest event ms)`` of a stored value, without decoding its scores (recovery reads
    this for every lead it recovers)."""
    if value[:1] == FORMAT_2:
        try:
            head = _head_decoder.decode(memoryview(value)[1:])
        except msgspec.DecodeError as exc:
            raise StateFormatError(f"a stored lead state cannot be read: {exc}") from None
        return head.partition, head.due_ms, head.state.latest_ms
    lead = decode_stored(value)
    return lead.partition, lead.due_ms, lead.state.latest_ms
