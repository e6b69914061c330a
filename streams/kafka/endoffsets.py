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


async def exact_end_offsets(settings: Settings, reported: Mapping[P, int]) -> dict[P, int]:
    """The true end offset of each partition: one fetch from ``reported - 1``; the last record read + 1.

    Tansu reports the base offset of the last batch + 1, which makes Faust end recovery early, and even refuse
    to start (``ConsistencyError: persisted offset is higher than the highwater``) after a crash. On a correct
    broker the fetch returns the last record, whose offset + 1 is what was reported.
    """
    fetchable = {tp: end for tp, end in reported.items() if end and end > 0}
    if not fetchable:
        return dict(reported)
    consumer = AIOKafkaConsumer(
        bootstrap_servers=settings.bootstrap_servers,
        enable_auto_commit=False,
        group_id=None,
        **aiokafka_security(settings),
    )
    await consumer.start()
    ends = dict(reported)
    try:
        partitions = {TopicPartition(tp.topic, tp.partition): tp for tp in fetchable}
        consumer.assign(list(partitions))
        for kafka_tp, tp in partitions.items():
            consumer.seek(kafka_tp, fetchable[tp] - 1)
        waiting = set(partitions)
        for _ in range(EMPTY_FETCHES_TO_STOP * 5):
            if not waiting:
                break
            batches = await consumer.getmany(*waiting, timeout_ms=FETCH_TIMEOUT_MS)
            for kafka_tp, records in batches.items():
                if records:
                    tp = partitions[kafka_tp]
                    ends[tp] = max(ends[tp], records[-1].offset + 1)
                    waiting.discard(kafka_tp)
    finally:
        await consumer.stop()
    return ends
