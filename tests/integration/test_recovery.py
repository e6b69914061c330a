"""A restarted worker recovers every key and value of its state from the changelog, exactly."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition
from kafka import KafkaProducer

from scoring import example_model_path
from streams.devtools.processes import spawn_worker, stop_process
from streams.worker.stored import as_json, decode_stored
from tests.conftest import T0, make_event


def fetch(url: str):
    try:
        with urllib.request.urlopen(url, timeout=5) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, error.read().decode()
    except OSError:
        return None, ""


def metric(text: str, name: str) -> float:
    return sum(float(line.split()[-1]) for line in text.splitlines() if line.startswith(name))


def changelog_contents(bootstrap: str, topic: str, partitions: int) -> dict[str, dict]:
    """Last value per key, read to the end with librdkafka (an independent client), until 3 s of silence."""
    consumer = Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"check-{time.time()}",
            "auto.offset.reset": "earliest",
            "enable.auto.commit": False,
            "log_level": 3,
        }
    )
    consumer.assign([TopicPartition(topic, partition, OFFSET_BEGINNING) for partition in range(partitions)])
    last: dict[str, dict | None] = {}
    quiet_since = time.monotonic()
    while time.monotonic() - quiet_since < 3:
        message = consumer.poll(0.5)
        if message is None or message.error():
            continue
        quiet_since = time.monotonic()
        value = message.value()
        last[json.loads(message.key())] = as_json(decode_stored(value)) if value else None
    consumer.close()
    return {key: value for key, value in last.items() if value is not None}


@pytest.mark.parametrize("store", ["rocksdb://", "memory://"])
def test_restart_recovers_every_key_and_value(settings, codec, tmp_path, store):
    settings = settings.model_copy(update={"store": store, "model_paths": [example_model_path("b2b")]})
    # Many distinct keys, some written twice: the last batch of each changelog partition holds several keys.
    types = ["demo_request", "page_view", "content_download", "email_open"]
    events = [make_event(f"lead-{n}", types[n % 4], T0 + n, event_id=f"r-{n}") for n in range(3000)]
    events += [make_event(f"lead-{n}", "webinar_signup", T0 + 10_000 + n, event_id=f"s-{n}") for n in range(0, 3000, 3)]
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers, linger_ms=20)
    for event in events:
        producer.send(settings.topics.events, key=event.lead_id.encode(), value=codec.encode_event(event))
    producer.flush()
    producer.close()
    base = f"http://127.0.0.1:{settings.web_port}"

    first = spawn_worker(settings.model_copy(update={"data_dir": tmp_path / "first"}), tmp_path / "first.log")
    try:
        deadline = time.monotonic() + 120
        while time.monotonic() < deadline:
            status, text = fetch(f"{base}/metrics")
            if status == 200 and metric(text, "leadscore_events_consumed_total") >= len(events):
                break
            time.sleep(1)
        time.sleep(2)  # let the last table writes reach the changelog
    finally:
        stop_process(first, grace_s=20)
    changelog = f"{settings.app_id}-lead-state-changelog"
    expected = changelog_contents(settings.bootstrap_servers, changelog, settings.partitions)
    assert len(expected) == len({event.lead_id for event in events})

    # A new data directory: everything comes back from the changelog (the case where recovery lost keys).
    second = spawn_worker(settings.model_copy(update={"data_dir": tmp_path / "second"}), tmp_path / "second.log")
    try:
        deadline = time.monotonic() + 120
        readiness = []
        while time.monotonic() < deadline and (not readiness or readiness[-1][0] != 200):
            readiness.append(fetch(f"{base}/readyz"))
            time.sleep(0.2)
        recovered = {}
        for lead_id in expected:
            status, text = fetch(f"{base}/leads/{lead_id}?raw=1")
            recovered[lead_id] = json.loads(text)["state"] if status == 200 else None
        topped_up = metric(fetch(f"{base}/metrics")[1], "leadscore_recovery_topped_up_records_total")
    finally:
        stop_process(second, grace_s=20)
    assert any(status == 503 and '"recovering"' in body for status, body in readiness), readiness[:3]
    assert readiness[-1][0] == 200
    missing = [lead for lead, state in recovered.items() if state is None]
    stale = [lead for lead, state in recovered.items() if state is not None and state != expected[lead]]
    assert (missing, stale) == ([], []), f"topped up {topped_up}"
