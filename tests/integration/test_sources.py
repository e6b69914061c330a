"""Issue 19's acceptance: each example source (Segment, Snowplow, CloudEvents structured and binary, the CRM's
Debezium-style Avro) fed to a worker on the broker scores exactly as the same events and profiles sent natively to
another worker; mapping errors reach the dead-letter topic with their reason; skipped records produce nothing.

One scenario, run once for the module (two workers side by side, both on one in-process Schema Registry, so that
their outputs carry the same schema ids and can be compared byte for byte):

* the native journey is written here as LeadEvents and LeadProfiles; small renderers, written from the example
  mappings' documentation and independent of the mapping code, turn each one into its source's record;
* worker A reads the four example sources (the shipped mappings, only their topics renamed for this run), worker B
  the native events on lead-events and profiles on lead-profiles;
* some leads' records are keyed otherwise (no key, a message id, a Debezium key, a CloudEvent id) on a partition
  that is not the lead's, so they go through the rerouting topic;
* the records go in three phases (profiles, events, profile updates), each awaited on both workers: a lead's
  native events and profiles are on two topics, and only the phases fix their order.
"""

from __future__ import annotations

import base64
import io
import json
import struct
import time
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import fastavro
import orjson
import pytest
import yaml
from kafka import KafkaConsumer, KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic
from prometheus_client.parser import text_string_to_metric_families

import streams.sources
from scoring import LeadEvent, LeadProfile
from streams.devtools.processes import spawn_worker, stop_process
from streams.kafka.codec import AvroCodec
from streams.kafka.partitioner import lead_partition
from streams.kafka.topics import schema_registry
from streams.settings import Settings
from streams.worker.wiring import rerouted_topic_name
from tests.conftest import T0
from tests.integration.conftest import new_settings
from tests.registry_server import RegistryServer

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


# ---- the scenario ------------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Record:
    """One record on a declared source's topic."""

    source: str
    key: bytes | None
    value: bytes | None
    partition: int
    headers: tuple[tuple[str, bytes], ...] = ()


@dataclass(frozen=True)
class Step:
    """A native event or profile and the source record it is rendered as."""

    native: LeadEvent | LeadProfile
    record: Record


@dataclass(frozen=True)
class Letter:
    """A record its mapping cannot take, and what the dead letter's reason must say."""

    record: Record
    reason: str


@dataclass
class Scenario:
    phases: list[list[Step]]
    skipped: list[Record]  # sent with the events
    skipped_later: list[Record]  # sent with the profile updates
    letters: list[Letter]
    rerouted_leads: frozenset[str]


def scenario(partitions: int, crm: CrmSchema) -> Scenario:
    def home(lead: str) -> int:
        return lead_partition(lead, partitions)

    def away(lead: str) -> int:
        return (home(lead) + 1) % partitions

    def at_home(source: str, lead: str, value: bytes, headers: Iterable[tuple[str, bytes]] = ()) -> Record:
        return Record(source, lead.encode(), value, home(lead), tuple(headers))

    def elsewhere(source: str, lead: str, key: bytes | None, value: bytes, headers=()) -> Record:
        return Record(source, key, value, away(lead), tuple(headers))

    def js(record: dict[str, Any]) -> bytes:
        return orjson.dumps(record)

    # -- phase 1: profiles (Segment identify for seg-ada; the CRM's snapshot of crm-erin, its create of crm-finn)
    ada = LeadProfile(
        "seg-ada",
        at(0, 123),
        email="ada@acmebank.example",
        company="Acme Bank",
        company_size=4200,
        industry="banking",
        title="Head of Marketing",
        seniority="vp",
        department="marketing",
        country="DE",
        attributes={"budget": "confirmed", "plan": "enterprise"},
    )
    erin = LeadProfile(
        "crm-erin",
        at(0, 250),
        email="erin@insure.example",
        company="Insure AG",
        company_size=1200,
        industry="insurance",
        title="Director of Sales",
        seniority="director",
        department="sales",
        country="CH",
        attributes={"budget": "confirmed"},
    )
    finn = LeadProfile("crm-finn", at(1), email="finn@gmail.com", industry="banking", company_size=300)
    debezium_key = b'{"contact_id":"crm-erin"}'
    profiles = [
        Step(ada, at_home(SEGMENT, "seg-ada", js(segment_identify(ada, "msg-ada-identify-1")))),
        Step(erin, elsewhere(CRM, "crm-erin", debezium_key, crm.frame(crm_change("r", erin)))),
        Step(finn, at_home(CRM, "crm-finn", crm.frame(crm_change("c", finn)))),
    ]

    # -- phase 2: events
    steps: list[Step] = []

    def seg(e: LeadEvent, **how: Any) -> None:
        anonymous = how.get("anonymous", False)
        value = js(segment_track(e, **how))
        record = (
            elsewhere(SEGMENT, e.lead_id, e.event_id.encode(), value)
            if anonymous
            else at_home(SEGMENT, e.lead_id, value)
        )
        steps.append(Step(e, record))

    seg(event("seg-ada", "email_open", at(10, 5), "seg-1", SEGMENT, campaign="spring-launch"))
    seg(event("seg-ada", "page_view", at(11), "seg-2", SEGMENT, path="/pricing"), name="Pricing Page Viewed")
    seg(event("seg-ada", "page_view", at(12), "seg-3", SEGMENT, path="/blog/scoring"), page_in_context=True)
    seg(event("seg-ada", "content_download", at(13), "seg-4", SEGMENT, asset="roi-whitepaper"))
    seg(event("seg-ada", "form_fill", at(14), "seg-5", SEGMENT, form="contact-sales"))
    seg(event("seg-ada", "demo_request", at(15), "seg-6", SEGMENT, account="acct-acme"))
    # an anonymous visitor (scored under the anonymousId), keyed by messageId as a relay would: rerouted
    seg(event("anon-bob", "page_view", at(10, 500), "seg-7", SEGMENT, path="/pricing/team"), anonymous=True)
    seg(event("anon-bob", "webinar_signup", at(11), "seg-8", SEGMENT), anonymous=True, ts="timestamp")
    seg(event("anon-bob", "trial_request", at(12), "seg-9", SEGMENT), anonymous=True)
    seg(event("anon-bob", "email_click", at(13), "seg-10", SEGMENT, campaign="spring-launch"), anonymous=True)

    # Snowplow: a known user with no key on another partition (rerouted), and a cookie id on its own partition
    cleo = [
        (event("sp-cleo", "page_view", at(20), "sp-1", "docs-site", path="/pricing/enterprise"), {}),
        (event("sp-cleo", "content_download", at(21), "sp-2", "web", asset="roi-guide"), {"collector_only": True}),
        (
            event("sp-cleo", "form_fill", at(22), "sp-3", "docs-site", form="contact-sales", campaign="spring-launch"),
            {},
        ),
        (event("sp-cleo", "demo_request", at(23), "sp-4", "docs-site"), {"shout": True}),
    ]
    for e, how in cleo:
        steps.append(Step(e, elsewhere(SNOWPLOW, e.lead_id, None, js(snowplow(e, **how)))))
    for e in [
        event("sp-cookie-42", "page_view", at(20, 1), "sp-5", "docs-site", path="/blog"),
        event("sp-cookie-42", "email_open", at(21), "sp-6", "docs-site"),
        event("sp-cookie-42", "webinar_attended", at(22), "sp-7", "docs-site"),
    ]:
        steps.append(Step(e, at_home(SNOWPLOW, e.lead_id, js(snowplow(e, anonymous=True)))))

    # CloudEvents: structured mode keyed by subject; binary mode (crm-erin's engagement) keyed by the event id
    dan = [
        event("ce-dan", "webinar_signup", at(30), "ce-1", PLATFORM, webinar="w-7", campaign="spring-launch"),
        event("ce-dan", "webinar_attended", at(31), "ce-2", PLATFORM, webinar="w-7", minutes="45"),
        event("ce-dan", "email_open", at(32), "ce-3", PLATFORM, campaign="spring-launch"),
        event("ce-dan", "email_click", at(33), "ce-4", PLATFORM, campaign="spring-launch"),
    ]
    for e in dan:
        steps.append(Step(e, at_home(PLATFORM, e.lead_id, cloudevent_structured(e, data_base64=e.event_id == "ce-4"))))
    for e in [
        event("crm-erin", "email_open", at(30, 7), "ce-5", PLATFORM, "acct-erin"),
        event("crm-erin", "email_click", at(31), "ce-6", PLATFORM, "acct-erin", campaign="spring-launch"),
        event("crm-erin", "webinar_attended", at(32), "ce-7", PLATFORM, webinar="w-8", minutes="45"),
        event("crm-erin", "unsubscribe", at(33), "ce-8", PLATFORM),
    ]:
        headers, value = cloudevent_binary(e)
        steps.append(Step(e, elsewhere(PLATFORM, e.lead_id, e.event_id.encode(), value, headers)))

    # -- phase 3: profile updates (seg-ada promoted, her budget no longer known; crm-erin's company grew)
    ada_later = LeadProfile(
        "seg-ada",
        at(40),
        email="ada@acmebank.example",
        company="Acme Bank",
        company_size=4200,
        industry="banking",
        title="Head of Marketing",
        seniority="director",
        department="marketing",
        country="DE",
        attributes={"plan": "enterprise"},
    )
    erin_later = LeadProfile(
        "crm-erin",
        at(40, 1),
        email="erin@insure.example",
        company="Insure AG",
        company_size=2500,
        industry="insurance",
        title="Director of Sales",
        seniority="director",
        department="sales",
        country="CH",
    )
    updates = [
        Step(ada_later, at_home(SEGMENT, "seg-ada", js(segment_identify(ada_later, "msg-ada-identify-2")))),
        Step(erin_later, elsewhere(CRM, "crm-erin", debezium_key, crm.frame(crm_change("u", erin_later, erin)))),
    ]

    # -- records skipped on purpose: produce nothing, dead-letter nothing
    page_call = {"type": "page", "userId": "seg-ada", "name": "Pricing", "originalTimestamp": iso(at(16))}
    group_call = {"type": "group", "userId": "seg-ada", "groupId": "acct-acme", "timestamp": iso(at(16))}
    unmapped_track = segment_track(event("seg-ada", "page_view", at(16), "seg-x", SEGMENT), name="Cart Viewed")
    ping = snowplow(event("sp-cleo", "page_view", at(24), "sp-x", "docs-site", path="/pricing"))
    ping["event"] = "page_ping"
    scroll = snowplow(event("sp-cleo", "email_open", at(24), "sp-y", "docs-site")) | {"se_action": "scroll"}
    skipped = [
        at_home(SEGMENT, "seg-ada", js(page_call)),
        at_home(SEGMENT, "seg-ada", js(group_call)),
        at_home(SEGMENT, "seg-ada", js(unmapped_track)),
        elsewhere(SNOWPLOW, "sp-cleo", None, js(ping)),
        elsewhere(SNOWPLOW, "sp-cleo", None, js(scroll)),
    ]
    finn_gone = crm_change("d", None, before=LeadProfile("crm-finn", at(41), email="finn@gmail.com"))
    skipped_later = [at_home(CRM, "crm-finn", crm.frame(finn_gone))]

    # -- records that cannot be mapped: dead letters naming the step that failed
    untimed = segment_track(event("seg-ada", "email_open", at(17), "seg-bad-1", SEGMENT))
    del untimed["originalTimestamp"], untimed["timestamp"]
    badly_timed = segment_track(event("seg-ada", "email_open", at(17), "seg-bad-2", SEGMENT))
    badly_timed["originalTimestamp"] = "last tuesday"
    nobody = snowplow(event("sp-cleo", "email_open", at(25), "sp-bad", "docs-site"))
    nobody.update(user_id=None, domain_userid=None)
    survey = json.loads(cloudevent_structured(event("ce-dan", "email_open", at(34), "ce-bad-1", PLATFORM)))
    survey["type"] = "com.example.survey.completed"
    headers, value = cloudevent_binary(event("ce-dan", "email_open", at(34), "ce-bad-2", PLATFORM))
    no_version = [(name, raw) for name, raw in headers if name != "ce_specversion"]
    unknown_id = crm.schema_id + 1000
    letters = [
        Letter(Record(SEGMENT, b"seg-ada", b"{not json", home("seg-ada")), "source segment: json: not valid JSON"),
        Letter(
            at_home(SEGMENT, "seg-ada", js(untimed)),
            "source segment: events.occurred_at: no value at originalTimestamp or timestamp",
        ),
        Letter(
            at_home(SEGMENT, "seg-ada", js(badly_timed)),
            "source segment: events.occurred_at: 'last tuesday' at originalTimestamp or timestamp is not a time in "
            "format iso8601",
        ),
        Letter(
            elsewhere(SNOWPLOW, "sp-cleo", None, js(nobody)),
            "source snowplow: events.lead_id: no value at user_id (nor at domain_userid)",
        ),
        Letter(
            at_home(PLATFORM, "ce-dan", js(survey)),
            "source engagement-platform: events.type: 'com.example.survey.completed' at type is not in the map",
        ),
        Letter(
            Record(PLATFORM, b"ce-bad-2", value, 0, tuple(no_version)),
            "source engagement-platform: cloudevents (binary mode): required attribute specversion is missing",
        ),
        Letter(
            at_home(CRM, "crm-finn", crm.frame(crm_change("u", finn), schema_id=unknown_id)),
            f"source crm: avro: unknown schema id {unknown_id}",
        ),
        Letter(Record(CRM, debezium_key, b"plain text, no Avro", 1), "source crm: avro: wrong magic byte"),
    ]
    return Scenario(
        phases=[profiles, steps, updates],
        skipped=skipped,
        skipped_later=skipped_later,
        letters=letters,
        rerouted_leads=frozenset({"anon-bob", "sp-cleo", "crm-erin"}),
    )


#: leadscore_source_records_total{source,outcome} once every record above is read
EXPECTED_COUNTS = {
    (SEGMENT, "event"): 10,
    (SEGMENT, "profile"): 2,
    (SEGMENT, "skipped"): 3,
    (SEGMENT, "dead_letter"): 3,
    (SNOWPLOW, "event"): 7,
    (SNOWPLOW, "skipped"): 2,
    (SNOWPLOW, "dead_letter"): 1,
    (PLATFORM, "event"): 8,
    (PLATFORM, "dead_letter"): 2,
    (CRM, "profile"): 3,
    (CRM, "skipped"): 1,
    (CRM, "dead_letter"): 2,
}


# ---- running it --------------------------------------------------------------------------------------------------


def sources_file(directory: Path, suffix: str) -> tuple[Path, dict[str, str]]:
    """The four example mappings in one sources file, as shipped but for their topics (this run's own)."""
    sources = []
    for name in EXAMPLE_FILES:
        example = yaml.safe_load((EXAMPLES / name).read_text())
        assert example["version"] == 1 and not example.get("lists")
        for source in example["sources"]:
            sources.append({**source, "topic": f"{source['topic']}-{suffix}"})
    path = directory / "sources.yaml"
    path.write_text(yaml.safe_dump({"version": 1, "sources": sources}, sort_keys=False))
    return path, {source["name"]: source["topic"] for source in sources}


def create_plain_topics(settings: Settings, topics: Iterable[str], configs: dict[str, str] | None = None) -> None:
    """Topics with the partitions of leadscore's: a team's own source topics (leadscore does not create them)."""
    admin = KafkaAdminClient(bootstrap_servers=settings.bootstrap_servers)
    try:
        admin.create_topics([NewTopic(topic, settings.partitions, 1, topic_configs=configs or {}) for topic in topics])
    finally:
        admin.close()


class Reader:
    """Every record of some topics from the start, kept as it came (raw key and value), read on demand."""

    def __init__(self, bootstrap: str, *topics: str) -> None:
        self.consumer = KafkaConsumer(*topics, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None)
        self.records: list[Any] = []

    def until(self, done: Callable[[list[Any]], bool], timeout_s: float) -> list[Any]:
        deadline = time.monotonic() + timeout_s
        while not done(self.records) and time.monotonic() < deadline:
            for batch in self.consumer.poll(timeout_ms=300).values():
                self.records.extend(batch)
        return self.records

    def on(self, topic: str) -> list[Any]:
        return [r for r in self.records if r.topic == topic]

    def close(self) -> None:
        self.consumer.close()


def by_lead(records: Iterable[Any]) -> dict[str, list[bytes]]:
    """Values per lead (the key), in the order of their partition."""
    grouped: dict[str, list[bytes]] = {}
    for record in records:
        grouped.setdefault(record.key.decode(), []).append(record.value)
    return grouped


def decode(registry: RegistryServer, value: bytes) -> dict[str, Any]:
    """A framed record read with the schema the registry holds for its id."""
    magic, schema_id = struct.unpack(">bI", value[:5])
    assert magic == 0
    _, text = registry.state.schemas[schema_id]
    return fastavro.schemaless_reader(io.BytesIO(value[5:]), fastavro.parse_schema(json.loads(text)))


def log_tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else "(no log)"


def scraped(settings: Settings) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{settings.web_port}/metrics", timeout=5).read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def source_counts(settings: Settings) -> dict[tuple[str, str], float]:
    return {
        (dict(labels)["source"], dict(labels)["outcome"]): value
        for (name, labels), value in scraped(settings).items()
        if name == "leadscore_source_records_total"
    }


@dataclass
class Run:
    """What the two workers wrote, and what was sent."""

    scenario: Scenario
    a: Settings
    b: Settings
    topics: dict[str, str]  # source name -> topic
    registry: RegistryServer
    outputs_a: Reader
    outputs_b: Reader
    rerouted: list[Any]
    letters: list[tuple[Letter, int]]  # each with the offset it was written at
    counts: dict[tuple[str, str], float]
    native_codec: AvroCodec


@pytest.fixture(scope="module", params=["fast-path", "agents"])
def run(request, broker, tmp_path_factory) -> Iterator[Run]:
    """The scenario, with worker A on the fast path (source topics batched with lead-events), then with one Faust
    agent per source topic (``batch_max=0``); worker B always on the fast path."""
    directory = tmp_path_factory.mktemp("sources")
    (directory / "model.yaml").write_text(MODEL)
    suffix = f"{request.param}-{int(time.time())}"
    with RegistryServer() as registry:
        crm = CrmSchema(
            registry.add_schema(CRM_SCHEMA.read_text()), fastavro.parse_schema(json.loads(CRM_SCHEMA.read_text()))
        )
        path, topics = sources_file(directory, suffix)
        common = {"model_paths": [directory / "model.yaml"], "schema_registry_url": registry.url}
        batch_max = {"batch_max": 0} if request.param == "agents" else {}
        a = new_settings(broker, directory / "a", f"src-a-{suffix}", sources_path=path, **common, **batch_max)
        b = new_settings(broker, directory / "b", f"src-b-{suffix}", **common)
        create_plain_topics(a, topics.values())
        # The rerouting topic is internal: a worker declares it at its first start, just before it subscribes. On
        # a loaded machine the broker's metadata may not show it yet when the group's first assignment is made;
        # Faust's assignor then leaves it out ("Ignoring missing topic") until the consumer's next metadata refresh
        # (5 minutes), and rerouted records wait that long (decay-ticks has the same race; this model has no
        # decay). Created here, the rerouting topic is there from the start, as on any later start of a worker.
        create_plain_topics(a, [rerouted_topic_name(a)], {"retention.ms": str(7 * 86_400_000)})
        native_codec = AvroCodec(schema_registry(b))  # the contracts' ids from the registry, as the workers use
        plan = scenario(a.partitions, crm)
        producer = KafkaProducer(bootstrap_servers=a.bootstrap_servers)

        def send(record: Record) -> int:
            future = producer.send(
                topics[record.source],
                key=record.key,
                value=record.value,
                partition=record.partition,
                headers=list(record.headers),
            )
            return future.get(timeout=30).offset

        def send_native(step: Step) -> None:
            native, lead = step.native, step.native.lead_id
            topic, value = (
                (b.topics.events, native_codec.encode_event(native))
                if isinstance(native, LeadEvent)
                else (b.topics.profiles, native_codec.encode_profile(native))
            )
            producer.send(topic, key=lead.encode(), value=value, partition=lead_partition(lead, b.partitions))

        outputs = (a.topics.score_changes, a.topics.thresholds, a.topics.scores, a.topics.dead_letters)
        outputs_a = Reader(a.bootstrap_servers, *outputs)
        outputs_b = Reader(b.bootstrap_servers, b.topics.score_changes, b.topics.thresholds, b.topics.scores)
        logs = {"A": directory / "worker-a.log", "B": directory / "worker-b.log"}
        workers = {}
        letters: list[tuple[Letter, int]] = []
        try:
            expected = 0
            for number, phase in enumerate(plan.phases):
                if number == 1:
                    letters = [(letter, send(letter.record)) for letter in plan.letters]
                    for record in plan.skipped:
                        send(record)
                if number == 2:
                    for record in plan.skipped_later:
                        send(record)
                for step in phase:
                    send(step.record)
                    send_native(step)
                producer.flush()
                if number == 0:
                    workers = {name: spawn_worker(s, log_file=logs[name]) for name, s in (("A", a), ("B", b))}
                expected += len(phase)
                for name, reader, settings in (("A", outputs_a, a), ("B", outputs_b, b)):
                    changes = reader.until(
                        lambda rs, s=settings, n=expected: sum(r.topic == s.topics.score_changes for r in rs) >= n,
                        90 if number == 0 else 45,
                    )
                    got = sum(r.topic == settings.topics.score_changes for r in changes)
                    assert workers[name].poll() is None, f"worker {name} exited:\n{log_tail(logs[name])}"
                    if got < expected:
                        letters_seen = [
                            decode(registry, r.value)["reason"] for r in outputs_a.on(a.topics.dead_letters)
                        ]
                        raise AssertionError(
                            f"worker {name}: {got} of {expected} score changes after phase {number + 1}; worker A's"
                            f" dead letters: {letters_seen}\n{log_tail(logs[name])}"
                        )
            outputs_a.until(lambda rs: len([r for r in rs if r.topic == a.topics.dead_letters]) >= len(letters), 30)
            deadline = time.monotonic() + 20
            while (counts := source_counts(a)) != EXPECTED_COUNTS and time.monotonic() < deadline:
                time.sleep(0.5)
            time.sleep(1.0)  # anything a skipped or dead-lettered record wrongly produced would be out by now
            for reader in (outputs_a, outputs_b):
                reader.until(lambda rs: False, 1.5)
            rerouted = Reader(a.bootstrap_servers, rerouted_topic_name(a))
            try:
                misplaced = sum(s.native.lead_id in plan.rerouted_leads for phase in plan.phases for s in phase)
                rerouted_records = rerouted.until(lambda rs: len(rs) >= misplaced, 20)
            finally:
                rerouted.close()
        finally:
            for worker in workers.values():
                worker.terminate()
            for worker in workers.values():
                stop_process(worker, grace_s=15)
            producer.close()
            outputs_a.close()
            outputs_b.close()
        yield Run(plan, a, b, topics, registry, outputs_a, outputs_b, rerouted_records, letters, counts, native_codec)


# ---- the tests ---------------------------------------------------------------------------------------------------


def test_every_source_scores_exactly_as_its_native_events(run):
    """ScoreChanged records per lead, in order, byte for byte; the same for level crossings and the latest score."""
    natives: dict[str, int] = {}
    for phase in run.scenario.phases:
        for step in phase:
            natives[step.native.lead_id] = natives.get(step.native.lead_id, 0) + 1
    changes_a = by_lead(run.outputs_a.on(run.a.topics.score_changes))
    changes_b = by_lead(run.outputs_b.on(run.b.topics.score_changes))
    assert {lead: len(values) for lead, values in changes_b.items()} == natives  # each input moved the score once
    assert set(changes_a) == set(changes_b)
    for lead in natives:
        decoded_a = [decode(run.registry, value) for value in changes_a[lead]]
        decoded_b = [decode(run.registry, value) for value in changes_b[lead]]
        assert decoded_a == decoded_b, lead
        assert changes_a[lead] == changes_b[lead], lead
    assert by_lead(run.outputs_a.on(run.a.topics.thresholds)) == by_lead(run.outputs_b.on(run.b.topics.thresholds))
    crossings = [decode(run.registry, r.value) for r in run.outputs_b.on(run.b.topics.thresholds)]
    assert {c["lead_id"] for c in crossings} >= {"seg-ada", "crm-erin", "sp-cleo"}  # levels crossed, not vacuous
    latest_a = {lead: values[-1] for lead, values in by_lead(run.outputs_a.on(run.a.topics.scores)).items()}
    latest_b = {lead: values[-1] for lead, values in by_lead(run.outputs_b.on(run.b.topics.scores)).items()}
    assert latest_a == latest_b and set(latest_a) == set(natives)


def test_every_example_format_took_part(run):
    """Each format, both CloudEvents modes and the anonymous ids were scored (not just some of the sources)."""
    changes = [decode(run.registry, r.value) for r in run.outputs_a.on(run.a.topics.score_changes)]
    causes = {(c["lead_id"], c["cause"]) for c in changes}
    assert {
        ("seg-ada", "PROFILE"),  # Segment identify
        ("seg-ada", "EVENT"),  # Segment track
        ("anon-bob", "EVENT"),  # Segment, anonymous
        ("sp-cleo", "EVENT"),  # Snowplow
        ("sp-cookie-42", "EVENT"),  # Snowplow, the cookie id
        ("ce-dan", "EVENT"),  # CloudEvents, structured
        ("crm-erin", "EVENT"),  # CloudEvents, binary
        ("crm-erin", "PROFILE"),  # CRM Avro
        ("crm-finn", "PROFILE"),
    } <= causes
    ids = {c["cause_event_id"] for c in changes if c["cause"] == "EVENT"}
    assert {"seg-8", "sp-2", "ce-4", "ce-7"} <= ids  # timestamp alone, collector time, data_base64, float minutes


def test_misplaced_records_are_rerouted_as_the_native_events(run):
    """Records keyed otherwise on another partition went through the rerouting topic, as the LeadEvent or
    LeadProfile they map to: exactly the native ones, in order."""
    expected: dict[str, list[LeadEvent | LeadProfile]] = {}
    for phase in run.scenario.phases:
        for step in phase:
            if step.native.lead_id in run.scenario.rerouted_leads:
                expected.setdefault(step.native.lead_id, []).append(step.native)
    codec = run.native_codec
    forwarded: dict[str, list[LeadEvent | LeadProfile]] = {}
    for record in run.rerouted:
        name = codec.schema_name(record.value)
        native = codec.decode_event(record.value) if name == "LeadEvent" else codec.decode_profile(record.value)
        assert record.key == native.lead_id.encode()
        assert record.partition == lead_partition(native.lead_id, run.a.partitions)
        forwarded.setdefault(native.lead_id, []).append(native)
    assert forwarded == expected


def test_mapping_errors_reach_the_dead_letter_topic_with_their_reason(run):
    letters = [decode(run.registry, r.value) for r in run.outputs_a.on(run.a.topics.dead_letters)]
    assert len(letters) == len(run.letters)
    found = {(letter["topic"], letter["partition"], letter["offset"]): letter for letter in letters}
    for sent, offset in run.letters:
        record = sent.record
        where = (run.topics[record.source], record.partition, offset)
        assert where in found, f"no dead letter for {sent.reason!r} at {where}"
        letter = found[where]
        assert letter["error_type"] == "SourceMappingError"
        assert letter["reason"].startswith(sent.reason), (letter["reason"], sent.reason)
        assert (letter["key"], letter["value"]) == (record.key, record.value)  # the record, verbatim


def test_skipped_records_are_counted_and_produce_nothing(run):
    """Segment page and group calls, an unmapped track name, a Snowplow page ping and an unmapped action, a CRM
    delete: counted as skipped; every record of every source is accounted for, and no other output came of them
    (the score changes match the native run's exactly, above; no dead letter names them)."""
    assert run.counts == EXPECTED_COUNTS
    skipped_ids = {"seg-x", "sp-x", "sp-y"}
    changes = [decode(run.registry, r.value) for r in run.outputs_a.on(run.a.topics.score_changes)]
    assert not {c["cause_event_id"] for c in changes} & skipped_ids
    letters = [decode(run.registry, r.value) for r in run.outputs_a.on(run.a.topics.dead_letters)]
    skipped_values = {record.value for record in run.scenario.skipped + run.scenario.skipped_later}
    assert not {letter["value"] for letter in letters} & skipped_values
