"""exactly_once on Apache Kafka's own broker (ADR 024): one transaction per input partition and batch, fencing by
transactional id, read_committed consumers that see every output once, and recovery from a changelog whose
partitions end in transaction markers. Tansu has no transactions: there the worker stops at once, in one line."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaProducer

from streams.devtools.apache_kafka import ApacheKafkaBroker
from streams.devtools.brokers import Broker
from streams.devtools.processes import free_port
from streams.errors import ProduceError
from streams.kafka.codec import AvroCodec
from streams.kafka.transactions import PartitionTransactions
from tests.avro_reference import reference_decode
from tests.conftest import T0, make_event
from tests.integration.conftest import new_settings
from tests.integration.kafka_support import Records, Worker, committed_offsets, own_kafka, read_all, wait_until

POINTS = {"email_open": 1, "page_view": 2, "demo_request": 30}


@pytest.fixture(scope="module")
def kafka(tmp_path_factory: pytest.TempPathFactory) -> Iterator[ApacheKafkaBroker]:
    with own_kafka(tmp_path_factory.mktemp("kafka") / "kafka.log") as broker:
        yield broker


async def test_an_aborted_transaction_leaves_nothing_and_a_new_owner_fences_the_old(
    kafka: ApacheKafkaBroker, tmp_path: Path
) -> None:
    """A transaction that raises is aborted: read_committed sees none of its records and the group's offset does
    not move. A second owner of the same partition fences the first: the first's next transaction fails."""
    settings = new_settings(kafka, tmp_path / "state", partitions=2, processing_guarantee="exactly_once")
    topic, events = settings.topics.score_changes, settings.topics.events
    first, second = PartitionTransactions(settings), PartitionTransactions(settings)
    try:
        await first.on_assigned([0, 1])
        async with first.transaction(1) as transaction:
            await transaction.send_all([(topic, b"k", b"committed", 1)])
            await transaction.send_offsets({(events, 1): 5})
        with pytest.raises(RuntimeError):
            async with first.transaction(1) as transaction:
                await transaction.send_all([(topic, b"k", b"aborted", 1)])
                await transaction.send_offsets({(events, 1): 9})
                raise RuntimeError("the batch fails mid-transaction")
        await second.on_assigned([1])  # the new owner: InitProducerId fences the first
        with pytest.raises(ProduceError):
            async with first.transaction(1) as transaction:
                await transaction.send_all([(topic, b"k", b"zombie", 1)])
                await transaction.send_offsets({(events, 1): 12})
        with pytest.raises(ProduceError, match="not assigned"):  # and it does not fence the owner back
            async with first.transaction(1):
                pass
        async with second.transaction(1) as transaction:
            await transaction.send_all([(topic, b"k", b"owner", 1)])
            await transaction.send_offsets({(events, 1): 7})
    finally:
        await first.stop()
        await second.stop()
    committed = [value for _, _, value in read_all(kafka.bootstrap, topic, 2, "read_committed")[1]]
    everything = [value for _, _, value in read_all(kafka.bootstrap, topic, 2)[1]]
    assert committed == [b"committed", b"owner"]
    assert b"aborted" in everything  # it reached the log, and read_committed hides it
    assert committed_offsets(kafka.bootstrap, settings.app_id, events, 2)[1] == 7


def change_ids(records: dict[int, Records]) -> list[str]:
    return [reference_decode(value)[1]["change_id"] for found in records.values() for _, _, value in found if value]


def _produce(bootstrap: str, topic: str, codec: AvroCodec, leads: int, rounds: range, pause_s: float) -> int:
    """One event per lead and round, each round flushed, then a pause (the worker scores batches meanwhile)."""
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    types = list(POINTS)
    sent = 0
    for round_ in rounds:
        for n in range(leads):
            event = make_event(f"lead-{n}", types[(n + round_) % 3], T0 + round_ * 1000 + n, event_id=f"e{n}-{round_}")
            producer.send(topic, key=event.lead_id.encode(), value=codec.encode_event(event))
            sent += 1
        producer.flush()
        time.sleep(pause_s)
    producer.close()
    return sent


def test_killed_mid_transaction_read_committed_sees_every_output_once_and_recovery_is_exact(
    kafka: ApacheKafkaBroker, codec: AvroCodec, tmp_path: Path
) -> None:
    """SIGKILLed twice under load (restarted on the same data dir), then a third worker on a fresh data dir: a
    read_committed consumer reads each score change exactly once, every lead ends with the exact score, and the
    fresh worker recovers from changelog partitions that end in commit markers (Faust would wait for ever)."""
    settings = new_settings(kafka, tmp_path / "state", partitions=2, processing_guarantee="exactly_once")
    leads, per_lead = 60, 30
    worker = Worker(settings, tmp_path / "w1.log")
    try:
        wait_until(worker.ready, "the exactly_once worker gets ready")
        for kill in range(2):
            produced = _produce(
                kafka.bootstrap, settings.topics.events, codec, leads, range(kill * 3, kill * 3 + 3), 0.05
            )
            assert produced == leads * 3
            os.kill(worker.process.pid, signal.SIGKILL)
            worker.process.wait(10)
            worker = Worker(settings, tmp_path / f"w{kill + 2}.log")
        _produce(kafka.bootstrap, settings.topics.events, codec, leads, range(6, per_lead), 0.05)
        expected = {
            f"lead-{n}": float(sum(POINTS[list(POINTS)[(n + r) % 3]] for r in range(per_lead))) for n in range(leads)
        }
        wait_until(lambda: all(worker.score(lead) == score for lead, score in expected.items()), "exact scores", 180)
    finally:
        worker.stop()
    ids = change_ids(read_all(kafka.bootstrap, settings.topics.score_changes, 2, "read_committed"))
    assert len(ids) == leads * per_lead  # every event moved its lead's score once
    assert [n for n in Counter(ids).values() if n > 1] == []

    fresh = Worker(
        settings.model_copy(update={"data_dir": tmp_path / "fresh", "web_port": free_port()}), tmp_path / "w2.log"
    )
    try:
        wait_until(fresh.ready, "a fresh worker recovers a transactional changelog and gets ready", 120)
        assert {lead: fresh.score(lead) for lead in expected} == expected
    finally:
        fresh.stop()


def test_exactly_once_on_a_broker_without_transactions_stops_in_one_line(tansu: Broker, tmp_path: Path) -> None:
    settings = tansu.settings("leadscore-eos-tansu", tmp_path / "state", processing_guarantee="exactly_once")
    done = subprocess.run(
        [sys.executable, "-m", "streams.cli", "worker"],
        env={**os.environ, **settings.to_env()},
        capture_output=True,
        text=True,
        timeout=120,
    )
    lines = [line for line in done.stderr.splitlines() if line.strip()]
    assert done.returncode == 2, done.stderr
    assert len(lines) == 1, done.stderr
    assert "exactly_once" in lines[0] and "at_least_once" in lines[0]
