"""A lead's state under every model, and its compact, versioned plain-data form for changelog-backed tables.

Format 1 (JSON-friendly; keys kept short because every changelog record carries them)::

    {"v": 1, "id": lead_id, "t": latest_ms, "e": {event_digest: age},
     "m": {model_id: {"mv": version, "a": anchor_ms, "r": {rule_id: value |
      [value, age, [ages], {bucket: [ages]}]}, "f": {rule_id: points}, "fa": fit_at_ms, "l": [levels], "la":
      levels_at_ms, "s": score, "n": events_scored, "x": 0 when the model does not apply}},
     "rf": {kept profile field: value}, "ac": {model_id: account_id}}     # the last two only when set

Times of windowed and capped contributions are stored as ages (``anchor - time``, small integers). Floats are
written exactly (shortest round-trip repr), so a state read back scores exactly as the one written.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import msgspec

from scoring.errors import LeadscoreError
from scoring.modelstate import ModelState, RuleState

FORMAT_VERSION = 1


class StateFormatError(LeadscoreError):
    """A stored lead state has a format this version cannot read (written by a newer leadscore?).

    Upgrade the workers so that all run the same version, then restart them.
    """


class LeadState(msgspec.Struct, array_like=True):
    """Everything leadscore keeps about one lead: one :class:`ModelState` per model id.

    Mutable: the engine's ``score_*`` methods change a working copy in place (the hot path keeps one live state
    per lead); its ``apply_*`` methods copy first and leave the given state as it was. A msgspec Struct: the
    shell's state format 2 encodes it as MessagePack, fields by position (append new fields at the end)."""

    lead_id: str
    models: dict[str, ModelState] = msgspec.field(default_factory=dict)
    #: Digests of the event ids applied within the lateness horizon, with their event times: re-deliveries of
    #: these are recognised and change nothing (at-least-once delivery never double-counts).
    seen: dict[str, int] = msgspec.field(default_factory=dict)
    latest_ms: int = 0  # the latest event time applied to this lead
    #: The profile fields routing conditions name (ADR 039), from the latest profile; only those, only when set.
    routing_fields: dict[str, str | int | float | None] = msgspec.field(default_factory=dict)
    #: Per model id with an ``account:`` section: the account the lead is a member of now (scoring/accounts).
    accounts: dict[str, str] = msgspec.field(default_factory=dict)
    #: Ids merged into this lead (identify or merge, scoring/identities): an erasure of this lead erases them too.
    absorbed: list[str] = msgspec.field(default_factory=list)

    def copy(self) -> LeadState:
        """A deep copy: changing it never changes this state."""
        return LeadState(
            self.lead_id,
            {key: value.copy() for key, value in self.models.items()},
            dict(self.seen),
            self.latest_ms,
            dict(self.routing_fields),
            dict(self.accounts),
            list(self.absorbed),
        )

    def to_dict(self) -> dict[str, Any]:
        data = {"v": FORMAT_VERSION, "id": self.lead_id, "m": {key: _dump(value) for key, value in self.models.items()}}
        if self.seen:
            data["e"] = {digest: self.latest_ms - at_ms for digest, at_ms in self.seen.items()}
            data["t"] = self.latest_ms
        if self.routing_fields:
            data["rf"] = self.routing_fields
        if self.accounts:
            data["ac"] = self.accounts
        return data

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> LeadState:
        if data.get("v") != FORMAT_VERSION:
            raise StateFormatError(f"lead state format {data.get('v')!r} is not {FORMAT_VERSION}")
        latest = data.get("t", 0)
        seen = {digest: latest - age for digest, age in data.get("e", {}).items()}
        models = {key: _load(value) for key, value in data["m"].items()}
        return cls(data["id"], models, seen, latest, dict(data.get("rf", {})), dict(data.get("ac", {})))


def _dump(state: ModelState) -> dict[str, Any]:
    data: dict[str, Any] = {"mv": state.model_version, "a": state.anchor_ms, "s": state.score, "n": state.events_scored}
    if state.rules:
        data["r"] = {
            rule_id: [rs.value, state.anchor_ms - rs.at_ms]
            if not rs.times and not rs.buckets
            else [
                rs.value,
                state.anchor_ms - rs.at_ms,
                _ages(state.anchor_ms, rs.times),
                {str(b): _ages(state.anchor_ms, t) for b, t in rs.buckets.items()},
            ]
            for rule_id, rs in state.rules.items()
        }
    if state.fit_points or state.fit_at_ms:
        data["f"], data["fa"] = state.fit_points, state.fit_at_ms
    if state.levels:
        data["l"] = state.levels
    if state.levels_at_ms:
        data["la"] = state.levels_at_ms
    if not state.applies:
        data["x"] = 0
    return data


def _ages(anchor_ms: int, times: list[int]) -> list[int]:
    return [anchor_ms - at_ms for at_ms in times]


def _times(anchor_ms: int, ages: list[int]) -> list[int]:
    return [anchor_ms - age for age in ages]


def _load(data: Mapping[str, Any]) -> ModelState:
    rules = {}
    anchor = data["a"]
    for rule_id, raw in data.get("r", {}).items():
        value, age, *rest = raw
        times, buckets = rest if rest else ([], {})
        rules[rule_id] = RuleState(
            float(value), anchor - age, _times(anchor, times), {int(b): _times(anchor, a) for b, a in buckets.items()}
        )
    return ModelState(
        model_version=data["mv"],
        anchor_ms=data["a"],
        rules=rules,
        fit_points=dict(data.get("f", {})),
        fit_at_ms=data.get("fa", 0),
        levels=list(data.get("l", [])),
        score=data["s"],
        events_scored=data["n"],
        applies="x" not in data,
        levels_at_ms=data.get("la", 0),
    )
