"""The true end offset of changelog and input partitions, whatever high watermark the broker reports (ADR 011)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol, TypeVar

from aiokafka import AIOKafkaConsumer, TopicPartition

from streams.kafka.security import aiokafka_security
from streams.settings import Settings

EMPTY_FETCHES_TO_STOP = 2


FETCH_TIMEOUT_MS = 300


class PartitionKey(Protocol):
    """A topic partition as any client names it (Faust's ``TP``, aiokafka's ``TopicPartition``): a dict key."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...


P = TypeVar("P", bound=PartitionKey)


def read_committed_consumer(settings: Settings, **options: object) -> AIOKafkaConsumer:
    """A group-less aiokafka consumer of the cluster, ``read_committed`` (never an aborted transaction's records,
    ADR 024), with the cluster's security settings; ``options`` are more ``AIOKafkaConsumer`` settings. Not started."""
    return AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        enable_auto_commit=False,
        group_id=None,
        isolation_level="read_committed",
        **aiokafka_security(settings),
        **options,
    )


async def exact_end_offsets(settings: Settings, reported: Mapping[P, int]) -> dict[P, int]:
    """The position after each partition's last committed record: read (``read_committed``) from ``reported - 1``
    up to the reported end, further back when that holds no record; the last record read + 1.

    Tansu reports the base offset of the last batch + 1, which makes Faust end recovery early, and even refuse
    to start (``ConsistencyError: persisted offset is higher than the highwater``) after a crash: the fetch reads
    past it. On Kafka, where a transaction's commit or abort marker (or aborted records) ends a partition, Faust's
    recovery would wait for ever for a record at the reported end - 1 (ADR 024): the end returned is then lower than
    the reported one. A partition without a committed record ends at its first offset.
    """
    fetchable = {tp: end for tp, end in reported.items() if end and end > 0}
    if not fetchable:
        return dict(reported)
    consumer = read_committed_consumer(settings)
    await consumer.start()
    ends = dict(reported)
    try:
        partitions = {TopicPartition(tp.topic, tp.partition): tp for tp in fetchable}
        consumer.assign(list(partitions))
        firsts = await consumer.beginning_offsets(list(partitions))
        targets = {kafka_tp: fetchable[tp] for kafka_tp, tp in partitions.items()}
        window = 1
        while targets:
            starts = {kafka_tp: max(firsts[kafka_tp], end - window) for kafka_tp, end in targets.items()}
            last = await _last_records(consumer, starts, targets)
            for kafka_tp in list(targets):
                found = last.get(kafka_tp)
                if found is not None or starts[kafka_tp] <= firsts[kafka_tp]:
                    ends[partitions[kafka_tp]] = firsts[kafka_tp] if found is None else found + 1
                    del targets[kafka_tp]
            window *= 64
    finally:
        await consumer.stop()
    return ends


async def _last_records(
    consumer: AIOKafkaConsumer, starts: Mapping[TopicPartition, int], ends: Mapping[TopicPartition, int]
) -> dict[TopicPartition, int]:
    """The offset of the last record read per partition from ``starts`` until the position reaches ``ends`` (or,
    on a broker whose position never gets there, a few empty fetches): Tansu's fetch may read past the end."""
    for tp, start in starts.items():
        consumer.seek(tp, start)
    last: dict[TopicPartition, int] = {}
    waiting, empty = set(starts), 0
    while waiting and empty < EMPTY_FETCHES_TO_STOP * 5:
        batches = await consumer.getmany(*waiting, timeout_ms=FETCH_TIMEOUT_MS)
        empty = 0 if any(batches.values()) else empty + 1
        for tp, records in batches.items():
            if records:
                last[tp] = max(last.get(tp, -1), records[-1].offset)
        for tp in list(waiting):
            if await consumer.position(tp) >= ends[tp]:
                waiting.discard(tp)
    return last
