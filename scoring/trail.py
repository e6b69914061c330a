"""A lead's score trail: what leadscore reported for it, for joining conversions to the score at the time.

A lead's *score trail* is what leadscore reported for it (score and levels per model, one point per score change),
kept for a bounded time beside its state. :func:`scores_at_conversion` answers "what score had this lead at time
t": exactly (decayed to t) when nothing happened to the lead after t, otherwise the last score reported at or
before t (not re-decayed between two changes: replaying the history, as ``leadscore evaluate`` does, gives that).

A lead's *moves* are its last score changes and level crossings, each with what caused it (:class:`Move`), kept
beside its state for the lead page (ADR 040): what the page draws as the lead's past.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import msgspec

from scoring.conversions import Conversion
from scoring.engine import Engine
from scoring.outputs import Cause, Contribution, Direction, ModelSnapshot, Update
from scoring.state import LeadState

#: At most this many reports are kept in a lead's trail (the newest); older ones are dropped.
TRAIL_POINTS = 16


Reported = tuple[float, tuple[str, ...]]  # a score and the levels the lead was in, as reported


#: A trail as stored beside the lead's state: one flat list, four items per report, in time order:
#: ``[at_ms, model_id, score, "MQL|SQL", at_ms, ...]`` (levels joined by ``|``; level names cannot contain it).
#: Flat, because it is extended on every score change on the hot path: few objects, little JSON.
Trail = list[Any]


_WIDTH = 4


def extend_trail(trail: Trail | None, at_ms: int, reported: Mapping[str, Reported], keep_ms: int) -> Trail:
    """A new trail: ``trail`` (not changed) with what was reported at ``at_ms`` added in time order (a later report
    of a model at the same time replaces the earlier one), trimmed to what a lookup of any time after ``newest -
    keep_ms`` needs (the reports at the newest time at or before it stay) and to :data:`TRAIL_POINTS` reports. A
    lookup of a time before the oldest report kept answers None, never a wrong score."""
    items = list(trail) if trail else []
    for model_id, (score, levels) in reported.items():
        entry = [at_ms, model_id, score, "|".join(levels)]
        if not items or items[-_WIDTH] < at_ms:  # the usual case: in time order
            items.extend(entry)
            continue
        position = len(items)
        for index in range(0, len(items), _WIDTH):
            if items[index] == at_ms and items[index + 1] == model_id:
                position = -1
                items[index : index + _WIDTH] = entry
                break
            if items[index] > at_ms:
                position = index
                break
        if position >= 0:
            items[position:position] = entry
    horizon = items[-_WIDTH] - keep_ms
    kept_from = 0
    for index in range(0, len(items), _WIDTH):
        if items[index] > horizon:
            break
        if index == 0 or items[index] != items[index - _WIDTH]:
            kept_from = index  # the first report at the newest time at or before the horizon
    return items[kept_from:][-TRAIL_POINTS * _WIDTH :]


def reported_points(engine: Engine, update: Update) -> list[tuple[int, dict[str, Reported]]]:
    """What ``update`` reported, as trail points in time order: per model, the score and levels after every score
    change and every crossing (a crossing by decay changes the levels without a score change). The levels at each
    point are the lead's final levels with the later crossings of the update undone."""
    if not update.crossings:  # the usual case: score changes only, the levels are the final ones
        models = update.state.models
        by_time: dict[int, dict[str, Reported]] = {}
        for change in update.changes:
            by_time.setdefault(change.occurred_at_ms, {})[change.model_id] = (
                change.score,
                tuple(models[change.model_id].levels),
            )
        return sorted(by_time.items())
    order = {model.id: [level.name for level in model.levels] for model in engine.models}
    points: dict[int, dict[str, Reported]] = {}
    for model_id in sorted({c.model_id for c in update.changes} | {x.model_id for x in update.crossings}):
        crossings = sorted((x for x in update.crossings if x.model_id == model_id), key=lambda x: x.occurred_at_ms)
        scores = {x.occurred_at_ms: x.score for x in crossings}
        scores.update({c.occurred_at_ms: c.score for c in update.changes if c.model_id == model_id})
        model_state = update.state.models.get(model_id)
        final = set(model_state.levels) if model_state is not None else set()
        for at_ms in sorted(scores):
            levels = set(final)
            for crossing in reversed(crossings):  # undo, latest first, the crossings after ``at_ms``
                if crossing.occurred_at_ms <= at_ms:
                    break
                if crossing.direction is Direction.UP:
                    levels.discard(crossing.level)
                else:
                    levels.add(crossing.level)
            ordered = tuple(name for name in order.get(model_id, ()) if name in levels)
            points.setdefault(at_ms, {})[model_id] = (scores[at_ms], ordered)
    return sorted(points.items())


def trail_lookup(trail: Trail | None, model_id: str, at_ms: int) -> Reported | None:
    """What was last reported for ``model_id`` at or before ``at_ms``; None when the trail does not reach back."""
    found: Reported | None = None
    items = trail or ()
    for index in range(0, len(items), _WIDTH):  # in time order
        if items[index] > at_ms:
            break
        if items[index + 1] == model_id:
            levels = items[index + 3]
            found = (float(items[index + 2]), tuple(levels.split("|")) if levels else ())
    return found


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
    engine: Engine, state: LeadState | None, trail: Trail | None, conversion: Conversion, lead_time_ms: int
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
    return {snapshot.model_id: snapshot for snapshot in engine.snapshot(advanced, at_ms, top=0, drops=False)}


#: At most this many moves are kept per model that scored the lead (the newest); older ones are dropped.
HISTORY_MOVES = 24

#: Scores in a move are kept in hundredths of a point (small integers: a few bytes each instead of nine).
_HUNDREDTHS = 100.0


class Move(msgspec.Struct, array_like=True, frozen=True, omit_defaults=True):
    """One score change or level crossing as reported, for the lead page (a display history: scores in hundredths
    of a point). Encoded by position in the stored envelope, trailing defaults left out (append new fields at the
    end, with a default)."""

    at_ms: int
    model_id: str
    kind: str  # a change: E (an event), P (a profile); a crossing: U (entered ``level``), D (left it)
    score_c: int  # the score after it, in hundredths
    level: str | None = None  # a crossing: the level entered or left
    previous_c: int = 0  # a change: the score just before it (decayed to ``at_ms``)
    engagement_c: int = 0  # a change: engagement and fit after it
    fit_c: int = 0
    rule_id: str | None = None  # a change: the rule that moved it most
    points_c: int = 0  # ... and the points that rule added (or took)

    @property
    def score(self) -> float:
        return self.score_c / _HUNDREDTHS

    @property
    def previous(self) -> float:
        return self.previous_c / _HUNDREDTHS

    @property
    def engagement(self) -> float:
        return self.engagement_c / _HUNDREDTHS

    @property
    def fit(self) -> float:
        return self.fit_c / _HUNDREDTHS

    @property
    def points(self) -> float:
        return self.points_c / _HUNDREDTHS

    @property
    def is_change(self) -> bool:
        return self.kind in _CHANGE_KINDS


_CHANGE_KINDS = frozenset({"E", "P"})


def _c(value: float) -> int:
    return round(value * _HUNDREDTHS)


def extend_moves(moves: list[Move] | None, update: Update, per_model: int = HISTORY_MOVES) -> list[Move] | None:
    """A new list: ``moves`` (not changed) with the changes and crossings of ``update`` appended in their time
    order, trimmed to the newest ``per_model`` per model of the lead (0: none kept)."""
    if per_model == 0:
        return None
    if not update.changes and not update.crossings:
        return moves
    new = [
        Move(x.occurred_at_ms, x.model_id, "U" if x.direction is Direction.UP else "D", _c(x.score), level=x.level)
        for x in update.crossings
    ]
    for change in update.changes:
        top = _top(change.contributions)
        new.append(
            Move(
                change.occurred_at_ms,
                change.model_id,
                "P" if change.cause is Cause.PROFILE else "E",
                _c(change.score),
                None,
                _c(change.previous_score),
                _c(change.engagement),
                _c(change.fit),
                top.rule_id if top is not None else None,
                _c(top.points) if top is not None else 0,
            )
        )
    if update.crossings:
        new.sort(key=lambda move: move.at_ms)  # stable: at one time, crossings come before the change
    kept = [*moves, *new] if moves else new
    if len(kept) <= per_model:
        return kept
    counts: dict[str, int] = {}
    for move in kept:
        counts[move.model_id] = counts.get(move.model_id, 0) + 1
    if max(counts.values()) <= per_model:
        return kept
    drop = {model_id: n - per_model for model_id, n in counts.items() if n > per_model}  # each model's oldest
    trimmed = []
    for move in kept:
        if drop.get(move.model_id, 0) > 0:
            drop[move.model_id] -= 1
            continue
        trimmed.append(move)
    return trimmed


def _top(contributions: tuple[Contribution, ...]) -> Contribution | None:
    """The contribution that moved the score most (the first of equals)."""
    if len(contributions) < 2:
        return contributions[0] if contributions else None
    return max(contributions, key=lambda contribution: abs(contribution.points))
