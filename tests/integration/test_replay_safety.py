"""At-least-once delivery never double-counts: duplicates by event id, and re-delivery after a crash."""

from __future__ import annotations

import os
import signal

from kafka import KafkaProducer

from streams.devtools.processes import spawn_worker, stop_process
from tests.conftest import T0, make_event
from tests.integration.conftest import read_topics

POINTS = {"email_open": 1, "page_view": 2, "content_download": 8, "demo_request": 30}


def produce(settings, codec, events):
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers, linger_ms=5)
    for event in events:
        producer.send(settings.topics.events, key=event.lead_id.encode(), value=codec.encode_event(event))
    producer.flush()
    producer.close()


def final_scores(records, topic):
    latest: dict[str, tuple] = {}
    for record_topic, _, value in records:
        lead = value["lead_id"]
        if record_topic == topic and (lead not in latest or value["occurred_at"] >= latest[lead][0]):
            latest[lead] = (value["occurred_at"], value["score"])
    return {lead: score for lead, (_, score) in latest.items()}


def test_duplicates_and_crash_redelivery_count_once(settings, codec, tmp_path):
    types = list(POINTS)
    batch1 = [make_event(f"lead-{n % 7}", types[n % 4], T0 + n * 1000, event_id=f"a-{n}") for n in range(60)]
    batch2 = [make_event(f"lead-{n % 7}", types[n % 3], T0 + 100_000 + n * 1000, event_id=f"b-{n}") for n in range(40)]
    expected: dict[str, float] = {}
    for event in batch1 + batch2:
        expected[event.lead_id] = expected.get(event.lead_id, 0.0) + POINTS[event.type]
    changes_topic = settings.topics.score_changes

    produce(settings, codec, batch1 + batch1[:10])  # the first ten delivered twice
    worker = spawn_worker(settings, log_file=tmp_path / "worker-1.log")
    records = read_topics(settings.bootstrap_servers, [changes_topic], lambda rs: len(rs) >= 60, timeout_s=90)
    os.kill(worker.pid, signal.SIGKILL)  # right away: offsets of the last events are likely not committed yet
    worker.wait(timeout=10)
    assert len(records) == 60

    produce(settings, codec, batch2 + batch1[-5:])
    worker = spawn_worker(settings, log_file=tmp_path / "worker-2.log")
    try:

        def settled(rs):
            return final_scores(rs, changes_topic) == expected

        records = read_topics(settings.bootstrap_servers, [changes_topic], settled, timeout_s=120)
    finally:
        stop_process(worker, grace_s=15)
    assert final_scores(records, changes_topic) == expected
    by_id: dict[str, dict] = {}
    for _, _, value in records:
        assert by_id.setdefault(value["change_id"], value) == value, "a re-emitted change must be identical"
    assert len(by_id) == 100, "one change per distinct event: none lost, none counted twice"
