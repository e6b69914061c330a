"""Stream tests: the real agent and table, driven through Faust's test_context (no broker).

Output topics' ``send`` is replaced by a recorder (``TestingSink`` of :mod:`streams.devtools.testing`), as the
Faust testing guide does; the integration tests cover the real sends on a real broker.
"""

import pytest

from scoring import LeadProfile
from streams.devtools.testing import TestingSink, build_app
from tests.conftest import SIMPLE_MODEL, T0, make_event, stored_json


def build(tmp_path, model_paths=SIMPLE_MODEL, **overrides):
    """The app with the per-event agents (the fast path is tested in test_fast_path.py)."""
    return build_app(model_paths, tmp_path, batch_max=0, **{"app_id": "leadscore-stream-test", **overrides})


@pytest.fixture
def leadscore(tmp_path):
    return build(tmp_path)


@pytest.fixture
def sink(leadscore):
    """Every record the agents send, decoded per topic."""
    return TestingSink.attach(leadscore)


async def test_agent_scores_updates_table_and_sends(leadscore, sink):
    codec, names = leadscore.codec, leadscore.settings.topics
    async with leadscore.score_events.test_context() as agent:
        for event_type in ["demo_request", "email_open", "trial_request"]:
            await agent.put(codec.encode_event(make_event("lead-1", event_type)), key=b"lead-1")
        await agent.put(codec.encode_event(make_event("lead-2", "content_download")), key=b"lead-2")
    assert stored_json(leadscore.table, "lead-1")["m"]["b2b"]["s"] == 61
    assert stored_json(leadscore.table, "lead-2")["m"]["b2b"]["s"] == 8
    changes = sink.decoded(names.score_changes)
    assert [(key, change["score"]) for key, change in changes] == [
        (b"lead-1", 30.0),
        (b"lead-1", 31.0),
        (b"lead-1", 61.0),
        (b"lead-2", 8.0),
    ]
    crossings = sink.decoded(names.thresholds)
    assert [(key, c["level"], c["direction"], c["score"]) for key, c in crossings] == [(b"lead-1", "MQL", "UP", 61.0)]
    assert sink.sent(names.dead_letters) == []


async def test_bad_message_goes_to_dead_letters_and_the_agent_goes_on(leadscore, sink):
    codec = leadscore.codec
    async with leadscore.score_events.test_context() as agent:
        await agent.put(b"\x00\x00\x00\x00\x01\xff\xff", key=b"lead-1")
        await agent.put(codec.encode_event(make_event("lead-1", "teleport")), key=b"lead-1")
        await agent.put(codec.encode_event(make_event("lead-1", "demo_request")), key=b"lead-1")
    letters = sink.decoded(leadscore.settings.topics.dead_letters)
    assert [letter["error_type"] for _, letter in letters] == ["DecodeError", "InvalidEventError"]
    assert stored_json(leadscore.table, "lead-1")["m"]["b2b"]["s"] == 30


async def test_profiles_agent_recomputes_fit_into_the_same_table(tmp_path):
    from scoring import example_model_path

    built = build(tmp_path, model_paths=[example_model_path("b2b")])
    sink, codec, names = TestingSink.attach(built), built.codec, built.settings.topics
    async with built.score_events.test_context() as events:
        await events.put(codec.encode_event(make_event("lead-1", "demo_request", T0)), key=b"lead-1")
    profile = LeadProfile("lead-1", T0 + 1000, email="cfo@bank.example", industry="banking", company_size=4000)
    async with built.apply_profiles.test_context() as profiles:
        await profiles.put(codec.encode_profile(profile), key=b"lead-1")
    stored = stored_json(built.table, "lead-1")["m"]["b2b"]
    assert stored["f"] == {"finance-enterprise": 50.0, "target-industry": 10.0, "mid-market-or-larger": 15.0}
    changes = sink.decoded(names.score_changes)
    assert [(c["cause"], round(c["fit"]), c["grade"]) for _, c in changes] == [("EVENT", 0, "D"), ("PROFILE", 75, "A")]
    crossings = sink.decoded(names.thresholds)
    assert [(c["level"], c["direction"], c["cause"]) for _, c in crossings] == [
        ("MQL", "UP", "PROFILE"),
        ("SQL", "UP", "PROFILE"),
    ]


async def test_latest_scores_go_to_the_compacted_topic_and_erasure_removes_everything(leadscore, sink):
    codec, names = leadscore.codec, leadscore.settings.topics
    async with leadscore.score_events.test_context() as agent:
        await agent.put(codec.encode_event(make_event("lead-1", "demo_request", T0)), key=b"lead-1")
        await agent.put(codec.encode_event(make_event("lead-1", "email_click", T0 + 1)), key=b"lead-1")
    scores = sink.decoded(names.scores)
    assert [(key, [m["score"] for m in value["models"]]) for key, value in scores] == [
        (b"lead-1", [30.0]),
        (b"lead-1", [33.0]),
    ]
    erasure = codec.encode("LeadErasure", {"request_id": "r-1", "lead_id": "lead-1", "requested_at": T0})
    async with leadscore.erase_leads.test_context() as agent:
        await agent.put(erasure, key=b"lead-1")
        await agent.put(erasure, key=b"lead-1")  # again: nothing left to erase
    assert "lead-1" not in leadscore.table
    tombstone = [record for record in sink.records if record[0] == names.scores][-1]
    assert tombstone[1:] == (b"lead-1", None, None)  # key, value, partition
    completed = sink.decoded(names.erasures_completed)
    assert [(v["request_id"], v["lead_id"], v["had_state"]) for _, v in completed] == [
        ("r-1", "lead-1", True),
        ("r-1", "lead-1", False),
    ]


async def test_conversions_are_joined_to_the_scores_in_the_table(leadscore, sink):
    from scoring.conversions import Conversion, Outcome

    codec = leadscore.codec
    async with leadscore.score_events.test_context() as agent:
        for step, event_type in enumerate(["demo_request", "trial_request"]):
            await agent.put(codec.encode_event(make_event("lead-1", event_type, at_ms=T0 + step)), key=b"lead-1")
    conversion = Conversion("won-1", "lead-1", Outcome.WON, T0 + 5000, 900.0, "EUR")
    async with leadscore.join_conversions.test_context() as agent:
        await agent.put(codec.encode_conversion(conversion), key=b"lead-1")
    ((key, joined),) = sink.decoded(leadscore.settings.topics.conversion_scores)
    assert key == b"lead-1" and joined["conversion_id"] == "won-1"
    assert [(m["model_id"], m["score"], m["levels"], m["exact"]) for m in joined["models"]] == [
        ("b2b", 60.0, ["MQL"], True)
    ]
    assert "h" in stored_json(leadscore.table, "lead-1")  # the score trail rides with the state


async def test_a_shadow_worker_scores_into_the_shadow_topics_and_alerts_nobody(tmp_path):
    built = build(tmp_path, app_id="leadscore-shadow-test", shadow=True)
    sink, settings = TestingSink.attach(built), built.settings
    outputs, names = built.outputs, settings.topics
    assert (outputs.thresholds, outputs.dead_letters, outputs.erasures_completed, built.join_conversions) == (
        None,
        None,
        None,
        None,
    )
    assert outputs.score_changes.get_topic_name() == names.shadow_score_changes
    assert outputs.scores.get_topic_name() == names.shadow_scores
    codec = built.codec
    async with built.score_events.test_context() as agent:
        for event_type in ["demo_request", "trial_request"]:
            await agent.put(codec.encode_event(make_event("lead-1", event_type)), key=b"lead-1")
        await agent.put(b"not avro", key=b"lead-1")
    assert [change["score"] for _, change in sink.decoded(names.shadow_score_changes)] == [30.0, 60.0]
    assert stored_json(built.table, "lead-1")["m"]["b2b"]["l"] == ["MQL"]  # the shadow knows the lead is an MQL ...
    crossed = built.metrics.crossings.labels("b2b", "MQL", "UP")._value.get()
    assert crossed == 1  # ... and counts the crossing it would have sent
    assert built.metrics.dead_letters.labels(names.events, "DecodeError")._value.get() == 1


async def test_without_the_conversion_join_no_trail_is_kept_and_no_agent_runs(tmp_path):
    built = build(tmp_path, join_conversions=False)
    TestingSink.attach(built)  # what the agent sends is recorded, not sent
    assert built.join_conversions is None
    async with built.score_events.test_context() as agent:
        await agent.put(built.codec.encode_event(make_event("lead-1", "demo_request")), key=b"lead-1")
    assert stored_json(built.table, "lead-1")["m"]["b2b"]["s"] == 30 and "h" not in stored_json(built.table, "lead-1")
