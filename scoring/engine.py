"""The scoring engine: events and profiles in, new lead state and explained outputs out. Pure and deterministic.

Time is event time in Unix milliseconds, passed in. ``now_ms`` (the stream's clock) defaults to the latest event
time the lead has seen. Output ids derive from their cause, so replaying the same input gives the same ids.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import replace

from scoring.errors import InvalidEventError
from scoring.events import KNOWN_EVENT_TYPES, LeadEvent, event_fields
from scoring.filters import score_filtered
from scoring.levels import LevelBook, transition_time
from scoring.model.accountspec import account_kept_fields, kept_fields
from scoring.model.compile import ScoringModel
from scoring.model.conditions import FieldValue, always
from scoring.model.routingspec import kept_profile_fields
from scoring.modelstate import ModelState, Scores, contributions_at, count, rule_value, scores_at
from scoring.outputs import Cause, Contribution, Ignored, ModelSnapshot, Update, event_digest
from scoring.profiles import LeadProfile, profile_fields
from scoring.state import LeadState
from scoring.trend import next_trend_change, record_gain, surging_after_input, surging_by_time, trend_reading

__all__ = ["Engine", "LateEventError", "Transitions", "earliest"]

_NONE: Mapping[str, tuple[int, Scores]] = {}
#: Per model id: ``(level name, time)`` for each of its levels (see :meth:`Engine.transitions`).
Transitions = Mapping[str, tuple[tuple[str, int | None], ...]]


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
        #: the profile fields routing conditions (ADR 039) and account sections (ADR 041) read, kept in the state
        self.routing_fields = kept_profile_fields(route for model in self.models for route in model.routing)
        self.routing_fields |= account_kept_fields(model.account for model in self.models)

    def _fresh(self, model: ScoringModel) -> ModelState:
        return ModelState(model.version, applies=model.segment is None)

    def _model_state(self, lead: LeadState, model: ScoringModel) -> ModelState:
        state = lead.models.get(model.id)
        if state is None:
            state = lead.models[model.id] = self._fresh(model)
        return state

    def apply_event(self, state: LeadState | None, event: LeadEvent, now_ms: int | None = None) -> Update:
        """Score one event without touching ``state`` (the update carries a new one). A re-delivered event (same
        id) changes nothing; one later than the lateness horizon raises :class:`LateEventError`."""
        return self.score_event(state.copy() if state is not None else None, event, now_ms)

    def score_event(self, state: LeadState | None, event: LeadEvent, now_ms: int | None = None) -> Update:
        """:meth:`apply_event` on a working copy: changes ``state`` in place (the hot path keeps one live state
        per lead and discards it when a batch fails). ``state`` is unchanged when this raises."""
        lead = state if state is not None else LeadState(event.lead_id)
        digest = event_digest(event.event_id)
        seen = lead.seen
        if digest in seen:
            return Update(lead, duplicate=True)
        at_ms = event.occurred_at_ms
        if at_ms < lead.latest_ms - self.horizon_ms:
            raise LateEventError(
                f"event {event.event_id!r} is {(lead.latest_ms - at_ms) // 3_600_000} h older than"
                f" the lead's latest event; the models allow {self.horizon_ms // 3_600_000} h of lateness"
            )
        lead.latest_ms = latest = max(lead.latest_ms, at_ms)
        if seen and min(seen.values()) < latest - self.horizon_ms:
            for expired in [d for d, seen_at in seen.items() if seen_at < latest - self.horizon_ms]:
                del seen[expired]
        seen[digest] = at_ms
        fields: dict[str, str | None] | None = None
        out = LevelBook(event.lead_id)
        ignored: tuple[Ignored, ...] = ()
        for model in self.models:
            model_state = self._model_state(lead, model)
            now = max(now_ms or 0, model_state.anchor_ms, at_ms)
            before = out.before(model, model_state, now)
            trended = model.trend is not None
            if trended and before is not None:
                out.crossings += surging_by_time(model, model_state, event.lead_id, now)
            model_state.model_version = model.version  # the version that last scored the lead (after a reload)
            model_state.events_scored += 1
            model_state.anchor_ms = max(model_state.anchor_ms, at_ms)
            if model.filters is not None:  # bots and scanners (ADR 036): may ignore it, or take back earlier events
                fields = fields if fields is not None else event_fields(event)
                screened = score_filtered(model, model.filters, model_state, event, fields, now)
                ignored += screened.ignored
                out.after(model, before, model_state, now, Cause.EVENT, event.event_id, screened.contributions)
            else:
                if model_state.filter_log is not None:  # a reload dropped the model's filters
                    model_state.filter_log = None
                contributions = self._count(model, model_state, event, now, trended)
                out.after(model, before, model_state, now, Cause.EVENT, event.event_id, contributions)
            if trended:
                out.crossings += surging_after_input(
                    model, model_state, event.lead_id, now, Cause.EVENT, event.event_id
                )
        return replace(out.update(lead), ignored=ignored) if ignored else out.update(lead)

    @staticmethod
    def _count(
        model: ScoringModel, model_state: ModelState, event: LeadEvent, now: int, trended: bool
    ) -> tuple[Contribution, ...]:
        """Count ``event`` into every rule of ``model`` it matches (no filters): each rule's contribution."""
        fields: dict[str, str | None] | None = None
        contributions = []
        at_ms = event.occurred_at_ms
        for rule in model.rules_for(event.type):
            if rule.condition is not always:
                fields = fields if fields is not None else event_fields(event)
                if not rule.condition(fields):
                    continue
            replaced: list[int] | None = [] if trended else None
            points_now = count(model_state, model, rule, at_ms, now, replaced)
            if replaced is not None and (points_now is not None or not rule.cap_per_ms):
                _record_gains(model, model_state, rule.points, at_ms, replaced)  # gained, even if expired since
            if points_now is not None:  # a capped or too-late event explains nothing
                value_now = rule_value(rule, model_state.rules[rule.id], now)
                contributions.append(Contribution(rule.id, points_now, value_now))
        return tuple(contributions)

    def apply_profile(self, state: LeadState | None, profile: LeadProfile, now_ms: int | None = None) -> Update:
        """Recompute fit (and segment membership) from a full profile; an older profile than the last is ignored.
        ``state`` is not touched (the update carries a new one)."""
        return self.score_profile(state.copy() if state is not None else None, profile, now_ms)

    def score_profile(self, state: LeadState | None, profile: LeadProfile, now_ms: int | None = None) -> Update:
        """:meth:`apply_profile` on a working copy: changes ``state`` in place."""
        lead = state if state is not None else LeadState(profile.lead_id)
        fields = profile_fields(profile)
        out = LevelBook(profile.lead_id)
        cause_id = f"profile@{profile.updated_at_ms}"
        if self.routing_fields:
            self._keep_routing_fields(lead, profile.updated_at_ms, fields)
        for model in self.models:
            model_state = lead.models.get(model.id) or self._fresh(model)
            if profile.updated_at_ms < model_state.fit_at_ms:
                continue
            lead.models[model.id] = model_state
            now = max(now_ms or 0, model_state.anchor_ms, profile.updated_at_ms)
            before = out.before(model, model_state, now)
            if model.trend is not None and before is not None:
                out.crossings += surging_by_time(model, model_state, profile.lead_id, now)
            old_points = model_state.fit_points
            model_state.model_version = model.version
            model_state.fit_points = {rule.id: rule.points for rule in model.fit_rules if rule.condition(fields)}
            model_state.fit_at_ms = profile.updated_at_ms
            model_state.applies = model.segment is None or model.segment(fields)
            changed = set(old_points.items()) ^ set(model_state.fit_points.items())
            values = contributions_at(model, model_state, now)
            contributions = tuple(
                Contribution(
                    rule_id,
                    model_state.fit_points.get(rule_id, 0.0) - old_points.get(rule_id, 0.0),
                    values.get(rule_id, 0.0),
                )
                for rule_id in sorted({rule_id for rule_id, _ in changed})
            )
            out.after(model, before, model_state, now, Cause.PROFILE, cause_id, contributions)
            if model.trend is not None:
                out.crossings += surging_after_input(model, model_state, profile.lead_id, now, Cause.PROFILE, cause_id)
        return out.update(lead)

    def _keep_routing_fields(self, lead: LeadState, updated_at_ms: int, fields: Mapping[str, FieldValue]) -> None:
        """The fields routing conditions read, from the latest profile (an older one than every model's is ignored)."""
        if updated_at_ms >= max((model_state.fit_at_ms for model_state in lead.models.values()), default=0):
            lead.routing_fields = kept_fields(lead.routing_fields, fields, self.routing_fields)

    def advance(self, state: LeadState, now_ms: int) -> Update:
        """Crossings caused by time alone, up to ``now_ms``; each at the exact time it happened. ``state`` is not
        touched (the update carries a new one)."""
        return self.advance_in_place(state.copy(), now_ms)

    def advance_in_place(self, state: LeadState, now_ms: int) -> Update:
        """:meth:`advance` on a working copy: changes ``state`` in place."""
        out = LevelBook(state.lead_id)
        for model in self.models:
            model_state = state.models.get(model.id)
            if model_state is not None and model_state.applies:
                out.decay_crossings(model, model_state, now_ms)
                if model.trend is not None:
                    out.crossings += surging_by_time(model, model_state, state.lead_id, now_ms)
        return out.update(state)

    def next_due(self, state: LeadState, now_ms: int, known: Mapping[str, tuple[int, Scores]] = _NONE) -> int | None:
        """The earliest time after ``now_ms`` at which time alone would move the lead across a level, or None.
        ``known``: scores the caller has (:attr:`Update.scores`), reused where they are for the search's start."""
        return earliest(self.transitions(state, now_ms, known))

    def transitions(
        self, state: LeadState, now_ms: int, known: Mapping[str, tuple[int, Scores]] = _NONE
    ) -> Transitions:
        """Per model that applies and has levels: ``(level, time)`` for each level, the time after ``now_ms`` when
        time alone next takes the lead into it or, for a level held, out of it (None: never). :meth:`next_due` is
        the earliest; :meth:`snapshot` reports those of the levels held (``drops``), so a caller that needs both
        computes them once. ``known`` as for :meth:`next_due`."""
        found: dict[str, tuple[tuple[str, int | None], ...]] = {}
        for model in self.models:
            model_state = state.models.get(model.id)
            if model_state is None or not model_state.applies:
                continue
            if model.trend is not None:  # the surging flag's next change by time alone, under its own name
                found[model.id] = ((model.trend.level, next_trend_change(model, model_state, now_ms)),)
            if not model.levels:
                continue
            after_ms = max(now_ms, model_state.levels_at_ms)
            start = max(after_ms, model_state.anchor_ms)
            scored = known.get(model.id)
            combined = scored[1].combined if scored is not None and scored[0] == start else None
            if combined is None and len(model.levels) > 1:
                combined = scores_at(model, model_state, start).combined  # once for all its levels
            at = None if combined is None else (start, combined)
            found[model.id] = found.get(model.id, ()) + tuple(
                (level.name, transition_time(model, model_state, level, after_ms, at)) for level in model.levels
            )
        return found

    def snapshot(
        self,
        state: LeadState,
        now_ms: int,
        top: int = 5,
        known: Mapping[str, tuple[int, Scores]] = _NONE,
        transitions: Transitions | None = None,
        drops: bool = True,
    ) -> tuple[ModelSnapshot, ...]:
        """Each model's scores for the lead at ``now_ms``, with its top contributors by size and, per level held,
        when it drops out if nothing else happens (``drops``). ``known``: scores the caller has
        (:attr:`Update.scores`), reused where they are for that time; ``transitions``: what :meth:`transitions`
        gave for the same ``now_ms``, reused for the drops; ``drops=False``: none (callers that only need scores)."""
        snapshots = []
        for model in self.models:
            model_state = state.models.get(model.id) or self._fresh(model)
            at = max(now_ms, model_state.anchor_ms)
            scored = known.get(model.id)
            scores = scored[1] if scored is not None and scored[0] == at else scores_at(model, model_state, at)
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
                    trend=trend_reading(model, model_state, at),
                    drops=self._drops(model, model_state, now_ms, transitions) if drops else (),
                )
            )
        return tuple(snapshots)

    @staticmethod
    def _drops(
        model: ScoringModel, state: ModelState, now_ms: int, transitions: Transitions | None
    ) -> tuple[tuple[str, int | None], ...]:
        """``(level, time)`` per level held: when time alone takes the lead out of it (None: never)."""
        if not state.levels or not state.applies:
            return ()
        if transitions is not None and model.id in transitions:
            return tuple((name, at_ms) for name, at_ms in transitions[model.id] if name in state.levels)
        after_ms = max(now_ms, state.levels_at_ms)
        return tuple(
            (level.name, transition_time(model, state, level, after_ms))
            for level in model.levels
            if level.name in state.levels
        )


def earliest(transitions: Transitions) -> int | None:
    """The earliest time of :meth:`Engine.transitions`: when time alone next moves the lead across a level."""
    return min((at_ms for times in transitions.values() for _, at_ms in times if at_ms is not None), default=None)


def _record_gains(model: ScoringModel, state: ModelState, points: float, at_ms: int, replaced: list[int]) -> None:
    """The trend's gain of one counted contribution, less that of the later capped one it replaced (if any)."""
    record_gain(model, state, at_ms, points)
    for replaced_ms in replaced:
        record_gain(model, state, replaced_ms, -points)
