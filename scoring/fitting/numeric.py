"""Numeric candidates: bands of a number (minutes on site, pages per visit, company size) as readable rules.

A field is numeric when every non-empty value the training leads have for it reads as a number and it takes at
least :data:`MIN_DISTINCT` distinct values (fewer are left to ``equals`` rules). Cut points are the training
values' quantiles (:data:`QUANTILES`, taken as observed values, so every band holds leads; a field that is
mostly 0 is cut between 0 and the rest), and each band
becomes one rule a marketer can read and edit:

- event properties: ``{event: T, when: {all: [{field: properties.P, gte: 2}, {field: properties.P, lt: 5}]}}``
  counts the lead's events of type T whose P falls in the band (the first band has only ``lt``, the last only
  ``gte``);
- profile fields: ``{dimension: fit, when: {field: F, gte: 50, lt: 200 ...}}`` holds when the lead's F is in it.

Bands rather than a linear effect: a count of visits or minutes rarely adds the same log-odds per unit (the
tenth visit is not worth the first). Cut points depend on the training values only, never on labels.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

import numpy as np

from scoring.events import LeadEvent
from scoring.fitting.candidates import IDENTIFYING_FIELDS, Candidate, latest_profiles, readable_id, unique
from scoring.profiles import LeadProfile, profile_fields

#: Cut the values at these quantiles (quintiles: up to five bands).
QUANTILES = (0.2, 0.4, 0.6, 0.8)
#: A field with fewer distinct values is left to ``equals`` rules.
MIN_DISTINCT = 6
#: Profile fields that are numbers and describe a kind of lead, although identifying fields are left out.
NUMERIC_PROFILE_FIELDS = frozenset({"company_size"})


def numeric_candidates(
    events: Iterable[LeadEvent],
    profiles: Iterable[LeadProfile],
    moments: Mapping[str, int],
    min_support: int,
    taken: Sequence[Candidate] = (),
) -> list[Candidate]:
    """Band rules for the numeric event properties and profile fields of the observed leads (module docstring)."""
    property_values: dict[tuple[str, str], list[float | None]] = {}
    for event in events:
        moment = moments.get(event.lead_id)
        if moment is None or event.occurred_at_ms > moment:
            continue
        for name, value in event.properties.items():
            if value.strip():
                property_values.setdefault((event.type, name), []).append(number(value))
    field_values: dict[str, list[float | None]] = {}
    for profile in latest_profiles(profiles, moments).values():
        for field_name, field_value in profile_fields(profile).items():
            usable = field_name not in IDENTIFYING_FIELDS or field_name in NUMERIC_PROFILE_FIELDS
            if usable and field_value is not None and str(field_value).strip():
                field_values.setdefault(field_name, []).append(number(field_value))
    found: list[Candidate] = []
    for (event_type, name), values in sorted(property_values.items()):
        for when, label in bands(f"properties.{name}", values, min_support):
            found.append(Candidate(readable_id(f"{event_type}-{name}-{label}"), "engagement", event_type, when))
    for name, values in sorted(field_values.items()):
        for when, label in bands(name, values, min_support):
            found.append(Candidate(readable_id(f"{name.removeprefix('attributes.')}-{label}"), "fit", None, when))
    return unique(list(taken), found)


def number(value: Any) -> float | None:
    """The value as a finite number, or None when it does not read as one."""
    if isinstance(value, bool):
        return None
    try:
        parsed = float(value)
    except (TypeError, ValueError):
        return None
    return parsed if math.isfinite(parsed) else None


def cut_points(values: Sequence[float], min_support: int) -> list[float]:
    """Observed values at the quantiles; a quantile at the smallest value (nothing lies below it: most leads have
    0 visits, say) cuts above it instead, at the next value. Cuts that leave fewer than ``min_support`` values in a
    band are left out."""
    ordered = np.sort(np.array(values, dtype=np.float64))
    distinct = np.unique(ordered)
    cuts: list[float] = []
    for quantile in np.quantile(ordered, QUANTILES, method="higher"):
        cut = float(quantile) if quantile > distinct[0] or len(distinct) < 2 else float(distinct[1])
        below = int(np.searchsorted(ordered, cut, side="left"))
        previous = int(np.searchsorted(ordered, cuts[-1], side="left")) if cuts else 0
        if cut > distinct[0] and below - previous >= min_support and len(ordered) - below >= min_support:
            cuts.append(cut)
    return cuts


def bands(field: str, values: Sequence[float | None], min_support: int) -> list[tuple[dict[str, Any], str]]:
    """The band conditions of a field and their id labels; none when the field is not numeric."""
    if not values or any(value is None for value in values):
        return []
    numbers = [value for value in values if value is not None]
    if len(set(numbers)) < MIN_DISTINCT:
        return []
    cuts = cut_points(numbers, min_support)
    found: list[tuple[dict[str, Any], str]] = []
    for low, high in zip([None, *cuts], [*cuts, None], strict=True):
        if low is None and high is None:
            continue
        parts = ([{"field": field, "gte": _plain(low)}] if low is not None else []) + (
            [{"field": field, "lt": _plain(high)}] if high is not None else []
        )
        label = "-".join(
            ([f"gte-{_plain(low)}"] if low is not None else []) + ([f"lt-{_plain(high)}"] if high is not None else [])
        )
        found.append((parts[0] if len(parts) == 1 else {"all": parts}, label))
    return found


def _plain(value: float) -> int | float:
    return int(value) if float(value).is_integer() else round(float(value), 6)
