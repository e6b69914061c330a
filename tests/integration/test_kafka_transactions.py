"""On Apache Kafka's own broker (Tansu has no transactions and a wrong high watermark): end offsets after batches of
varied size, and transactional writes (commit and abort markers: offsets that hold no record) in the input and in
the changelog. What leadscore does today is asserted as it is; ADR 022 ("Tansu workarounds on Kafka") says why.

The worker reads ``read_uncommitted``: Faust asks aiokafka for ``read_committed`` only with
``processing_guarantee="exactly_once"``, and leadscore runs at-least-once (ADR 008)."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from confluent_kafka import Producer

from streams.devtools.apache_kafka import ApacheKafkaBroker
from streams.kafka.codec import AvroCodec
from streams.kafka.endoffsets import exact_end_offsets
from streams.kafka.partitioner import lead_partition
from streams.settings import Settings
from tests.conftest import T0, make_event
from tests.integration.conftest import new_settings
from tests.integration.kafka_support import (
    Records,
    Worker,
    committed_offsets,
    end_offsets,
    own_kafka,
    read_all,
    settled_end_offsets,
    wait_until,
)

_ids = itertools.count()


@pytest.fixture(scope="module")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApacheKafkaBroker]:
    with own_kafka(tmp_path_factory.mktemp("kafka") / "kafka.log") as broker:
        yield broker


def transactional(bootstrap: str) -> Producer:
    producer = Producer({"bootstrap.servers": bootstrap, "transactional.id": f"tx-{next(_ids)}", "log_level": 2})
    producer.init_transactions(30)
    return producer


def in_transaction(producer: Producer, commit: bool, records: list[tuple[str, int, bytes, bytes]]) -> None:
    """``(topic, partition, key, value)`` records in one transaction, flushed (so an aborted one is on the broker
    too: librdkafka drops what it has not sent yet when a transaction aborts), then committed or aborted."""
    producer.begin_transaction()
    for topic, partition, key, value in records:
        producer.produce(topic, key=key, value=value, partition=partition)
    producer.flush(30)
    (producer.commit_transaction if commit else producer.abort_transaction)(30)


def readiness(worker: Worker) -> dict[str, Any] | None:
    """The worker's /readyz answer (None until its web server answers)."""
    status, body = worker.get("/readyz")
    answer: dict[str, Any] | None = json.loads(body) if status in (200, 503) else None
    return answer


def offsets_of(records: dict[int, Records]) -> dict[int, list[int]]:
    return {partition: [offset for offset, _, _ in found] for partition, found in records.items()}


async def test_end_offsets_are_kafkas_after_batches_of_varied_size(kafka: ApacheKafkaBroker, tmp_path: Path) -> None:
    """Tansu reported the last batch's base offset + 1 (16 for these 18 records); Kafka reports 18, and so do the
    clients leadscore uses and its own exact end offsets (ADR 011), also where a transaction marker ends a
    partition: its end offset counts the marker (22 for 21 records), which no consumer ever receives."""
    settings = new_settings(kafka, tmp_path / "state", partitions=2)
    topic = settings.topics.score_changes  # any topic of two partitions; nothing reads it here
    producer = AIOKafkaProducer(bootstrap_servers=kafka.bootstrap)
    await producer.start()
    try:
        for partition in (0, 1):
            for size in (10, 1, 1, 1, 1, 1, 3):  # one record batch each, as Tansu's probe wrote them
                batch = producer.create_batch()
                for n in range(size):
                    assert batch.append(key=None, value=f"{size}-{n}".encode(), timestamp=None) is not None
                await (await producer.send_batch(batch, topic, partition=partition))
    finally:
        await producer.stop()
    in_transaction(transactional(kafka.bootstrap), True, [(topic, 1, b"k", b"v")] * 3)

    assert settled_end_offsets(kafka.bootstrap, topic, 2) == [18, 22]
    assert offsets_of(read_all(kafka.bootstrap, topic, 2)) == {0: list(range(18)), 1: list(range(21))}
    tps = [TopicPartition(topic, partition) for partition in (0, 1)]
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka.bootstrap)
    await consumer.start()
    try:
        faust_highwaters = await consumer.end_offsets(tps)  # what Faust's consumer.highwaters asks aiokafka for
    finally:
        await consumer.stop()
    assert [faust_highwaters[tp] for tp in tps] == [18, 22]
    exact = await exact_end_offsets(settings, faust_highwaters)
    assert [exact[tp] for tp in tps] == [18, 22]


@dataclass
class TransactionalRun:
    """A worker that read transactional input to its end, as it saw it, and Kafka's view of the same topics."""

    settings: Settings
    committed_records: int  # what a read_committed consumer reads
    all_records: int  # what a read_uncommitted consumer reads (the aborted transaction's records too)
    ends: list[int]
    last_records: list[int]  # offset of each partition's last record
    committed: list[int]  # the group's committed offsets once the worker is done
    consumed: float
    lags: dict[int, float]
    scores: dict[str, float | None]
    states: dict[str, dict[str, Any] | None]


BOTH = [f"both-{n}" for n in range(10)]  # committed events, and one more in the aborted transaction
GONE = [f"gone-{n}" for n in range(10)]  # events only in the aborted transaction


@pytest.fixture(scope="module")
def transactional_input(
    kafka: ApacheKafkaBroker, codec: AvroCodec, tmp_path_factory: pytest.TempPathFactory
) -> TransactionalRun:
    """Three transactions on lead-events (commit, abort, commit) for a fresh worker: 30 + 2 points for each BOTH
    lead in the committed ones, 1 more in the aborted one; 30 for each GONE lead, in the aborted one only."""
    tmp = tmp_path_factory.mktemp("transactional")
    settings = new_settings(kafka, tmp / "first", partitions=2)
    topic = settings.topics.events

    def events(leads: list[str], type_: str) -> list[tuple[str, int, bytes, bytes]]:
        made = [make_event(lead, type_, T0 + n) for n, lead in enumerate(leads)]
        return [(topic, lead_partition(e.lead_id, 2), e.lead_id.encode(), codec.encode_event(e)) for e in made]

    producer = transactional(kafka.bootstrap)
    in_transaction(producer, True, events(BOTH, "demo_request"))
    in_transaction(producer, False, events(BOTH, "email_open") + events(GONE, "demo_request"))
    in_transaction(producer, True, events(BOTH, "page_view"))
    settled_end_offsets(kafka.bootstrap, topic, 2)
    everything = read_all(kafka.bootstrap, topic, 2)
    last_records = [found[-1][0] for _, found in sorted(everything.items())]
    committed_records = sum(map(len, read_all(kafka.bootstrap, topic, 2, "read_committed").values()))

    worker = Worker(settings, tmp / "first.log")
    try:
        past_the_end = [n + 1 for n in last_records]
        wait_until(
            lambda: all(map(int.__ge__, committed_offsets(kafka.bootstrap, settings.app_id, topic, 2), past_the_end)),
            "the worker commits every partition past its last record",
        )
        zero = {0: 0.0, 1: 0.0}  # measured every 5 s: wait for a figure taken after the last record was read
        lags = wait_until(lambda: (found := worker.lags(topic)) == zero and found, "the lag gauge reaches 0")
        return TransactionalRun(
            settings=settings,
            committed_records=committed_records,
            all_records=sum(map(len, everything.values())),
            ends=end_offsets(kafka.bootstrap, topic, 2),
            last_records=last_records,
            committed=committed_offsets(kafka.bootstrap, settings.app_id, topic, 2),
            consumed=worker.metric("leadscore_events_consumed_total", topic=topic),
            lags=lags,
            scores={lead: worker.score(lead) for lead in BOTH + GONE},
            states={lead: worker.state(lead) for lead in BOTH + GONE},
        )
    finally:
        worker.stop()


def test_the_worker_reads_transactional_input_uncommitted(transactional_input: TransactionalRun) -> None:
    """Every record is consumed across the markers, and the lag gauge reaches 0; but aborted events are scored
    (read_uncommitted), and the group's committed offset stops at the last record + 1, one short of Kafka's end
    offset (Faust commits the last acked offset + 1, not the consumer's position past the marker), so Kafka's own
    consumer-group lag stays 1 on each partition a transaction ends."""
    run = transactional_input
    assert (run.committed_records, run.all_records) == (20, 40)
    assert run.consumed == run.all_records
    assert run.scores == {**{lead: 33.0 for lead in BOTH}, **{lead: 30.0 for lead in GONE}}
    assert run.lags == {0: 0.0, 1: 0.0}
    assert run.ends == [n + 2 for n in run.last_records]  # the commit marker is each partition's last offset
    assert run.committed == [end - 1 for end in run.ends]


def test_recovery_waits_forever_for_a_changelog_that_ends_in_a_transaction_marker(
    kafka: ApacheKafkaBroker, transactional_input: TransactionalRun, tmp_path: Path
) -> None:
    """Faust ends recovery when it has applied the record at the high watermark - 1. When a transaction marker is a
    changelog partition's last offset, no record ever has that offset: recovery stays one record short (Faust
    skips markers only under exactly_once), the worker never gets ready, and one plain write to that partition
    releases it. Recovery is read_uncommitted too: the aborted state comes back with the committed one.
    leadscore writes its changelog without transactions; a transactional writer would have to change this."""
    settings = transactional_input.settings
    changelog = f"{settings.app_id}-lead-state-changelog"
    template = transactional_input.states[BOTH[0]]
    assert template is not None
    committed, aborted = (
        next(f"{name}-{n}" for n in itertools.count() if lead_partition(f"{name}-{n}", 2) == 0)
        for name in ("tx-committed", "tx-aborted")
    )

    def state_record(lead: str) -> tuple[str, int, bytes, bytes]:
        value = {**template, "id": lead, "p": 0}
        return changelog, 0, json.dumps(lead).encode(), json.dumps(value).encode()

    producer = transactional(kafka.bootstrap)
    in_transaction(producer, True, [state_record(committed)])
    in_transaction(producer, False, [state_record(aborted)])
    settled_end_offsets(kafka.bootstrap, changelog, 2)  # before the worker asks for the high watermarks

    worker = Worker(settings.model_copy(update={"data_dir": tmp_path / "second"}), tmp_path / "second.log")
    try:
        stuck = {"status": "recovering", "changelog_records_remaining": 1}
        seen = wait_until(
            lambda: (answer := readiness(worker)) and (answer == stuck or answer["status"] == "ready") and answer,
            "the worker is ready, or recovery is one record short",
        )
        assert seen == stuck
        for _ in range(10):  # nothing is left to read: it stays there (a slower machine cannot make this pass)
            time.sleep(0.5)
            assert readiness(worker) == stuck

        plain = Producer({"bootstrap.servers": kafka.bootstrap, "log_level": 2})
        topic, partition, key, value = state_record(committed)
        plain.produce(topic, key=key, value=value, partition=partition)
        plain.flush(30)
        ready = wait_until(worker.ready, "the worker gets ready once a record follows the marker")
        recovered = {lead: worker.state(lead) for lead in [*BOTH, *GONE, committed, aborted]}
    finally:
        worker.stop()
    assert ready["leads"] == len(BOTH) + len(GONE) + 2
    assert {lead: recovered[lead] for lead in BOTH + GONE} == transactional_input.states
    assert recovered[committed] == {**template, "id": committed, "p": 0}
    assert recovered[aborted] == {**template, "id": aborted, "p": 0}  # aborted, and recovered all the same
