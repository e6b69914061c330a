"""Candidate rules for ``leadscore fit``: the base model's rules plus rules generated from the training history.

A candidate is a rule without points. ``fit`` values every candidate as a feature (its decayed count at the lead's
moment, or 0/1 for a fit rule) and learns points for it. Base rules keep their condition, cap (as a count of
events), ``once_per``, window and half-life. Generated rules are the simplest ones a marketer would write:
``{event: T}``, ``{event: T, when: {field: properties.P, equals: V}}`` for a property value that at least
``min_support`` training leads have, and ``{dimension: fit, when: {field: F, equals: V}}`` for profile fields with
few distinct values (numbers get bands instead: ``scoring.fitting.numeric``). Nothing here looks at labels:
support is a count of leads, so choosing candidates cannot leak the outcome into a hold-out figure. Which
candidates are then learnt from is ``scoring.fitting.selection``'s business.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from scoring.durations import format_duration
from scoring.events import LeadEvent
from scoring.model.compile import ScoringModel, parse_model
from scoring.model.spec import ModelSpec, RuleSpec
from scoring.profiles import LeadProfile, profile_fields

#: A profile field with more distinct values than this (names, e-mail addresses, sizes) yields no fit candidates.
MAX_DISTINCT_VALUES = 50
#: Fields that identify a lead or a person rather than describe a kind of lead.
IDENTIFYING_FIELDS = frozenset({"lead_id", "email", "company", "title", "company_size"})
FEATURES_MODEL_ID = "fit-features"
_ID_LENGTH = 64


@dataclass(frozen=True, slots=True)
class Candidate:
    """A rule whose points are to be learned. Durations in ms; None means the model's default (or none)."""

    id: str
    dimension: str  # engagement | fit
    event: str | None = None
    when: Any = None  # the condition exactly as in a model file
    half_life_ms: int | None = None
    window_ms: int | None = None
    cap_count: int | None = None  # at most this many counted events ...
    cap_per_ms: int | None = None  # ... per aligned bucket of this length
    once_per_ms: int | None = None
    description: str = ""
    generated: bool = False

    @property
    def key(self) -> tuple[str, str | None, str]:
        """What the rule matches and how it counts: two candidates with the same key are the same feature."""
        counting = (self.when, self.half_life_ms, self.window_ms, self.cap_count, self.cap_per_ms, self.once_per_ms)
        return self.dimension, self.event, repr(counting)


def rule_dict(candidate: Candidate, points: int | float) -> dict[str, Any]:
    """The candidate as a model-file rule worth ``points``; a cap of n events becomes ``cap.points = n * |points|``,
    so that the rule counts exactly the events it counted as a feature."""
    rule: dict[str, Any] = {"id": candidate.id}
    if candidate.dimension == "fit":
        rule["dimension"] = "fit"
    if candidate.event is not None:
        rule["event"] = candidate.event
    if candidate.when is not None:
        rule["when"] = candidate.when
    rule["points"] = points
    if candidate.half_life_ms is not None:
        rule["half_life"] = format_duration(candidate.half_life_ms)
    if candidate.window_ms is not None:
        rule["window"] = format_duration(candidate.window_ms)
    if candidate.cap_count is not None and candidate.cap_per_ms is not None:
        rule["cap"] = {"points": candidate.cap_count * abs(points), "per": format_duration(candidate.cap_per_ms)}
    if candidate.once_per_ms is not None:
        rule["once_per"] = format_duration(candidate.once_per_ms)
    if candidate.description:
        rule["description"] = candidate.description
    return rule


def base_candidates(spec: ModelSpec) -> list[Candidate]:
    """Every rule of the base model, without its points."""
    return [_from_rule(rule) for rule in spec.rules]


def _from_rule(rule: RuleSpec) -> Candidate:
    cap_count = cap_per = None
    if rule.cap is not None:
        cap_count = int(rule.cap.points // abs(rule.points)) if rule.points else 1
        cap_per = rule.cap.per
    return Candidate(
        rule.id,
        rule.dimension,
        rule.event,
        rule.when,
        rule.half_life,
        rule.window,
        cap_count,
        cap_per,
        rule.once_per,
        rule.description,
    )


def generated_candidates(
    events: Iterable[LeadEvent],
    profiles: Iterable[LeadProfile],
    moments: Mapping[str, int],
    min_support: int,
    taken: Sequence[Candidate] = (),
    skipped: dict[str, str] | None = None,
) -> list[Candidate]:
    """Simple rules from what the observed leads did and were, up to their moments, each held by at least
    ``min_support`` leads (an event type alone needs one lead). Candidates that repeat one in ``taken`` are left out.
    Profile fields of text too scattered for ``equals`` rules are noted in ``skipped`` (field: why), if given.
    """
    type_leads: dict[str, set[str]] = {}
    value_leads: dict[tuple[str, str, str], set[str]] = {}
    for event in events:
        moment = moments.get(event.lead_id)
        if moment is None or event.occurred_at_ms > moment:
            continue
        type_leads.setdefault(event.type, set()).add(event.lead_id)
        for name, value in event.properties.items():
            if value.strip():
                value_leads.setdefault((event.type, name, value.casefold()), set()).add(event.lead_id)
    field_values: dict[str, Counter[str]] = {}
    for profile in latest_profiles(profiles, moments).values():
        for field_name, field_value in profile_fields(profile).items():
            if field_name not in IDENTIFYING_FIELDS and field_value is not None and str(field_value).strip():
                field_values.setdefault(field_name, Counter())[str(field_value).casefold()] += 1

    found: list[Candidate] = []
    base_ids = {candidate.id for candidate in taken}
    for event_type in sorted(type_leads):
        name = readable_id(event_type)
        found.append(
            Candidate(name if name not in base_ids else readable_id(f"{event_type}-all"), "engagement", event_type)
        )
    for (event_type, name, value), leads in sorted(value_leads.items()):
        if len(leads) >= min_support:
            when = {"field": f"properties.{name}", "equals": value}
            found.append(Candidate(readable_id(f"{event_type}-{name}-{value}"), "engagement", event_type, when))
    for name, counts in sorted(field_values.items()):
        if len(counts) > MAX_DISTINCT_VALUES:  # a number gets bands (scoring.fitting.numeric) instead
            if skipped is not None and not all(_reads_as_number(value) for value in counts):
                skipped[name] = f"{len(counts)} distinct values, too many for equals rules (max {MAX_DISTINCT_VALUES})"
            continue
        for value, support in sorted(counts.items()):
            if support >= min_support:
                when = {"field": name, "equals": value}
                found.append(Candidate(readable_id(f"{name.removeprefix('attributes.')}-{value}"), "fit", None, when))
    return unique(list(taken), found)


def _reads_as_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def latest_profiles(profiles: Iterable[LeadProfile], moments: Mapping[str, int]) -> dict[str, LeadProfile]:
    """Each observed lead's latest profile as of its moment."""
    latest: dict[str, LeadProfile] = {}
    for profile in profiles:
        moment = moments.get(profile.lead_id)
        if moment is not None and profile.updated_at_ms <= moment:
            held = latest.get(profile.lead_id)
            if held is None or profile.updated_at_ms >= held.updated_at_ms:
                latest[profile.lead_id] = profile
    return latest


#: Characters that carry meaning in a value, spelt out in ids (``<1m`` is not ``1m``, ``11+`` not ``11``).
_SPELT = (("<=", " lte "), (">=", " gte "), ("<", " lt "), (">", " gt "), ("+", " plus "), ("%", " pct "))


def readable_id(text: str) -> str:
    """A readable rule id: lower case, comparison signs spelt out, runs of other characters as one '-', at most
    64 characters."""
    for sign, word in _SPELT:
        text = text.replace(sign, word)
    slug = re.sub(r"[^a-z0-9]+", "-", text.casefold()).strip("-")[:_ID_LENGTH].rstrip("-")
    return slug or "rule"


def unique(taken: list[Candidate], found: list[Candidate]) -> list[Candidate]:
    """``found`` without repeats of ``taken`` (same feature), with ids made unique by a numeric suffix, each marked
    as generated."""
    ids = {candidate.id for candidate in taken}
    keys = {candidate.key for candidate in taken}
    kept: list[Candidate] = []
    for candidate in found:
        if candidate.key in keys:
            continue
        keys.add(candidate.key)
        new_id, number = candidate.id, 2
        while new_id in ids:
            suffix = f"-{number}"
            new_id = candidate.id[: _ID_LENGTH - len(suffix)] + suffix
            number += 1
        ids.add(new_id)
        kept.append(Candidate(new_id, candidate.dimension, candidate.event, candidate.when, generated=True))
    return kept


def model_dict(
    base: ModelSpec,
    rules: list[dict[str, Any]],
    *,
    id: str,
    version: int,
    change_note: str,
    author: str = "",
    description: str = "",
    levels: list[dict[str, Any]] | None = None,
    grades: list[dict[str, Any]] | None = None,
) -> dict[str, Any]:
    """A model (as parsed YAML) with the base model's lists, decay, windows, segment and lateness (and grades unless
    given), but no floors or ceilings and weights 1: its score is then exactly the sum of the rules' values."""
    model: dict[str, Any] = {"id": id, "version": version, "change_note": change_note}
    if author:
        model["author"] = author
    if description:
        model["description"] = description
    if base.lists:
        model["lists"] = {name: list(items) for name, items in base.lists.items()}
    if base.segment is not None:
        model["segment"] = base.segment
    for name, dimension in (("engagement", base.engagement), ("fit", base.fit)):
        model[name] = {"half_life": format_duration(dimension.half_life or 0)}
        if dimension.window is not None:
            model[name]["window"] = format_duration(dimension.window)
    model["grades"] = grades or [{"name": g.name, **({"min": g.min} if g.min is not None else {})} for g in base.grades]
    model["lateness"] = format_duration(base.lateness)
    model["rules"] = rules
    if levels:
        model["levels"] = levels
    return model


def features_model(base: ModelSpec, candidates: list[Candidate]) -> ScoringModel:
    """The model whose rule values are the features: every candidate worth 1 point (caps kept as counts)."""
    rules = [rule_dict(candidate, 1) for candidate in candidates]
    note = "every candidate rule worth 1 point: its value is the feature"
    return parse_model(model_dict(base, rules, id=FEATURES_MODEL_ID, version=1, change_note=note), FEATURES_MODEL_ID)
