"""Outcomes from the CRM (opportunity, won, lost) and the scores a lead had when they happened.

A lead's *score trail* is what leadscore reported for it (score and levels per model, one point per score change),
kept for a bounded time beside its state. :func:`scores_at_conversion` answers "what score had this lead at time
t": exactly (decayed to t) when nothing happened to the lead after t, otherwise the last score reported at or
before t (not re-decayed between two changes: replaying the history, as ``leadscore evaluate`` does, gives that).
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from enum import StrEnum

from scoring.errors import InvalidEventError
from scoring.events import check_ids_and_time


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
    ids = {"lead_id": conversion.lead_id, "conversion_id": conversion.conversion_id}
    check_ids_and_time(ids, "occurred_at", conversion.occurred_at_ms)
    if conversion.value is not None and (not math.isfinite(conversion.value) or conversion.value < 0):
        raise InvalidEventError(f"value {conversion.value} is not a finite amount >= 0")
