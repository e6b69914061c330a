"""The compacted lead-scores topic and GDPR erasure, over the wire."""

from __future__ import annotations

from kafka import KafkaProducer

from streams.devtools.processes import spawn_worker, stop_process
from tests.conftest import T0, make_event
from tests.integration.conftest import read_topics


def test_latest_scores_then_erasure_leaves_tombstones_and_a_completion(settings, codec, tmp_path):
    names = settings.topics
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers)
    for n, lead in enumerate(["keep", "forget", "keep", "forget"]):
        event = make_event(lead, "demo_request", T0 + n, event_id=f"x-{n}")
        producer.send(names.events, key=lead.encode(), value=codec.encode_event(event))
    producer.flush()
    worker = spawn_worker(settings, log_file=tmp_path / "worker.log")
    try:
        read_topics(settings.bootstrap_servers, [names.scores], lambda rs: len(rs) >= 4, 90)
        erasure = codec.encode("LeadErasure", {"request_id": "gdpr-7", "lead_id": "forget", "requested_at": T0})
        producer.send(names.erasures, key=b"forget", value=erasure)
        producer.flush()
        producer.close()
        records = read_topics(
            settings.bootstrap_servers,
            [names.scores, names.erasures_completed],
            lambda rs: any(topic == names.erasures_completed for topic, _, _ in rs),
            60,
        )
    finally:
        stop_process(worker, grace_s=15)
    latest = {}
    for topic, key, value in records:
        if topic == names.scores:
            latest[key] = value
    assert latest[b"keep"]["models"][0]["score"] == 60.0 and latest[b"keep"]["models"][0]["levels"] == ["MQL"]
    assert latest[b"forget"] is None  # the tombstone is the last word on the erased lead
    [completed] = [value for topic, _, value in records if topic == names.erasures_completed]
    assert (completed["request_id"], completed["lead_id"], completed["had_state"]) == ("gdpr-7", "forget", True)

    changelog = f"{settings.app_id}-lead-state-changelog"
    from kafka import KafkaConsumer

    consumer = KafkaConsumer(
        changelog, bootstrap_servers=settings.bootstrap_servers, auto_offset_reset="earliest", consumer_timeout_ms=3000
    )
    last = {record.key: record.value for record in consumer}
    consumer.close()
    assert last[b'"forget"'] is None and last[b'"keep"'] is not None  # Faust writes table keys as JSON
