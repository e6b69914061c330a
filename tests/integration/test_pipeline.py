"""Events in, scores out: a real worker process on a real broker, checked with plain clients. The first test runs on
the session's broker (``LEADSCORE_TEST_BROKER``) and, on a Kafka run, also on the embedded Tansu broker the demo
uses."""

from __future__ import annotations

import time
import urllib.request

import pytest
from kafka import KafkaProducer

from streams.devtools.brokers import broker_kind
from streams.devtools.processes import spawn_worker, stop_process
from streams.kafka.codec import AvroCodec
from streams.kafka.registry import LocalSchemaRegistry
from tests.conftest import T0, make_event
from tests.integration.conftest import new_settings, read_topics

JOURNEYS = {
    "lead-A": [
        "email_open",
        "page_view",
        "content_download",
        "webinar_signup",
        "demo_request",
        "trial_request",
        "form_fill",
        "webinar_attended",
    ],
    "lead-B": ["content_download", "content_download"],
    "lead-C": ["email_open", "unsubscribe"],
}
EXPECTED_SCORES = {
    "lead-A": [1.0, 3.0, 11.0, 21.0, 51.0, 81.0, 91.0, 106.0],
    "lead-B": [8.0, 16.0],
    "lead-C": [1.0, -19.0],  # the simple model has no floor
}


@pytest.fixture(params=["session-broker", "tansu"])
def either_broker_settings(request, tmp_path):
    """Settings on the session's broker, then on Tansu (skipped when the session's broker is Tansu already)."""
    if request.param == "tansu" and broker_kind() == "tansu":
        pytest.skip("the session's broker is Tansu already")
    broker = request.getfixturevalue("broker" if request.param == "session-broker" else "tansu")
    return new_settings(broker, tmp_path / "state")


def test_events_in_scores_and_crossings_out(either_broker_settings, codec, tmp_path):
    settings = either_broker_settings
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers)
    step = 0
    for lead_id, types in JOURNEYS.items():
        for event_type in types:
            step += 1
            event = make_event(lead_id, event_type, at_ms=T0 + step * 1000, event_id=f"{lead_id}-{step}")
            producer.send(settings.topics.events, key=lead_id.encode(), value=codec.encode_event(event))
    producer.send(settings.topics.events, key=b"lead-D", value=b"not avro at all")
    producer.send(settings.topics.events, key=b"lead-D", value=codec.encode_event(make_event("lead-D", "teleport")))
    producer.flush()
    producer.close()

    worker = spawn_worker(settings, log_file=tmp_path / "worker.log")
    try:
        names = settings.topics
        expected_changes = sum(len(scores) for scores in EXPECTED_SCORES.values())

        def complete(records):
            counts = {
                topic: sum(1 for r in records if r[0] == topic)
                for topic in (names.score_changes, names.thresholds, names.dead_letters)
            }
            return counts == {names.score_changes: expected_changes, names.thresholds: 2, names.dead_letters: 2}

        records = read_topics(
            settings.bootstrap_servers, [names.score_changes, names.thresholds, names.dead_letters], complete, 90
        )
        assert worker.poll() is None, (tmp_path / "worker.log").read_text()
        lag_caught_up = f'leadscore_consumer_lag_records{{partition="0",topic="{names.events}"}} 0.0'
        deadline = time.monotonic() + 20  # the lag gauge is refreshed every 5 s
        while True:
            url = f"http://127.0.0.1:{settings.web_port}/metrics"
            metrics = urllib.request.urlopen(url, timeout=5).read().decode()
            if lag_caught_up in metrics or time.monotonic() > deadline:
                break
            time.sleep(0.5)
    finally:
        stop_process(worker, grace_s=15)
    assert worker.returncode is not None

    changes = [(key, value) for topic, key, value in records if topic == names.score_changes]
    scores: dict[str, list[float]] = {}
    for key, value in changes:
        assert key == value["lead_id"].encode()
        scores.setdefault(value["lead_id"], []).append(value["score"])
    assert scores == EXPECTED_SCORES
    last_a = [value for _, value in changes if value["lead_id"] == "lead-A"][-1]
    assert last_a["contributions"] == [{"rule_id": "webinar-attended", "points": 15.0, "value_now": 15.0}]
    assert (last_a["engagement"], last_a["fit"], last_a["grade"]) == (106.0, 0.0, "D")
    assert (last_a["previous_score"], last_a["delta"], last_a["level"]) == (91.0, 15.0, "SQL")
    assert last_a["cause"] == "EVENT" and last_a["cause_event_id"] == "lead-A-8"

    crossings = [value for topic, _, value in records if topic == names.thresholds]
    assert [(c["lead_id"], c["level"], c["direction"], c["score"], c["cause_event_id"]) for c in crossings] == [
        ("lead-A", "MQL", "UP", 81.0, "lead-A-6"),
        ("lead-A", "SQL", "UP", 106.0, "lead-A-8"),
    ]

    letters = sorted((value for topic, _, value in records if topic == names.dead_letters), key=lambda v: v["offset"])
    assert [letter["error_type"] for letter in letters] == ["DecodeError", "InvalidEventError"]
    assert letters[0]["value"] == b"not avro at all" and letters[0]["key"] == b"lead-D"
    assert "unknown event type 'teleport'" in letters[1]["reason"]

    assert f'leadscore_events_consumed_total{{topic="{names.events}"}} 14.0' in metrics
    assert 'leadscore_score_changes_total{model="b2b"} 12.0' in metrics
    assert 'leadscore_threshold_crossings_total{direction="UP",level="MQL",model="b2b"} 1.0' in metrics
    assert 'leadscore_events_scored_total{type="demo_request"} 1.0' in metrics
    assert 'leadscore_dead_letters_total{error_type="DecodeError",topic="' in metrics
    assert "leadscore_event_to_emit_seconds_count 12.0" in metrics
    assert f'leadscore_message_processing_seconds_count{{topic="{names.events}"}} 14.0' in metrics
    assert "leadscore_recovery_remaining_records 0.0" in metrics
    assert lag_caught_up in metrics
    assert "faust_messages_received_total" in metrics  # Faust's own sensor on the same registry


def test_profiles_recompute_fit_on_the_wire(broker, tmp_path):
    """The example B2B model: a profile on lead-profiles gives fit (and MQL), then an event adds engagement (SQL)."""
    from scoring import LeadProfile, example_model_path

    settings = new_settings(broker, tmp_path / "state", "profiles-it", model_paths=[example_model_path("b2b")])
    names = settings.topics
    codec = AvroCodec(LocalSchemaRegistry())
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers)
    profile = LeadProfile("lead-P", T0, email="cfo@bank.example", industry="banking", company_size=4000)
    producer.send(names.profiles, key=b"lead-P", value=codec.encode_profile(profile))
    producer.flush()
    worker = spawn_worker(settings, log_file=tmp_path / "worker.log")
    try:
        first = read_topics(settings.bootstrap_servers, [names.score_changes], lambda rs: len(rs) >= 1, 90)
        event = make_event("lead-P", "demo_request", at_ms=T0 + 60_000, event_id="p-1")
        producer.send(names.events, key=b"lead-P", value=codec.encode_event(event))
        producer.flush()
        producer.close()
        records = read_topics(
            settings.bootstrap_servers,
            [names.score_changes, names.thresholds],
            lambda rs: sum(1 for r in rs if r[0] == names.thresholds) >= 2,
            60,
        )
    finally:
        stop_process(worker, grace_s=15)
    profile_change = first[0][2]
    assert (profile_change["cause"], profile_change["fit"], profile_change["grade"]) == ("PROFILE", 75.0, "A")
    assert profile_change["score"] == 75.0
    event_change = next(v for t, _, v in records if t == names.score_changes and v["cause"] == "EVENT")
    assert event_change["score"] == 115.0 and event_change["engagement"] == 40.0
    crossings = [(v["level"], v["direction"], v["cause"]) for topic, _, v in records if topic == names.thresholds]
    assert crossings == [("MQL", "UP", "PROFILE"), ("SQL", "UP", "EVENT")]
