"""An account's state under every account model, and its MessagePack form for the changelog-backed account table.

Per model: its members (each with the copy of its :class:`~scoring.modelstate.ModelState` its latest member update
carried: the account values members by that copy, never re-scores their events), the account's fields
(firmographics from the members' latest profiles), fit points, levels, the score at the last update and the
trend's gains per bucket. Fields by position (``array_like``): append new fields at the end, with a default.
"""

from __future__ import annotations

import msgspec

from scoring.model.conditions import FieldValue
from scoring.modelstate import ModelState

__all__ = ["AccountMember", "AccountModelState", "AccountState", "decode_account_state", "encode_account_state"]


class AccountMember(msgspec.Struct, array_like=True, dict=True):
    """One member lead as its account keeps it: its state under the lead model, its kept profile fields."""

    state: ModelState
    fields: dict[str, FieldValue] = msgspec.field(default_factory=dict)
    fields_at_ms: int = 0
    updated_at_ms: int = 0  # the occurred_at_ms of its latest member update (eviction keeps the latest)

    def copy(self) -> AccountMember:
        return AccountMember(self.state.copy(), dict(self.fields), self.fields_at_ms, self.updated_at_ms)


class AccountModelState(msgspec.Struct, array_like=True, dict=True):
    """An account under one account model (the lead model's id). Changed in place by the account engine."""

    model_version: int
    members: dict[str, AccountMember] = msgspec.field(default_factory=dict)
    fields: dict[str, FieldValue] = msgspec.field(default_factory=dict)  # the account's firmographics
    fit_points: dict[str, float] = msgspec.field(default_factory=dict)
    levels: list[str] = msgspec.field(default_factory=list)
    levels_at_ms: int = 0  # levels are known to be right up to this time
    score: float = 0.0  # at ``anchor_ms``
    anchor_ms: int = 0  # the latest member update time applied
    #: trend: bucket (time // window) -> gains in integer millionths of a point (sums independent of order)
    gains: dict[int, int] = msgspec.field(default_factory=dict)

    def copy(self) -> AccountModelState:
        return AccountModelState(
            self.model_version,
            {member_id: member.copy() for member_id, member in self.members.items()},
            dict(self.fields),
            dict(self.fit_points),
            list(self.levels),
            self.levels_at_ms,
            self.score,
            self.anchor_ms,
            dict(self.gains),
        )


class AccountState(msgspec.Struct, array_like=True):
    """Everything leadscore keeps about one account: one :class:`AccountModelState` per account model."""

    account_id: str
    models: dict[str, AccountModelState] = msgspec.field(default_factory=dict)

    def copy(self) -> AccountState:
        """A deep copy: changing it never changes this state."""
        return AccountState(self.account_id, {key: value.copy() for key, value in self.models.items()})


_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder(AccountState)


def encode_account_state(state: AccountState) -> bytes:
    """MessagePack, fields by position; floats exact, so a state read back scores exactly as the one written."""
    return _ENCODER.encode(state)


def decode_account_state(data: bytes) -> AccountState:
    """Raises ``msgspec.DecodeError`` / ``msgspec.ValidationError`` for bytes that are not an account state."""
    return _DECODER.decode(data)
