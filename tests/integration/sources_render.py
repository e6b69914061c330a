"""The native journey of tests/integration/test_sources.py (the model, the events and profiles) and the renderers
that turn each into its source's record, written from the example mappings' documentation, independent of the
mapping code."""

from __future__ import annotations

import base64
import io
import struct
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import fastavro
import orjson

import streams.sources
from scoring import LeadEvent, LeadProfile
from tests.conftest import T0

EXAMPLES = Path(streams.sources.__file__).parent / "examples"
EXAMPLE_FILES = ("segment.yaml", "snowplow.yaml", "cloudevents.yaml", "crm-avro.yaml")
CRM_SCHEMA = EXAMPLES / "crm-contact-change.avsc"
SEGMENT, SNOWPLOW, PLATFORM, CRM = "segment", "snowplow", "engagement-platform", "crm"  # the sources' names

# Every mapped event type, property, source, account and profile field moves the score: a field mapped wrongly
# (or not lowercased: the profile conditions are case sensitive) gives another score than the native record.
MODEL = """
id: sources-it
version: 1
change_note: "What the example sources map, each field scored; no decay, no caps."
engagement: {floor: null}
rules:
  - {id: email-open, event: email_open, points: 1}
  - {id: campaign-open, event: email_open, when: {field: properties.campaign, equals: spring-launch}, points: 2}
  - {id: platform-open, event: email_open, when: {field: source, equals: engagement-platform}, points: 1}
  - {id: email-click, event: email_click, points: 3}
  - {id: account-click, event: email_click, when: {field: account_id, equals: acct-erin}, points: 4}
  - {id: page-view, event: page_view, points: 2}
  - id: pricing-page
    event: page_view
    when: {field: properties.path, starts_with: /pricing, case_sensitive: true}
    points: 10
  - {id: docs-site, event: page_view, when: {field: source, equals: docs-site}, points: 1}
  - {id: content-download, event: content_download, points: 8}
  - {id: whitepaper, event: content_download, when: {field: properties.asset, matches: "whitepaper|guide"}, points: 17}
  - {id: web-download, event: content_download, when: {field: source, equals: web}, points: 1}
  - {id: form-fill, event: form_fill, points: 10}
  - {id: contact-form, event: form_fill, when: {field: properties.form, equals: contact-sales}, points: 20}
  - {id: webinar-signup, event: webinar_signup, points: 10}
  - {id: webinar-w7, event: webinar_signup, when: {field: properties.webinar, equals: w-7}, points: 2}
  - {id: webinar-attended, event: webinar_attended, points: 15}
  - {id: stayed, event: webinar_attended, when: {field: properties.minutes, equals: "45"}, points: 5}
  - {id: demo-request, event: demo_request, points: 30}
  - {id: known-account, event: demo_request, when: {field: account_id, exists: true}, points: 5}
  - {id: trial-request, event: trial_request, points: 30}
  - {id: unsubscribe, event: unsubscribe, points: -20}
  - {id: banking, dimension: fit, when: {field: industry, equals: banking, case_sensitive: true}, points: 20}
  - {id: insurance, dimension: fit, when: {field: industry, equals: insurance, case_sensitive: true}, points: 12}
  - {id: large, dimension: fit, when: {field: company_size, gte: 1000}, points: 15}
  - {id: very-large, dimension: fit, when: {field: company_size, gte: 2000}, points: 5}
  - id: senior
    dimension: fit
    when: {field: seniority, in: [vp, director], case_sensitive: true}
    points: 20
  - {id: vp, dimension: fit, when: {field: seniority, equals: vp, case_sensitive: true}, points: 4}
  - {id: marketing, dimension: fit, when: {field: department, equals: marketing, case_sensitive: true}, points: 5}
  - {id: dach, dimension: fit, when: {field: country, in: [DE, AT, CH], case_sensitive: true}, points: 3}
  - {id: budget, dimension: fit, when: {field: attributes.budget, equals: confirmed}, points: 15}
  - {id: enterprise-plan, dimension: fit, when: {field: attributes.plan, equals: enterprise}, points: 7}
  - {id: example-domain, dimension: fit, when: {field: email_domain, ends_with: .example}, points: 4}
  - {id: named-company, dimension: fit, when: {field: company, equals: Acme Bank, case_sensitive: true}, points: 2}
  - {id: head-of, dimension: fit, when: {field: title, starts_with: Head}, points: 6}
levels:
  - {name: MQL, enter: 60}
  - {name: SQL, enter: 100}
"""


# ---- the native journey ------------------------------------------------------------------------------------------


def at(minute: int, ms: int = 0) -> int:
    return T0 + minute * 60_000 + ms


def event(lead: str, type_: str, when: int, event_id: str, source: str, account: str | None = None, **props: str):
    return LeadEvent(event_id, lead, type_, when, source, props, account)


def iso(ms: int, naive: bool = False) -> str:
    moment = datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
    if naive:  # Snowplow's own format: a space, no zone (UTC)
        return moment.replace(tzinfo=None).isoformat(sep=" ", timespec="milliseconds")
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")


# ---- renderers: a native event or profile as its source's record (from the example mappings' documentation) ------

SEGMENT_EVENTS = {
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
}


def segment_track(
    e: LeadEvent, *, anonymous: bool = False, name: str | None = None, page_in_context: bool = False, ts="original"
) -> dict[str, Any]:
    """A Segment ``track`` call; the page path in ``properties`` or only in ``context.page``; the time in
    ``originalTimestamp`` (with a later ``timestamp`` beside it) or in ``timestamp`` alone."""
    assert e.source == SEGMENT and set(e.properties) <= {"path", "form", "asset", "campaign"}
    props = e.properties
    record: dict[str, Any] = {
        "type": "track",
        "messageId": e.event_id,
        "event": name or SEGMENT_EVENTS[e.type],
        "properties": {"revenue": 0},
        "context": {"library": {"name": "analytics.js", "version": "5.2.0"}, "page": {"title": "Acme"}},
        "receivedAt": iso(e.occurred_at_ms + 4000),
    }
    if anonymous:
        record.update(userId=None, anonymousId=e.lead_id)
    else:
        record.update(userId=e.lead_id, anonymousId=f"ajs-{e.lead_id}")
    if ts == "original":
        record.update(originalTimestamp=iso(e.occurred_at_ms), timestamp=iso(e.occurred_at_ms + 1500))
    else:
        record["timestamp"] = iso(e.occurred_at_ms)
    if "path" in props:
        record["context"]["page"]["path"] = props["path"]
        if not page_in_context:
            record["properties"]["path"] = props["path"]
    if "form" in props:
        record["properties"]["form_id"] = props["form"]
    if "asset" in props:
        record["properties"]["asset"] = props["asset"]
    if "campaign" in props:
        record["context"]["campaign"] = {"name": props["campaign"], "source": "newsletter"}
    if e.account_id is not None:
        record["context"]["groupId"] = e.account_id
    return record


def segment_identify(p: LeadProfile, message_id: str) -> dict[str, Any]:
    """A Segment ``identify`` call with every trait the lead has; industry, seniority and department capitalised
    (the mapping lowercases them)."""
    assert set(p.attributes) <= {"budget", "plan"}
    company = {"name": p.company, "employee_count": p.company_size, "industry": p.industry and p.industry.title()}
    traits = {
        "email": p.email,
        "title": p.title,
        "seniority": p.seniority and p.seniority.upper(),
        "department": p.department and p.department.title(),
        "company": {k: v for k, v in company.items() if v is not None},
        "address": {"country": p.country, "city": "Berlin"} if p.country else {},
        **p.attributes,
    }
    return {
        "type": "identify",
        "messageId": message_id,
        "userId": p.lead_id,
        "anonymousId": f"ajs-{p.lead_id}",
        "originalTimestamp": iso(p.updated_at_ms),
        "traits": {k: v for k, v in traits.items() if v is not None},
    }


SNOWPLOW_ACTIONS = {
    "content_download": "download",
    "demo_request": "demo-request",
    "trial_request": "trial-start",
    "webinar_signup": "webinar-register",
    "webinar_attended": "webinar-attend",
    "email_open": "email-open",
    "email_click": "email-click",
}


def snowplow(e: LeadEvent, *, anonymous: bool = False, collector_only: bool = False, shout: bool = False):
    """A Snowplow enriched event as JSON: page views, form submissions (the submit_form unstructured event) and
    structured events by their action; the source is the app id (none: ``web``)."""
    assert set(e.properties) <= {"path", "form", "asset", "campaign"}
    props = e.properties
    record: dict[str, Any] = {"event_id": e.event_id, "platform": "web", "name_tracker": "sp", "v_tracker": "js-3"}
    if e.source != "web":
        record["app_id"] = e.source
    if anonymous:
        record.update(user_id=None, domain_userid=e.lead_id)
    else:
        record.update(user_id=e.lead_id, domain_userid=f"cookie-{e.lead_id}")
    if collector_only:
        record["collector_tstamp"] = iso(e.occurred_at_ms, naive=True)
    else:
        record.update(
            derived_tstamp=iso(e.occurred_at_ms),
            dvce_created_tstamp=iso(e.occurred_at_ms - 700),
            collector_tstamp=iso(e.occurred_at_ms + 2000),
        )
    if e.type == "page_view":
        record.update(event="page_view", event_name="page_view")
    elif e.type == "form_fill":
        record.update(event="unstruct", event_name="submit_form")
        form = {"formId": props["form"], "formClasses": ["contact"], "elements": [{"name": "email", "value": "x"}]}
        record["unstruct_event_com_snowplowanalytics_snowplow_submit_form_1"] = form
    else:
        action = SNOWPLOW_ACTIONS[e.type]
        record.update(event="struct", event_name="event", se_category="engagement")
        record["se_action"] = action.title() if shout else action
    if "path" in props:
        record["page_urlpath"] = props["path"]
    if "asset" in props:
        record["se_label"] = props["asset"]
    if "campaign" in props:
        record["mkt_campaign"] = props["campaign"]
    return record


CLOUDEVENT_TYPES = {
    "webinar_signup": "com.example.webinar.registered",
    "webinar_attended": "com.example.webinar.attended",
    "email_open": "com.example.email.opened",
    "email_click": "com.example.email.clicked",
    "email_bounce": "com.example.email.bounced",
    "unsubscribe": "com.example.email.unsubscribed",
}


def cloudevent_data(e: LeadEvent, minutes_as_float: bool = False) -> dict[str, Any]:
    assert e.source == PLATFORM and set(e.properties) <= {"campaign", "webinar", "minutes"}
    data: dict[str, Any] = {"platform_version": 3}
    if e.account_id is not None:
        data["account"] = e.account_id
    if "campaign" in e.properties:
        data["campaign"] = e.properties["campaign"]
    if "webinar" in e.properties:
        data["webinar"] = {"id": e.properties["webinar"], "title": "Scoring leads"}
    if "minutes" in e.properties:
        minutes = int(e.properties["minutes"])
        data["minutes_attended"] = float(minutes) if minutes_as_float else minutes
    return data


def cloudevent_attributes(e: LeadEvent) -> dict[str, str]:
    return {
        "specversion": "1.0",
        "id": e.event_id,
        "source": "//engagement.example/tenants/7",
        "type": CLOUDEVENT_TYPES[e.type],
        "subject": e.lead_id,
        "time": iso(e.occurred_at_ms),
    }


def cloudevent_structured(e: LeadEvent, data_base64: bool = False) -> bytes:
    envelope: dict[str, Any] = {**cloudevent_attributes(e), "datacontenttype": "application/json"}
    data = orjson.dumps(cloudevent_data(e))
    if data_base64:
        envelope["data_base64"] = base64.b64encode(data).decode()
    else:
        envelope["data"] = orjson.loads(data)
    return orjson.dumps(envelope)


def cloudevent_binary(e: LeadEvent) -> tuple[list[tuple[str, bytes]], bytes]:
    headers = [(f"ce_{name}", value.encode()) for name, value in cloudevent_attributes(e).items()]
    headers.append(("content-type", b"application/json; charset=utf-8"))
    return headers, orjson.dumps(cloudevent_data(e, minutes_as_float=True))


@dataclass(frozen=True)
class CrmSchema:
    schema_id: int
    parsed: Any = field(repr=False)

    def frame(self, record: dict[str, Any], schema_id: int | None = None) -> bytes:
        buffer = io.BytesIO()
        buffer.write(struct.pack(">bI", 0, self.schema_id if schema_id is None else schema_id))
        fastavro.schemaless_writer(buffer, self.parsed, record)
        return buffer.getvalue()


def crm_row(p: LeadProfile) -> dict[str, Any]:
    assert set(p.attributes) <= {"budget"}
    return {
        "contact_id": p.lead_id,
        "email": p.email,
        "company": p.company,
        "employees": p.company_size,
        "industry": p.industry and p.industry.upper(),
        "job_title": p.title,
        "seniority": p.seniority and p.seniority.title(),
        "department": p.department and p.department.upper(),
        "country_code": p.country,
        "budget": p.attributes.get("budget"),
        "modified_at": p.updated_at_ms,
    }


def crm_change(op: str, after: LeadProfile | None, before: LeadProfile | None = None) -> dict[str, Any]:
    """A Debezium-style change event of the contacts table (crm-contact-change.avsc); industry, seniority and
    department spelled otherwise than the lowercase the mapping gives."""
    row = after if after is not None else before
    assert row is not None
    changed = row.updated_at_ms
    return {
        "before": None if before is None else crm_row(before),
        "after": None if after is None else crm_row(after),
        "source": {"connector": "postgresql", "db": "crm", "table": "contacts", "ts_ms": changed, "lsn": 4711},
        "op": op,
        "ts_ms": changed + 300,
    }
