"""The scenario of tests/integration/test_sources.py: which records go to which source, in which phase, keyed
and partitioned how; the records that must be skipped or dead-lettered, with their reasons."""

from __future__ import annotations

import json
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from scoring import LeadEvent, LeadProfile
from streams.kafka.partitioner import lead_partition
from tests.integration.sources_render import (
    CRM,
    PLATFORM,
    SEGMENT,
    SNOWPLOW,
    CrmSchema,
    at,
    cloudevent_binary,
    cloudevent_structured,
    crm_change,
    event,
    iso,
    segment_identify,
    segment_track,
    snowplow,
)

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
