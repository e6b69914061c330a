"""Who is scored when, and who converted: the labelled observations that evaluation and fitting share.

Every lead is observed once: ``observe_after`` after it was first seen (its first event or profile), the lead is
scored with what was known then and nothing later (no leakage). Its label is whether a conversion of the chosen
outcomes happened within ``window`` after that moment. Leads are kept out, and counted by reason, when they were
first seen outside the time slice, converted before they were scored, or their window is not over by the end of the
data (right-censored: their label is not known yet, and calling them "not converted" would bias every figure).
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Self

from scoring.conversions import Conversion, Outcome
from scoring.engine import Engine
from scoring.events import LeadEvent
from scoring.outputs import ModelSnapshot
from scoring.profiles import LeadProfile
from scoring.state import LeadState

OUTSIDE_SLICE = "first seen outside the time slice"
CONVERTED_BEFORE = "converted before it was scored"
WINDOW_OPEN = "window not over by the end of the data"
CHUNK_LEADS = 500  # leads replayed together


@dataclass(frozen=True, slots=True)
class CohortSpec:
    """How leads are observed and labelled; times in Unix ms, durations in ms."""

    window_ms: int
    observe_after_ms: int = 0
    outcomes: frozenset[Outcome] = frozenset({Outcome.WON})
    first_seen_from_ms: int | None = None  # the time slice: leads first seen in [from, until)
    first_seen_until_ms: int | None = None
    data_end_ms: int | None = None  # the history is complete up to here (default: the latest time in the input)


@dataclass(frozen=True, slots=True)
class Observation:
    lead_id: str
    first_seen_ms: int
    scored_at_ms: int
    converted: bool


@dataclass
class Cohort:
    observations: list[Observation] = field(default_factory=list)
    excluded: dict[str, int] = field(default_factory=dict)
    data_end_ms: int = 0

    @property
    def conversions(self) -> int:
        return sum(1 for observation in self.observations if observation.converted)

    def moments(self) -> dict[str, int]:
        return {observation.lead_id: observation.scored_at_ms for observation in self.observations}


def build_cohort(
    events: Iterable[LeadEvent],
    profiles: Iterable[LeadProfile],
    conversions: Iterable[Conversion],
    spec: CohortSpec,
) -> Cohort:
    """One observation per lead, or a count of why the lead was left out."""
    first_seen: dict[str, int] = {}
    latest = 0
    for lead_id, at_ms in [(e.lead_id, e.occurred_at_ms) for e in events] + [
        (p.lead_id, p.updated_at_ms) for p in profiles
    ]:
        first_seen[lead_id] = min(at_ms, first_seen.get(lead_id, at_ms))
        latest = max(latest, at_ms)
    outcomes: dict[str, list[Conversion]] = {}
    for conversion in conversions:
        latest = max(latest, conversion.occurred_at_ms)
        if conversion.outcome in spec.outcomes:
            outcomes.setdefault(conversion.lead_id, []).append(conversion)
    data_end = spec.data_end_ms if spec.data_end_ms is not None else latest
    cohort = Cohort(data_end_ms=data_end)
    for lead_id in sorted(first_seen):
        seen = first_seen[lead_id]
        reason = exclusion_reason(seen, spec, data_end)
        scored_at = seen + spec.observe_after_ms
        converted = sorted(outcomes.get(lead_id, ()), key=lambda c: (c.occurred_at_ms, c.conversion_id))
        if reason is None and converted and converted[0].occurred_at_ms < scored_at:
            reason = CONVERTED_BEFORE
        if reason is not None:
            cohort.excluded[reason] = cohort.excluded.get(reason, 0) + 1
            continue
        hit = next((c for c in converted if c.occurred_at_ms <= scored_at + spec.window_ms), None)
        cohort.observations.append(Observation(lead_id, seen, scored_at, hit is not None))
    return cohort


def exclusion_reason(first_seen_ms: int, spec: CohortSpec, data_end_ms: int) -> str | None:
    """Why a lead (or account) first seen at ``first_seen_ms`` is left out of the cohort, or None."""
    if spec.first_seen_from_ms is not None and first_seen_ms < spec.first_seen_from_ms:
        return OUTSIDE_SLICE
    if spec.first_seen_until_ms is not None and first_seen_ms >= spec.first_seen_until_ms:
        return OUTSIDE_SLICE
    if first_seen_ms + spec.observe_after_ms + spec.window_ms > data_end_ms:
        return WINDOW_OPEN
    return None


def states_at(
    engine: Engine, events: Iterable[LeadEvent], profiles: Iterable[LeadProfile], moments: Mapping[str, int]
) -> dict[str, LeadState]:
    """Each lead's state at its moment: the profiles and events of that lead up to that moment, nothing later.
    Events are applied in event-time order (a history has no lateness)."""
    states: dict[str, LeadState] = {}
    for profile in sorted(profiles, key=lambda p: (p.updated_at_ms, p.lead_id)):
        moment = moments.get(profile.lead_id)
        if moment is not None and profile.updated_at_ms <= moment:
            states[profile.lead_id] = engine.apply_profile(states.get(profile.lead_id), profile).state
    for event in sorted(events, key=lambda e: (e.occurred_at_ms, e.event_id)):
        moment = moments.get(event.lead_id)
        if moment is not None and event.occurred_at_ms <= moment:
            states[event.lead_id] = engine.apply_event(states.get(event.lead_id), event).state
    return states


@dataclass(frozen=True)
class Replay:
    """A history's inputs grouped by lead, so that leads (independent of each other) are replayed a chunk at a
    time: :func:`states_at` per chunk, with progress."""

    events: Mapping[str, list[LeadEvent]]
    profiles: Mapping[str, list[LeadProfile]]

    @classmethod
    def of(cls, events: Iterable[LeadEvent], profiles: Iterable[LeadProfile]) -> Self:
        by_lead: dict[str, list[LeadEvent]] = {}
        for event in events:
            by_lead.setdefault(event.lead_id, []).append(event)
        profiles_by_lead: dict[str, list[LeadProfile]] = {}
        for profile in profiles:
            profiles_by_lead.setdefault(profile.lead_id, []).append(profile)
        return cls(by_lead, profiles_by_lead)

    def states(
        self, engine: Engine, moments: Mapping[str, int], progress: Callable[[int], None] | None = None
    ) -> dict[str, LeadState]:
        """Each lead's state at its moment; ``progress`` is called with the number of leads just replayed."""
        leads = sorted(moments)
        states: dict[str, LeadState] = {}
        for start in range(0, len(leads), CHUNK_LEADS):
            chunk = {lead: moments[lead] for lead in leads[start : start + CHUNK_LEADS]}
            events = [e for lead in chunk for e in self.events.get(lead, ())]
            profiles = [p for lead in chunk for p in self.profiles.get(lead, ())]
            states.update(states_at(engine, events, profiles, chunk))
            if progress is not None:
                progress(len(chunk))
        return states


def snapshots_at(
    engine: Engine, states: Mapping[str, LeadState], cohort: Cohort, top: int = 0
) -> dict[str, tuple[ModelSnapshot, ...]]:
    """Every observed lead's scores and levels under every model at its moment, levels left or entered by decay
    up to then included (a lead with no state scores as new)."""
    snapshots = {}
    for observation in cohort.observations:
        state = states.get(observation.lead_id) or LeadState(observation.lead_id)
        at = observation.scored_at_ms
        snapshots[observation.lead_id] = engine.snapshot(engine.advance(state, at).state, at, top=top, drops=False)
    return snapshots
