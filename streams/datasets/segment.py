"""Lead events and profiles written as Segment ``track`` and ``identify`` calls, the JSON shape
``streams/sources/examples/segment.yaml`` maps back: for the demo's JSON source (``leadscore demo --source segment``)
and for tests and benchmarks that need the same events in another format.

The rendering is written by hand from the Segment spec, not derived from the mapping, so that comparing what the
mapping makes of it with the original events tests the mapping.
"""

from __future__ import annotations

from datetime import UTC, datetime

from scoring import LeadEvent, LeadProfile
from streams.analysis.jsontypes import JsonRecord

#: leadscore's event types as Segment event names (segment.yaml's type map, the other way round)
EVENT_NAMES = {
    "email_open": "Email Opened",
    "email_click": "Email Link Clicked",
    "page_view": "Page Viewed",
    "content_download": "Content Downloaded",
    "form_fill": "Form Submitted",
    "webinar_signup": "Webinar Registered",
    "webinar_attended": "Webinar Attended",
    "demo_request": "Demo Requested",
    "trial_request": "Trial Started",
    "unsubscribe": "Unsubscribed",
    "email_bounce": "Email Bounced",
}
#: event properties segment.yaml reads, and where a Segment call carries them
PROPERTY_PATHS = {
    "path": ("properties", "path"),
    "form": ("properties", "form_id"),
    "asset": ("properties", "asset"),
    "link": ("properties", "link_url"),
    "webinar": ("properties", "webinar_id"),
}


def iso(at_ms: int) -> str:
    """``2024-05-06T09:05:12.345Z``: Segment's timestamp form, exact to the millisecond."""
    return datetime.fromtimestamp(at_ms // 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S") + f".{at_ms % 1000:03d}Z"


def track_call(event: LeadEvent) -> JsonRecord:
    """The Segment ``track`` call of one lead event (its properties other than those segment.yaml maps are dropped,
    ``campaign`` goes to ``context.campaign.name``)."""
    properties: JsonRecord = {}
    context: JsonRecord = {}
    for name, value in event.properties.items():
        if name in PROPERTY_PATHS:
            properties[PROPERTY_PATHS[name][1]] = value
        elif name == "campaign":
            context["campaign"] = {"name": value}
    if event.account_id is not None:
        context["groupId"] = event.account_id
    return {
        "type": "track",
        "event": EVENT_NAMES[event.type],
        "userId": event.lead_id,
        "messageId": event.event_id,
        "timestamp": iso(event.occurred_at_ms),
        "properties": properties,
        "context": context,
    }


def identify_call(profile: LeadProfile, message_id: str) -> JsonRecord:
    """The Segment ``identify`` call that carries a full lead profile as traits."""
    company: JsonRecord = {
        "name": profile.company,
        "employee_count": profile.company_size,
        "industry": profile.industry,
    }
    traits: JsonRecord = {
        "email": profile.email,
        "title": profile.title,
        "seniority": profile.seniority,
        "department": profile.department,
        "company": {k: v for k, v in company.items() if v is not None},
        "address": {"country": profile.country} if profile.country else {},
        **{name: profile.attributes[name] for name in ("budget", "plan") if name in profile.attributes},
    }
    return {
        "type": "identify",
        "userId": profile.lead_id,
        "messageId": message_id,
        "timestamp": iso(profile.updated_at_ms),
        "traits": {k: v for k, v in traits.items() if v is not None},
    }
