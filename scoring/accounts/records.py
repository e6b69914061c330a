"""The records of the account roll-up: what a lead tells its account (:class:`MemberUpdate`, on the internal topic
``<app_id>-account-inputs``, keyed by account id) and what the account engine reports (changes, crossings,
snapshots), as the Avro contracts ``AccountScoreChanged``, ``AccountThresholdCrossed`` and ``AccountScore`` carry them.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import msgspec

from scoring.model.conditions import FieldValue
from scoring.modelstate import ModelState
from scoring.outputs import Contribution, Direction, TrendReading


class MemberCause(StrEnum):
    EVENT = "EVENT"  # a behavioural event of the member
    PROFILE = "PROFILE"  # the member's profile changed (role, seniority, firmographics)
    MERGE = "MERGE"  # another lead was merged into the member (scoring/identities)
    LEFT = "LEFT"  # the member now belongs to another account, or was merged into another lead
    ERASED = "ERASED"  # the member was erased


class MemberUpdate(msgspec.Struct, array_like=True, frozen=True):
    """One member's state under one model, as its account needs it. MessagePack by position on the internal topic:
    append new fields at the end, with a default. ``state`` None: the member leaves the account (LEFT, ERASED)."""

    account_id: str
    member_id: str
    model_id: str
    model_version: int
    cause: MemberCause
    cause_id: str  # the event id, ``profile@<ms>``, the identity record's id, or the erasure request's id
    occurred_at_ms: int
    state: ModelState | None
    fields: dict[str, FieldValue] = msgspec.field(default_factory=dict)  # the member's kept profile fields
    fields_at_ms: int = 0  # when the profile that gave ``fields`` was updated


_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder(MemberUpdate)


def encode_member_update(update: MemberUpdate) -> bytes:
    return _ENCODER.encode(update)


def decode_member_update(data: bytes) -> MemberUpdate:
    """Raises ``msgspec.DecodeError`` / ``msgspec.ValidationError`` for bytes that are not a member update."""
    return _DECODER.decode(data)


class AccountCause(StrEnum):
    MEMBER = "MEMBER"  # a member's update (its cause in ``member_cause``)
    DECAY = "DECAY"  # the passing of time


@dataclass(frozen=True, slots=True)
class MemberShare:
    """One member's part in an account score: its weighted, capped engagement now, and what this change moved."""

    member_id: str
    role: str | None
    weight: float
    points: float  # what this change added (or took) through this member
    value_now: float  # the member's weighted, capped engagement now


@dataclass(frozen=True, slots=True)
class AccountChange:
    change_id: str
    account_id: str
    model_id: str
    model_version: int
    previous_score: float
    score: float
    engagement: float
    fit: float
    coverage: tuple[str, ...]  # the buying-group roles engaged now
    level: str | None
    cause: AccountCause
    member_cause: MemberCause | None
    cause_id: str | None
    occurred_at_ms: int
    members: tuple[MemberShare, ...]  # the members that moved
    rules: tuple[Contribution, ...]  # the member's rules that moved (for a member update)

    @property
    def delta(self) -> float:
        return self.score - self.previous_score


@dataclass(frozen=True, slots=True)
class AccountCrossing:
    crossing_id: str
    account_id: str
    model_id: str
    model_version: int
    level: str
    direction: Direction
    threshold: float
    score: float
    coverage: tuple[str, ...]
    cause: AccountCause
    cause_id: str | None
    occurred_at_ms: int


#: An account's trend at one time: the lead's reading (gained in the window ending now, the average per window
#: before, surging), read off the account's own gains (scoring/accounts/trend.py)
AccountTrendReading = TrendReading


@dataclass(frozen=True, slots=True)
class AccountSnapshot:
    account_id: str
    model_id: str
    model_version: int
    score: float
    engagement: float
    fit: float
    levels: tuple[str, ...]
    coverage: tuple[str, ...]  # roles engaged
    missing_roles: tuple[str, ...]  # roles the buying group needs that no engaged member has
    member_count: int
    top_members: tuple[MemberShare, ...]  # by value, largest first
    trend: AccountTrendReading | None = None
    #: per level held: when time alone takes the account out of it if nothing else happens (None: never)
    drops: tuple[tuple[str, int | None], ...] = ()
