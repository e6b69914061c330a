"""The routing agent (ADR 039) in Faust's test_context: a lead crossing MQL makes a route request, and the agent
answers it with a LeadRouted naming the owner (or a dead letter when no route takes the lead)."""

import pytest

from scoring.routing import decode_request
from streams.devtools.testing import TestingSink, build_app
from tests.conftest import T0, make_event

MODEL = """
id: b2b
version: 1
change_note: "routing in the stream test"
rules:
  - {id: demo, event: demo_request, points: 60}
  - {id: unsubscribe, event: unsubscribe, points: -30}
levels:
  - {name: MQL, enter: 60, leave: 50}
routing:
  - id: emea
    level: MQL
    when: {field: attributes.region, equals: EMEA}
    owners: [{id: anna}, {id: ben}]
    on_exit: release
"""


@pytest.fixture
def leadscore(tmp_path):
    path = tmp_path / "b2b.yaml"
    path.write_text(MODEL)
    return build_app(path, tmp_path, batch_max=0, app_id="leadscore-routing-test")


async def requests_for(leadscore, sink, events):
    """Score ``events`` with the events agent; the route requests it sent, as (key, value)."""
    codec = leadscore.codec
    async with leadscore.score_events.test_context() as agent:
        for event in events:
            await agent.put(codec.encode_event(event), key=event.lead_id.encode())
    topic = f"{leadscore.settings.app_id}-route-requests"
    return [(key, value, partition) for name, key, value, partition in sink.records if name == topic]


async def test_a_lead_crossing_mql_is_routed_to_an_owner_and_released_when_it_leaves(leadscore):
    from scoring import LeadProfile

    sink = TestingSink.attach(leadscore)
    codec, names = leadscore.codec, leadscore.settings.topics
    async with leadscore.apply_profiles.test_context() as profiles:
        for lead in ("lead-1", "lead-2"):
            profile = LeadProfile(lead, T0, attributes={"region": "EMEA"})
            await profiles.put(codec.encode_profile(profile), key=lead.encode())
    events = [
        make_event("lead-1", "demo_request", T0 + 1000),
        make_event("lead-2", "demo_request", T0 + 2000),
        make_event("lead-1", "unsubscribe", T0 + 3000),
    ]
    requests = await requests_for(leadscore, sink, events)
    assert [(key, decode_request(value).entered, partition) for key, value, partition in requests] == [
        (b"lead-1", True, 0),
        (b"lead-2", True, 0),
        (b"lead-1", False, 0),
    ]
    crossings = sink.decoded(names.thresholds)
    async with leadscore.route_leads.test_context() as router:
        for key, value, _ in requests:
            await router.put(value, key=key)
        await router.put(requests[0][1], key=requests[0][0])  # re-delivered: the same decision again
    routed = [record for _, record in sink.decoded(names.lead_routes)]
    assert [(r["lead_id"], r["action"], r["route_id"], r["owner_id"]) for r in routed] == [
        ("lead-1", "ASSIGNED", "emea", "anna"),
        ("lead-2", "ASSIGNED", "emea", "ben"),
        ("lead-1", "RELEASED", "emea", "anna"),
        ("lead-1", "ASSIGNED", "emea", "anna"),
    ]
    assert routed[0]["routing_id"] == routed[3]["routing_id"]
    assert [r["crossing_id"] for r in routed[:3]] == [c["crossing_id"] for _, c in crossings]
    assert leadscore.route_table is not None and leadscore.route_table.get("route/b2b/emea") is not None
    assert leadscore.metrics.leads_routed.labels("b2b", "emea", "ASSIGNED")._value.get() == 3


async def test_a_lead_no_route_matches_is_a_dead_letter(leadscore):
    sink = TestingSink.attach(leadscore)
    [(key, value, _)] = await requests_for(leadscore, sink, [make_event("lead-9", "demo_request", T0)])
    async with leadscore.route_leads.test_context() as router:
        await router.put(value, key=key)
        await router.put(b"not a route request", key=key)
    assert sink.sent(leadscore.settings.topics.lead_routes) == []
    letters = [letter for _, letter in sink.decoded(leadscore.settings.topics.dead_letters)]
    assert [letter["error_type"] for letter in letters] == ["UnroutedLeadError", "DecodeError"]
    assert letters[0]["reason"].startswith("no route of model 'b2b' for level 'MQL' matches the lead (lead 'lead-9'")
    assert letters[0]["value"] == value  # what to send back to the route requests once a fallback exists


async def test_a_shadow_worker_routes_nothing(tmp_path):
    path = tmp_path / "b2b.yaml"
    path.write_text(MODEL)
    shadow = build_app(path, tmp_path, batch_max=0, shadow=True, app_id="leadscore-routing-shadow")
    assert shadow.route_leads is None and shadow.outputs.route_requests is None


async def test_an_erasure_makes_the_router_forget_the_lead(leadscore):
    from scoring import LeadProfile

    sink = TestingSink.attach(leadscore)
    async with leadscore.apply_profiles.test_context() as profiles:
        profile = LeadProfile("lead-9", T0, attributes={"region": "EMEA"})
        await profiles.put(leadscore.codec.encode_profile(profile), key=b"lead-9")
    [(key, value, _)] = await requests_for(leadscore, sink, [make_event("lead-9", "demo_request", T0 + 1)])
    async with leadscore.route_leads.test_context() as router:
        await router.put(value, key=key)
    assert leadscore.route_table.get("lead/b2b/lead-9") is not None
    sink.records.clear()
    erasure = leadscore.codec.encode("LeadErasure", {"request_id": "gdpr-1", "lead_id": "lead-9", "requested_at": T0})
    async with leadscore.erase_leads.test_context() as agent:
        await agent.put(erasure, key=b"lead-9")
    topic = f"{leadscore.settings.app_id}-route-requests"
    [(forget, partition)] = [(v, p) for name, _, v, p in sink.records if name == topic]
    assert decode_request(forget).erase and partition == 0
    async with leadscore.route_leads.test_context() as router:
        await router.put(forget, key=b"lead-9")
        await router.put(forget, key=b"lead-9")  # re-delivered: nothing left to forget
    assert leadscore.route_table.get("lead/b2b/lead-9") is None
    assert sink.sent(leadscore.settings.topics.lead_routes) == []  # forgetting emits nothing
