"""The scoring engine: events and profiles in, new lead state and explained outputs out. Pure and deterministic.

Time is event time in Unix milliseconds, passed in. ``now_ms`` (the stream's clock) defaults to the latest event
time the lead has seen. Output ids derive from their cause, so replaying the same input gives the same ids.
"""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from enum import StrEnum

from scoring.errors import InvalidEventError
from scoring.events import KNOWN_EVENT_TYPES, LeadEvent, event_fields
from scoring.model import Level, ScoringModel
from scoring.modelstate import (
    ModelState,
    Scores,
    contributions_at,
    count,
    first_time_score,
    monotone_between,
    rule_value,
    scores_at,
)
from scoring.profiles import LeadProfile, profile_fields
from scoring.state import LeadState

#: Namespace of every id leadscore derives (uuid5), fixed forever so ids stay stable across versions.
ID_NAMESPACE = uuid.UUID("6f1d3c1e-8a4b-5d2e-9c7f-1a2b3c4d5e6f")
#: Score moves smaller than this (relative) are float noise, not changes.
EPSILON = 1e-9


class Direction(StrEnum):
    UP = "UP"
    DOWN = "DOWN"


class Cause(StrEnum):
    EVENT = "EVENT"
    DECAY = "DECAY"
    PROFILE = "PROFILE"


@dataclass(frozen=True, slots=True)
class Contribution:
    """One rule's part in a change: ``points`` it added (or took) now, and its whole decayed ``value_now``."""

    rule_id: str
    points: float
    value_now: float


@dataclass(frozen=True, slots=True)
class ScoreChange:
    change_id: str
    lead_id: str
    model_id: str
    model_version: int
    previous_score: float
    score: float
    engagement: float
    fit: float
    grade: str
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
class Update:
    """The lead's new state and what to emit. ``duplicate``: the event was applied before; nothing changed."""

    state: LeadState
    changes: tuple[ScoreChange, ...] = ()
    crossings: tuple[ThresholdCrossing, ...] = ()
    duplicate: bool = False


class LateEventError(InvalidEventError):
    """An event arrived later than the model's ``lateness`` allows (its lead has seen events much newer).

    It is not scored: leadscore could no longer tell it from a re-delivery. Raise ``lateness`` in the model if
    such delays are normal for this source, or fix the source's delay.
    """


def event_digest(event_id: str) -> str:
    """A short, stable digest of an event id (48 bits), for recognising re-deliveries."""
    return hashlib.blake2b(event_id.encode(), digest_size=6).hexdigest()


@dataclass(frozen=True, slots=True)
class ModelSnapshot:
    model_id: str
    model_version: int
    applies: bool
    score: float
    engagement: float
    fit: float
    grade: str
    levels: tuple[str, ...]
    top_contributors: tuple[tuple[str, float], ...]


def derived_id(*parts: object) -> str:
    """A stable UUID (v5) for an output, from the parts that identify its cause."""
    return str(uuid.uuid5(ID_NAMESPACE, "|".join(str(part) for part in parts)))


def _moved(before: float, after: float) -> bool:
    return abs(after - before) > EPSILON * max(1.0, abs(before), abs(after))


class Engine:
    """Scores leads under several models at once. Build once per process; every method is pure."""

    def __init__(self, models: Sequence[ScoringModel]) -> None:
        self.models = tuple(models)
        self.known_event_types = KNOWN_EVENT_TYPES.union(*(model.event_types for model in self.models))
        self.horizon_ms = max((model.lateness_ms for model in self.models), default=0)

    def _fresh(self, model: ScoringModel) -> ModelState:
        return ModelState(model.version, applies=model.segment is None)

    def apply_event(self, state: LeadState | None, event: LeadEvent, now_ms: int | None = None) -> Update:
        """Score one event. A re-delivered event (same id) changes nothing; one later than the lateness horizon
        raises :class:`LateEventError`."""
        lead = state if state is not None else LeadState(event.lead_id)
        digest = event_digest(event.event_id)
        if digest in lead.seen:
            return Update(lead, duplicate=True)
        if event.occurred_at_ms < lead.latest_ms - self.horizon_ms:
            raise LateEventError(
                f"event {event.event_id!r} is {(lead.latest_ms - event.occurred_at_ms) // 3_600_000} h older than"
                f" the lead's latest event; the models allow {self.horizon_ms // 3_600_000} h of lateness"
            )
        latest = max(lead.latest_ms, event.occurred_at_ms)
        seen = {d: at for d, at in lead.seen.items() if at >= latest - self.horizon_ms}
        seen[digest] = event.occurred_at_ms
        fields = event_fields(event)
        models = dict(lead.models)
        out = _Output(event.lead_id)
        for model in self.models:
            old = lead.models.get(model.id) or self._fresh(model)
            new = old.copy()
            new.events_scored += 1
            new.anchor_ms = max(new.anchor_ms, event.occurred_at_ms)
            now = max(now_ms or 0, new.anchor_ms)
            counted = [
                count(new, model, rule, event.occurred_at_ms, now)
                for rule in model.rules_for(event.type)
                if rule.condition(fields)
            ]
            contributions = tuple(
                Contribution(c.rule.id, c.points_now, rule_value(c.rule, new.rules[c.rule.id], now))
                for c in counted
                if c.rule.id in new.rules
            )
            out.report(model, old, new, now, Cause.EVENT, event.event_id, contributions)
            models[model.id] = new
        return out.update(LeadState(event.lead_id, models, seen, latest))

    def apply_profile(self, state: LeadState | None, profile: LeadProfile, now_ms: int | None = None) -> Update:
        """Recompute fit (and segment membership) from a full profile; an older profile than the last is ignored."""
        lead = state if state is not None else LeadState(profile.lead_id)
        fields = profile_fields(profile)
        models = dict(lead.models)
        out = _Output(profile.lead_id)
        cause_id = f"profile@{profile.updated_at_ms}"
        for model in self.models:
            old = lead.models.get(model.id) or self._fresh(model)
            if profile.updated_at_ms < old.fit_at_ms:
                continue
            new = old.copy()
            new.fit_points = {rule.id: rule.points for rule in model.fit_rules if rule.condition(fields)}
            new.fit_at_ms = profile.updated_at_ms
            new.applies = model.segment is None or model.segment(fields)
            now = max(now_ms or 0, new.anchor_ms, profile.updated_at_ms)
            changed = set(old.fit_points.items()) ^ set(new.fit_points.items())
            values = contributions_at(model, new, now)
            contributions = tuple(
                Contribution(
                    rule_id,
                    new.fit_points.get(rule_id, 0.0) - old.fit_points.get(rule_id, 0.0),
                    values.get(rule_id, 0.0),
                )
                for rule_id in sorted({rule_id for rule_id, _ in changed})
            )
            out.report(model, old, new, now, Cause.PROFILE, cause_id, contributions)
            models[model.id] = new
        return out.update(LeadState(profile.lead_id, models, lead.seen, lead.latest_ms))

    def advance(self, state: LeadState, now_ms: int) -> Update:
        """Crossings caused by time alone, up to ``now_ms``; each at the exact event time it happened."""
        models = dict(state.models)
        out = _Output(state.lead_id)
        for model in self.models:
            old = state.models.get(model.id)
            if old is None or not old.applies:
                continue
            new = old.copy()
            out.decay_crossings(model, new, now_ms)
            models[model.id] = new
        return out.update(LeadState(state.lead_id, models, state.seen, state.latest_ms))

    def next_due(self, state: LeadState, now_ms: int) -> int | None:
        """The earliest time after ``now_ms`` at which time alone would move the lead across a level, or None."""
        due = [
            at_ms
            for model in self.models
            if (model_state := state.models.get(model.id)) is not None and model_state.applies
            for level in model.levels
            if (at_ms := _transition_time(model, model_state, level, max(now_ms, model_state.levels_at_ms))) is not None
        ]
        return min(due, default=None)

    def snapshot(self, state: LeadState, now_ms: int, top: int = 5) -> tuple[ModelSnapshot, ...]:
        """Each model's scores for the lead at ``now_ms``, with its top contributors by size."""
        snapshots = []
        for model in self.models:
            model_state = state.models.get(model.id) or self._fresh(model)
            at = max(now_ms, model_state.anchor_ms)
            scores = scores_at(model, model_state, at)
            values = contributions_at(model, model_state, at) if top else {}
            ranked = sorted(values.items(), key=lambda item: (-abs(item[1]), item[0]))[:top]
            snapshots.append(
                ModelSnapshot(
                    model.id,
                    model.version,
                    model_state.applies,
                    scores.combined,
                    scores.engagement,
                    scores.fit,
                    scores.grade,
                    tuple(model_state.levels),
                    tuple(ranked),
                )
            )
        return tuple(snapshots)


def _time_may_have_crossed(model: ScoringModel, state: ModelState, now_ms: int, score_now: float) -> bool:
    """Whether time alone may have moved the lead across a level since its levels were last checked."""
    since = max(state.anchor_ms, state.levels_at_ms)
    if now_ms <= since or not model.levels:
        return False
    if any((score_now < lv.leave) if lv.name in state.levels else (score_now >= lv.enter) for lv in model.levels):
        return True
    return not monotone_between(model, state, since, now_ms)  # it may have crossed and come back


def _transition_time(model: ScoringModel, state: ModelState, level: Level, after_ms: int) -> int | None:
    start = max(after_ms, state.anchor_ms)
    if level.name in state.levels:
        return first_time_score(model, state, start, below=level.leave)
    return first_time_score(model, state, start, at_least=level.enter)


class _Output:
    """Collects the changes and crossings of one update, and keeps each model's level state in step."""

    def __init__(self, lead_id: str) -> None:
        self.lead_id = lead_id
        self.changes: list[ScoreChange] = []
        self.crossings: list[ThresholdCrossing] = []

    def update(self, state: LeadState) -> Update:
        return Update(state, tuple(self.changes), tuple(self.crossings))

    def report(
        self,
        model: ScoringModel,
        old: ModelState,
        new: ModelState,
        now_ms: int,
        cause: Cause,
        cause_id: str,
        contributions: tuple[Contribution, ...],
    ) -> None:
        before = scores_at(model, old, now_ms) if old.applies else None
        if before is not None and _time_may_have_crossed(model, old, now_ms, before.combined):
            probe = old.copy()
            self.decay_crossings(model, probe, now_ms)
            new.levels = probe.levels
        after = scores_at(model, new, now_ms)
        new.score = after.combined
        if not new.applies:
            self._leave_all(model, new, after.combined, cause, cause_id, now_ms)
            return
        previous = before.combined if before is not None else 0.0
        self._levels(model, new, after.combined, cause, cause_id, now_ms)
        new.levels_at_ms = max(new.levels_at_ms, now_ms)
        if _moved(previous, after.combined):
            self.changes.append(self._change(model, new, previous, after, cause, cause_id, now_ms, contributions))

    def decay_crossings(self, model: ScoringModel, state: ModelState, now_ms: int) -> None:
        """Levels left (or entered) through time alone up to ``now_ms``, each at the exact time it happened."""
        since = max(state.anchor_ms, state.levels_at_ms)
        if _time_may_have_crossed(model, state, now_ms, scores_at(model, state, now_ms).combined):
            while True:
                due = [
                    (at, lv)
                    for lv in model.levels
                    if (at := _transition_time(model, state, lv, since)) is not None and at <= now_ms
                ]
                if not due:
                    break
                since, _ = min(due, key=lambda item: (item[0], item[1].enter))
                self._levels(model, state, scores_at(model, state, since).combined, Cause.DECAY, None, since)
        state.levels_at_ms = now_ms

    def _levels(
        self, model: ScoringModel, state: ModelState, score: float, cause: Cause, cause_id: str | None, at_ms: int
    ) -> None:
        entered = [lv for lv in model.levels if lv.name not in state.levels and score >= lv.enter]
        left = [lv for lv in reversed(model.levels) if lv.name in state.levels and score < lv.leave]
        for level in entered:
            state.levels.append(level.name)
            self._cross(model, level, Direction.UP, level.enter, score, cause, cause_id, at_ms)
        for level in left:
            state.levels.remove(level.name)
            self._cross(model, level, Direction.DOWN, level.leave, score, cause, cause_id, at_ms)
        state.levels.sort(key=lambda name: [lv.name for lv in model.levels].index(name))

    def _leave_all(
        self, model: ScoringModel, state: ModelState, score: float, cause: Cause, cause_id: str, at_ms: int
    ) -> None:
        for level in reversed(model.levels):
            if level.name in state.levels:
                state.levels.remove(level.name)
                self._cross(model, level, Direction.DOWN, level.leave, score, cause, cause_id, at_ms)

    def _cross(
        self,
        model: ScoringModel,
        level: Level,
        direction: Direction,
        threshold: float,
        score: float,
        cause: Cause,
        cause_id: str | None,
        at_ms: int,
    ) -> None:
        self.crossings.append(
            ThresholdCrossing(
                crossing_id=derived_id(
                    "crossing", self.lead_id, model.id, model.version, level.name, direction, cause, cause_id or at_ms
                ),
                lead_id=self.lead_id,
                model_id=model.id,
                model_version=model.version,
                level=level.name,
                direction=direction,
                threshold=threshold,
                score=score,
                cause=cause,
                cause_event_id=cause_id,
                occurred_at_ms=at_ms,
            )
        )

    def _change(
        self,
        model: ScoringModel,
        state: ModelState,
        previous: float,
        after: Scores,
        cause: Cause,
        cause_id: str,
        at_ms: int,
        contributions: tuple[Contribution, ...],
    ) -> ScoreChange:
        return ScoreChange(
            change_id=derived_id("change", self.lead_id, model.id, model.version, cause, cause_id),
            lead_id=self.lead_id,
            model_id=model.id,
            model_version=model.version,
            previous_score=previous,
            score=after.combined,
            engagement=after.engagement,
            fit=after.fit,
            grade=after.grade,
            level=state.levels[-1] if state.levels else None,
            cause=cause,
            cause_event_id=cause_id,
            occurred_at_ms=at_ms,
            contributions=contributions,
        )
