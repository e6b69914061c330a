"""The records of identities: the ``lead-identities`` input as the engine sees it, the alias kept under an absorbed
id, the absorption carried to the survivor's partition (internal topic ``<app_id>-absorptions``, keyed by the
survivor), and the ``LeadMerged`` output.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import msgspec

from scoring.state import LeadState


class IdentityKind(StrEnum):
    IDENTIFY = "IDENTIFY"  # an anonymous id (``from_id``) is lead ``to_id``
    MERGE = "MERGE"  # lead ``from_id`` was merged into lead ``to_id`` (the CRM's duplicate merge)


@dataclass(frozen=True, slots=True)
class IdentityRecord:
    """One ``lead-identities`` record (keyed by ``from_id``)."""

    identity_id: str
    kind: IdentityKind
    from_id: str  # the absorbed id: anonymous, or the duplicate lead
    to_id: str  # the survivor
    occurred_at_ms: int


class Alias(msgspec.Struct, array_like=True, frozen=True):
    """Kept under an absorbed id on its partition: where its later events go, and the digests of the events it had
    counted (a re-delivery of one of those is a duplicate, not a new event for the survivor). ``erased``: the id was
    erased (a merge into it is a dead letter); then ``survivor_id`` is empty."""

    survivor_id: str
    identity_id: str
    kind: IdentityKind
    seen: dict[str, int] = msgspec.field(default_factory=dict)
    erased: bool = False


class Absorption(msgspec.Struct, array_like=True, frozen=True):
    """The absorbed lead's state on its way to the survivor's partition. ``state`` None: the absorbed id had no
    state (an identify before any anonymous event): only the alias and ``LeadMerged`` follow."""

    identity_id: str
    kind: IdentityKind
    absorbed_id: str
    survivor_id: str
    occurred_at_ms: int
    state: LeadState | None = None


_ENCODER = msgspec.msgpack.Encoder()
_ALIAS = msgspec.msgpack.Decoder(Alias)
_ABSORPTION = msgspec.msgpack.Decoder(Absorption)


def encode_alias(alias: Alias) -> bytes:
    return _ENCODER.encode(alias)


def decode_alias(data: bytes) -> Alias:
    return _ALIAS.decode(data)


def encode_absorption(absorption: Absorption) -> bytes:
    return _ENCODER.encode(absorption)


def decode_absorption(data: bytes) -> Absorption:
    """Raises ``msgspec.DecodeError`` / ``msgspec.ValidationError`` for bytes that are not an absorption."""
    return _ABSORPTION.decode(data)


@dataclass(frozen=True, slots=True)
class LeadMerged:
    """Sent on ``lead-merges`` (key: the absorbed id) when the survivor has taken the absorbed state in."""

    merge_id: str  # derived from the identity record's id: a re-delivery gives the same id
    identity_id: str
    kind: IdentityKind
    absorbed_id: str
    survivor_id: str
    occurred_at_ms: int
    events_merged: int  # events the absorbed id had scored (under its models, the largest count)
    scores: tuple[tuple[str, float, float], ...]  # per model: (model id, survivor's score before, after)
