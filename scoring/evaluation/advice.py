"""What a user should know about figures before trusting them (``fit`` and ``evaluate`` print these warnings).

The main trap: every lead is scored ``--observe-after`` after it was first seen, with what was known then. Left at
0, a lead is scored the moment its profile or first event arrives, before nearly all of its behaviour: the model
then learns from (and is judged on) the profile alone and every engagement rule looks useless.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping

from scoring.durations import format_duration
from scoring.events import LeadEvent

#: Warn when more than this share of the observed leads' events happen after the moment they are scored.
LATE_BEHAVIOUR_SHARE = 0.5


def behaviour_after_moment(events: Iterable[LeadEvent], moments: Mapping[str, int], observe_after_ms: int) -> list[str]:
    """A warning when most of the observed leads' events come after the moment each is scored; none otherwise."""
    before = after = 0
    for event in events:
        moment = moments.get(event.lead_id)
        if moment is None:
            continue
        if event.occurred_at_ms <= moment:
            before += 1
        else:
            after += 1
    if after == 0 or after <= LATE_BEHAVIOUR_SHARE * (before + after):
        return []
    share = after / (before + after)
    observe_after = format_duration(observe_after_ms) if observe_after_ms else "0d"
    return [
        f"{share:.0%} of the observed leads' events happen after the moment they are scored"
        f" (--observe-after {observe_after} after first seen): scores use what is"
        " known before that only; give a longer --observe-after to score leads once they have shown behaviour"
    ]
