"""Outcomes from the CRM (opportunity, won, lost) and the score a lead had when they happened.

A lead's *score trail* is the list of scores leadscore reported for it (one point per score change), kept for a
bounded time. :func:`score_at` answers "what score had this lead at time t": exactly (decayed to t) when nothing
happened to the lead after t, otherwise the last score reported at or before t (scores between two changes are not
re-decayed from a trail: only replaying history, as ``leadscore evaluate`` does, gives that exactly).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from enum import StrEnum

from scoring.errors import InvalidEventError
from scoring.events import EARLIEST_EVENT_MS, LATEST_EVENT_MS, MAX_ID_LENGTH

#: At most this many points are kept in a lead's trail (the newest); older ones are dropped.
TRAIL_POINTS = 16

TrailPoint = tuple[int, dict[str, float]]  # (event time in ms, {model id: score reported then})


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
    trail: Sequence[TrailPoint], at_ms: int, scores: Mapping[str, float], keep_ms: int
) -> list[TrailPoint]:
    """``trail`` with the scores reported at ``at_ms`` added, in time order, trimmed to what a lookup of any time
    after ``newest - keep_ms`` needs (the newest point at or before that time stays) and to :data:`TRAIL_POINTS`.
    A lookup of a time before the oldest point kept answers None (unknown), never a wrong score."""
    merged = {when: dict(scores_then) for when, scores_then in trail}
    merged.setdefault(at_ms, {}).update(scores)
    points = sorted(merged.items())
    horizon = points[-1][0] - keep_ms
    first = max((i for i, (when, _) in enumerate(points) if when <= horizon), default=0)
    return points[first:][-TRAIL_POINTS:]


def trail_score(trail: Sequence[TrailPoint], model_id: str, at_ms: int) -> float | None:
    """The score last reported for ``model_id`` at or before ``at_ms``; None when the trail does not reach back."""
    found: float | None = None
    for when, scores in trail:  # in time order
        if when > at_ms:
            break
        if model_id in scores:
            found = scores[model_id]
    return found
