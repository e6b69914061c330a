"""Outcomes from the CRM (opportunity, won, lost) and the scores a lead had when they happened.

A lead's *score trail* is what leadscore reported for it (score and levels per model, one point per score change),
kept for a bounded time beside its state. :func:`scores_at_conversion` answers "what score had this lead at time
t": exactly (decayed to t) when nothing happened to the lead after t, otherwise the last score reported at or
before t (not re-decayed between two changes: replaying the history, as ``leadscore evaluate`` does, gives that).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum
from typing import Any

from scoring.engine import Engine
from scoring.errors import InvalidEventError
from scoring.events import EARLIEST_EVENT_MS, LATEST_EVENT_MS, MAX_ID_LENGTH
from scoring.outputs import ModelSnapshot
from scoring.state import LeadState

#: At most this many points are kept in a lead's trail (the newest); older ones are dropped.
TRAIL_POINTS = 16

Reported = tuple[float, tuple[str, ...]]  # a score and the levels the lead was in, as reported
TrailPoint = tuple[int, dict[str, Reported]]  # (event time in ms, {model id: what was reported then})


class Outcome(StrEnum):
    OPPORTUNITY = "OPPORTUNITY"
    WON = "WON"
    LOST = "LOST"


@dataclass(frozen=True, slots=True)
class Conversion:
    """An outcome for a lead, at ``occurred_at_ms`` (event time, Unix milliseconds UTC)."""

    conversion_id: str
    lead_id: str
    outcome: Outcome
    occurred_at_ms: int
    value: float | None = None
    currency: str | None = None


def check_conversion(conversion: Conversion) -> None:
    """Raise :class:`InvalidEventError` when ``conversion`` cannot be used; return quietly otherwise."""
    if not conversion.lead_id.strip():
        raise InvalidEventError("lead_id is empty")
    if not conversion.conversion_id.strip():
        raise InvalidEventError("conversion_id is empty")
    if len(conversion.lead_id) > MAX_ID_LENGTH or len(conversion.conversion_id) > MAX_ID_LENGTH:
        raise InvalidEventError(f"lead_id or conversion_id longer than {MAX_ID_LENGTH} characters")
    if not EARLIEST_EVENT_MS <= conversion.occurred_at_ms < LATEST_EVENT_MS:
        raise InvalidEventError(f"occurred_at {conversion.occurred_at_ms} ms is outside 2000-01-01..2100-01-01")
    if conversion.value is not None and (not math.isfinite(conversion.value) or conversion.value < 0):
        raise InvalidEventError(f"value {conversion.value} is not a finite amount >= 0")


def extend_trail(
    trail: Sequence[TrailPoint], at_ms: int, reported: Mapping[str, Reported], keep_ms: int
) -> list[TrailPoint]:
    """``trail`` with what was reported at ``at_ms`` added, in time order, trimmed to what a lookup of any time
    after ``newest - keep_ms`` needs (the newest point at or before that time stays) and to :data:`TRAIL_POINTS`.
    A lookup of a time before the oldest point kept answers None (unknown), never a wrong score."""
    merged = {when: dict(then) for when, then in trail}
    merged.setdefault(at_ms, {}).update(reported)
    points = sorted(merged.items())
    horizon = points[-1][0] - keep_ms
    first = max((i for i, (when, _) in enumerate(points) if when <= horizon), default=0)
    return points[first:][-TRAIL_POINTS:]


def trail_lookup(trail: Sequence[TrailPoint], model_id: str, at_ms: int) -> Reported | None:
    """What was last reported for ``model_id`` at or before ``at_ms``; None when the trail does not reach back."""
    found: Reported | None = None
    for when, reported in trail:  # in time order
        if when > at_ms:
            break
        if model_id in reported:
            found = reported[model_id]
    return found


def trail_to_data(trail: Sequence[TrailPoint]) -> list[Any]:
    """The trail as plain JSON-friendly data: ``[[at_ms, {model: [score, [levels]]}], ...]``."""
    return [[when, {model: [score, list(levels)] for model, (score, levels) in then.items()}] for when, then in trail]


def trail_from_data(data: Any) -> list[TrailPoint]:
    return [(int(when), {m: (float(v[0]), tuple(v[1])) for m, v in then.items()}) for when, then in data or ()]


@dataclass(frozen=True, slots=True)
class ScoreAtConversion:
    """One model's view of a lead around an outcome (see the module text for ``exact``)."""

    model_id: str
    model_version: int
    score: float | None
    levels: tuple[str, ...]
    score_before: float | None
    exact: bool


def scores_at_conversion(
    engine: Engine, state: LeadState | None, trail: Sequence[TrailPoint], conversion: Conversion, lead_time_ms: int
) -> tuple[ScoreAtConversion, ...]:
    """The lead's score under every model that applies to it, at the outcome and ``lead_time_ms`` before it."""
    if state is None:
        return ()
    at = conversion.occurred_at_ms
    before = at - lead_time_ms
    last_activity = max(
        [state.latest_ms] + [max(m.anchor_ms, m.fit_at_ms) for m in state.models.values()],
    )
    now = _snapshots(engine, state, at) if at >= last_activity else {}
    then = _snapshots(engine, state, before) if before >= last_activity else {}
    joined = []
    for model in engine.models:
        model_state = state.models.get(model.id)
        if model_state is None or not model_state.applies:
            continue
        if model.id in now:
            score: float | None = now[model.id].score
            levels = now[model.id].levels
        else:
            reported = trail_lookup(trail, model.id, at)
            score, levels = (reported[0], reported[1]) if reported else (None, ())
        if model.id in then:
            score_before: float | None = then[model.id].score
        else:
            reported_before = trail_lookup(trail, model.id, before)
            score_before = reported_before[0] if reported_before else None
        joined.append(ScoreAtConversion(model.id, model.version, score, levels, score_before, model.id in now))
    return tuple(joined)


def _snapshots(engine: Engine, state: LeadState, at_ms: int) -> dict[str, ModelSnapshot]:
    """Scores and levels at ``at_ms`` (not before the lead's last activity), decay crossings up to then included."""
    advanced = engine.advance(state, at_ms).state
    return {snapshot.model_id: snapshot for snapshot in engine.snapshot(advanced, at_ms, top=0)}
