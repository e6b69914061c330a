"""A restarted worker recovers every key and value of its state from the changelog, exactly."""

from __future__ import annotations

import json
import time
import urllib.request

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient, NewTopic
from kafka import KafkaProducer

from scoring import LeadState, example_model_path
from streams.devtools.brokers import broker_kind
from streams.devtools.processes import spawn_worker, stop_process
from streams.kafka.partitioner import lead_partition
from streams.settings import Settings
from streams.worker.stored import StoredLead, as_json, decode_stored, encode_stored
from tests.conftest import T0, make_event
from tests.integration.kafka_support import Worker, end_offsets, read_all, wait_until

#: Roll a segment a second after its first record, clean as soon as 1 % of the log is dirty, drop tombstones at
#: the next cleaning (the cleaner never touches the active segment).
FAST_COMPACTION = {"segment.ms": "1000", "min.cleanable.dirty.ratio": "0.01", "delete.retention.ms": "0"}


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


# Bulk recovery (ADR 030): the changelog written straight to the topic, as the worker writes it, with overwritten
# keys, tombstones and keys written again after their tombstone; a worker on an empty data directory must come back
# with exactly the last value of every key, written by the bulk load, Faust's own recovery finding nothing left.

#: Rounds of ``(lead id, value)`` written to the changelog in order (a None value: a tombstone).
Rounds = list[list[tuple[str, bytes | None]]]

LEADS = 1200
VERSIONS = 3  # each lead written this many times (the last one is its state)


def stored(lead_id: str, version: int, partitions: int) -> bytes:
    """A stored state as the worker writes it (state format 2), with a due time and (some leads) a score trail;
    one lead in four, and every lead's first version, as 0.2 wrote them (format 1: JSON, ``LeadState.to_dict()``
    plus ``p``, ``d`` and ``h``): a changelog written before and after an upgrade."""
    n = int(lead_id.split("-")[1])
    seen = {} if n % 7 == 0 else {f"digest-{version}": T0 + version}  # no "t" without seen events
    due = None if n % 5 == 0 else T0 + 3_600_000 + n * 1000 + version
    trail = [[T0 + version, {"t": version, "p": [1, 2]}]] if n % 3 == 0 else None  # nested "t" and "p" keys
    lead = StoredLead(
        lead_partition(lead_id, partitions), due, LeadState(lead_id, {}, seen, T0 + version if seen else 0), trail
    )
    if n % 4 == 1 or version == 0:
        return json.dumps(as_json(lead), separators=(",", ":")).encode()
    return encode_stored(lead)


def create_topic(settings: Settings, topic: str, config: dict[str, str]) -> None:
    admin = AdminClient({"bootstrap.servers": settings.bootstrap_servers})
    for future in admin.create_topics([NewTopic(topic, settings.partitions, 1, config=config)]).values():
        future.result(30)


def write_changelog(settings: Settings, topic: str, rounds: Rounds, pause_s: float) -> None:
    """Produce each round of ``(lead id, value or None)`` to the lead's partition, ``pause_s`` between rounds."""
    producer = Producer({"bootstrap.servers": settings.bootstrap_servers, "linger.ms": 20, "log_level": 3})
    for records in rounds:
        for lead_id, value in records:
            partition = lead_partition(lead_id, settings.partitions)
            producer.produce(topic, key=json.dumps(lead_id).encode(), value=value, partition=partition)
        assert producer.flush(30) == 0
        time.sleep(pause_s)


def changelog_rounds(partitions: int) -> Rounds:
    """Every lead written VERSIONS times; one in ten deleted after that, and one in thirty of all written again."""
    leads = [f"lead-{n}" for n in range(LEADS)]
    rounds: Rounds = [[(lead, stored(lead, version, partitions)) for lead in leads] for version in range(VERSIONS)]
    rounds.append([(lead, None) for lead in leads[::10]])
    rounds.append([(lead, stored(lead, VERSIONS, partitions)) for lead in leads[::30]])
    return rounds


def cleaned(settings: Settings, topic: str, ends: list[int]) -> dict[int, list] | None:
    """What ``topic`` holds, once the cleaner has removed records from every partition (else None)."""
    found = read_all(settings.bootstrap_servers, topic, settings.partitions)
    return found if all(len(found[p]) < end for p, end in enumerate(ends)) else None


def last_values(rounds: Rounds) -> dict[str, bytes]:
    last: dict[str, bytes | None] = {}
    for records in rounds:
        last.update(records)
    return {lead: value for lead, value in last.items() if value is not None}


@pytest.mark.parametrize("compacted", [False, True], ids=["uncompacted", "compacted"])
def test_bulk_recovery_restores_every_key_and_value_and_the_due_index(settings, tmp_path, compacted):
    if compacted and broker_kind() == "tansu":
        pytest.skip("Tansu does not compact")
    settings = settings.model_copy(update={"log_level": "INFO", "standby_replicas": 0})
    changelog = f"{settings.app_id}-lead-state-changelog"
    config = {"cleanup.policy": "compact", **(FAST_COMPACTION if compacted else {})}
    create_topic(settings, changelog, config)
    rounds = changelog_rounds(settings.partitions)
    write_changelog(settings, changelog, rounds, pause_s=1.2 if compacted else 0)
    if compacted:  # the cleaner has removed records from every partition: offsets with gaps, tombstones gone
        ends = end_offsets(settings.bootstrap_servers, changelog, settings.partitions)
        assert sum(ends) == sum(map(len, rounds))
        held = wait_until(lambda: cleaned(settings, changelog, ends), "the log cleaner compacts the changelog")
    else:  # (Tansu's reported end offsets can be short by a batch: the records are counted instead)
        held = read_all(settings.bootstrap_servers, changelog, settings.partitions)
        assert sum(map(len, held.values())) == sum(map(len, rounds))
    expected = last_values(rounds)

    worker = Worker(settings, tmp_path / "worker.log")
    try:
        ready = wait_until(worker.ready, "the worker recovers and gets ready")
        recovered = {lead: worker.state(lead) for lead in (f"lead-{n}" for n in range(LEADS))}
        bulk = worker.metric("leadscore_recovery_bulk_records_total")
        topped_up = worker.metric("leadscore_recovery_topped_up_records_total")
        due = worker.metric("leadscore_leads_due")
    finally:
        worker.stop()
    assert ready["leads"] == len(expected)
    wrong = [lead for lead, state in recovered.items() if state != _served(expected.get(lead))]
    assert wrong == []
    assert bulk == sum(map(len, held.values()))  # every record held, by the bulk load
    assert topped_up == 0
    assert "Restoring state from changelog topics" not in (tmp_path / "worker.log").read_text()  # Faust: nothing left
    assert due == sum(decode_stored(value).due_ms is not None for value in expected.values())


def _served(value: bytes | None) -> dict | None:
    """What ``/leads/{id}?raw=1`` answers for a stored value (format 1's JSON form, whatever the format)."""
    return None if value is None else json.loads(json.dumps(as_json(decode_stored(value))))
