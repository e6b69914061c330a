"""The scoring step: one event, one lead's state under one model, in; the new state and what changed, out.

Pure and deterministic: no clock, no I/O. Identifiers of outputs are derived from their cause, so replaying the
same input gives the same ids and a consumer can drop duplicates.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from enum import StrEnum

from scoring.events import LeadEvent
from scoring.model import ScoringModel

#: Namespace of every id leadscore derives (uuid5), fixed forever so ids stay stable across versions.
ID_NAMESPACE = uuid.UUID("6f1d3c1e-8a4b-5d2e-9c7f-1a2b3c4d5e6f")


class Direction(StrEnum):
    UP = "UP"
    DOWN = "DOWN"


class Cause(StrEnum):
    EVENT = "EVENT"
    DECAY = "DECAY"
    PROFILE = "PROFILE"


@dataclass(frozen=True, slots=True)
class Contribution:
    """Points that one rule added (or took away) in one change."""

    rule_id: str
    points: float


@dataclass(frozen=True, slots=True)
class LeadScore:
    """A lead's score under one model version, and the points each rule has given so far."""

    lead_id: str
    model_id: str
    model_version: int
    score: float = 0.0
    level: str | None = None
    events_scored: int = 0
    updated_at_ms: int = 0
    points_by_rule: Mapping[str, float] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class ScoreChange:
    change_id: str
    lead_id: str
    model_id: str
    model_version: int
    previous_score: float
    score: float
    level: str | None
    cause: Cause
    cause_event_id: str | None
    occurred_at_ms: int
    contributions: tuple[Contribution, ...]

    @property
    def delta(self) -> float:
        return self.score - self.previous_score


@dataclass(frozen=True, slots=True)
class ThresholdCrossing:
    crossing_id: str
    lead_id: str
    model_id: str
    model_version: int
    level: str
    direction: Direction
    threshold: float
    score: float
    cause: Cause
    cause_event_id: str | None
    occurred_at_ms: int


@dataclass(frozen=True, slots=True)
class Outcome:
    """What one event did to one lead under one model. ``change`` is None when the score did not move."""

    state: LeadScore
    change: ScoreChange | None = None
    crossings: tuple[ThresholdCrossing, ...] = ()


def derived_id(*parts: object) -> str:
    """A stable UUID (v5) for an output, from the parts that identify its cause."""
    return str(uuid.uuid5(ID_NAMESPACE, "|".join(str(part) for part in parts)))


def level_for(model: ScoringModel, score: float) -> str | None:
    """The highest level whose ``enter`` score ``score`` reaches, or None below every level."""
    reached = None
    for level in model.levels:
        if score >= level.enter:
            reached = level.name
    return reached


def initial_state(model: ScoringModel, lead_id: str) -> LeadScore:
    return LeadScore(lead_id=lead_id, model_id=model.id, model_version=model.version)


def score_event(model: ScoringModel, state: LeadScore | None, event: LeadEvent) -> Outcome:
    """Apply ``event`` to ``state`` (None for a lead never seen) under ``model``."""
    before = state if state is not None else initial_state(model, event.lead_id)
    contributions = tuple(Contribution(rule.id, rule.points) for rule in model.rules_for(event.type))
    points = dict(before.points_by_rule)
    for contribution in contributions:
        points[contribution.rule_id] = points.get(contribution.rule_id, 0.0) + contribution.points
    score = sum(points.values())
    after = replace(
        before,
        score=score,
        level=level_for(model, score),
        events_scored=before.events_scored + 1,
        updated_at_ms=max(before.updated_at_ms, event.occurred_at_ms),
        points_by_rule=points,
    )
    if score == before.score:
        return Outcome(state=after)
    change = ScoreChange(
        change_id=derived_id("change", event.lead_id, model.id, model.version, event.event_id),
        lead_id=event.lead_id,
        model_id=model.id,
        model_version=model.version,
        previous_score=before.score,
        score=score,
        level=after.level,
        cause=Cause.EVENT,
        cause_event_id=event.event_id,
        occurred_at_ms=event.occurred_at_ms,
        contributions=contributions,
    )
    return Outcome(state=after, change=change, crossings=_crossings(model, before, after, event))


def _crossings(
    model: ScoringModel, before: LeadScore, after: LeadScore, event: LeadEvent
) -> tuple[ThresholdCrossing, ...]:
    """One crossing per level passed, in the order passed (MQL before SQL going up, SQL before MQL going down)."""
    crossed = []
    for level in model.levels:
        was_in, is_in = before.score >= level.enter, after.score >= level.enter
        if was_in != is_in:
            crossed.append((level, Direction.UP if is_in else Direction.DOWN))
    if crossed and crossed[0][1] is Direction.DOWN:
        crossed.reverse()
    return tuple(
        ThresholdCrossing(
            crossing_id=derived_id("crossing", event.lead_id, model.id, model.version, level.name, event.event_id),
            lead_id=event.lead_id,
            model_id=model.id,
            model_version=model.version,
            level=level.name,
            direction=direction,
            threshold=level.enter,
            score=after.score,
            cause=Cause.EVENT,
            cause_event_id=event.event_id,
            occurred_at_ms=event.occurred_at_ms,
        )
        for level, direction in crossed
    )
