"""Behavioural events as the scoring core sees them: plain, immutable values with event time in milliseconds."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field

from scoring.errors import InvalidEventError

#: Event types every deployment understands. A model may add its own types by naming them in a rule.
KNOWN_EVENT_TYPES: frozenset[str] = frozenset(
    {
        "email_open",
        "email_click",
        "page_view",
        "content_download",
        "form_fill",
        "webinar_signup",
        "webinar_attended",
        "demo_request",
        "trial_request",
        "unsubscribe",
        "email_bounce",
    }
)

#: Event times outside this range are rejected as corrupt: 2000-01-01 .. 2100-01-01 (UTC, milliseconds).
EARLIEST_EVENT_MS = 946_684_800_000
LATEST_EVENT_MS = 4_102_444_800_000

MAX_ID_LENGTH = 256


@dataclass(frozen=True, slots=True)
class LeadEvent:
    """One thing a lead did, at ``occurred_at_ms`` (event time, Unix milliseconds UTC)."""

    event_id: str
    lead_id: str
    type: str
    occurred_at_ms: int
    source: str
    properties: Mapping[str, str] = field(default_factory=dict)
    account_id: str | None = None


def check_ids_and_time(ids: dict[str, str], time_field: str, at_ms: int) -> None:
    """The checks every input shares: ids present and not too long, event time in 2000..2100."""
    for name, value in ids.items():
        if not value.strip():
            raise InvalidEventError(f"{name} is empty")
    if any(len(value) > MAX_ID_LENGTH for value in ids.values()):
        raise InvalidEventError(f"{' or '.join(ids)} longer than {MAX_ID_LENGTH} characters")
    if not EARLIEST_EVENT_MS <= at_ms < LATEST_EVENT_MS:
        raise InvalidEventError(f"{time_field} {at_ms} ms is outside 2000-01-01..2100-01-01")


def check_event(event: LeadEvent, known_types: frozenset[str]) -> None:
    """Raise :class:`InvalidEventError` when ``event`` cannot be scored; return quietly otherwise."""
    check_ids_and_time({"lead_id": event.lead_id, "event_id": event.event_id}, "occurred_at", event.occurred_at_ms)
    if event.type not in known_types:
        raise InvalidEventError(f"unknown event type {event.type!r}")


def event_fields(event: LeadEvent) -> dict[str, str | None]:
    """Fields for engagement rule conditions: ``type``, ``source``, ``account_id`` and ``properties.<name>``."""
    fields: dict[str, str | None] = {"type": event.type, "source": event.source, "account_id": event.account_id}
    for name, value in event.properties.items():
        fields[f"properties.{name}"] = value
    return fields
