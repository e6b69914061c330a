"""The scoring engine: events and profiles in, new lead state and explained outputs out. Pure and deterministic.

Time is event time in Unix milliseconds, passed in. ``now_ms`` (the stream's clock) defaults to the latest event
time the lead has seen. Output ids derive from their cause, so replaying the same input gives the same ids.
"""

from __future__ import annotations

from collections.abc import Sequence

from scoring.errors import InvalidEventError
from scoring.events import KNOWN_EVENT_TYPES, LeadEvent, event_fields
from scoring.levels import LevelBook, transition_time
from scoring.model.compile import ScoringModel
from scoring.modelstate import ModelState, contributions_at, count, rule_value, scores_at
from scoring.outputs import (
    Cause,
    Contribution,
    ModelSnapshot,
    Update,
    event_digest,
)
from scoring.profiles import LeadProfile, profile_fields
from scoring.state import LeadState

__all__ = ["Engine", "LateEventError"]


class LateEventError(InvalidEventError):
    """An event arrived later than the model's ``lateness`` allows (its lead has seen events much newer).

    It is not scored: leadscore could no longer tell it from a re-delivery. Raise ``lateness`` in the model if
    such delays are normal for this source, or fix the source's delay.
    """


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
        out = LevelBook(event.lead_id)
        for model in self.models:
            old = lead.models.get(model.id) or self._fresh(model)
            new = old.copy()
            new.model_version = model.version  # the version that last scored the lead (after a reload: the new one)
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
                if c.counted  # a capped or too-late event explains nothing
            )
            out.report(model, old, new, now, Cause.EVENT, event.event_id, contributions)
            models[model.id] = new
        return out.update(LeadState(event.lead_id, models, seen, latest))

    def apply_profile(self, state: LeadState | None, profile: LeadProfile, now_ms: int | None = None) -> Update:
        """Recompute fit (and segment membership) from a full profile; an older profile than the last is ignored."""
        lead = state if state is not None else LeadState(profile.lead_id)
        fields = profile_fields(profile)
        models = dict(lead.models)
        out = LevelBook(profile.lead_id)
        cause_id = f"profile@{profile.updated_at_ms}"
        for model in self.models:
            old = lead.models.get(model.id) or self._fresh(model)
            if profile.updated_at_ms < old.fit_at_ms:
                continue
            new = old.copy()
            new.model_version = model.version
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
        out = LevelBook(state.lead_id)
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
            if (at_ms := transition_time(model, model_state, level, max(now_ms, model_state.levels_at_ms))) is not None
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
