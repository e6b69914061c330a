"""Exactly-once writes (ADR 024): one Kafka transaction per input partition and batch, one producer per partition.

aiokafka's transactional producer implements the model from before KIP-447: ``send_offsets_to_transaction`` takes
a group id but no consumer group metadata, so the broker cannot tell a zombie's offsets from the owner's by the
group generation. Fencing therefore rests on the ``transactional.id``: each input partition has its own,
``<app id>-<events topic>-<partition>``, and the worker that is assigned a partition initialises its producer
(``InitProducerId``) before Faust reads the committed offsets or recovers the changelog. That bumps the id's epoch:
the broker aborts whatever the previous owner left open and refuses its later writes and commits
(``ProducerFenced``). Every topic a worker reads has the same partitions (co-partitioned), so partition ``p`` of
every input, the changelog's partition ``p`` and the transactional id of ``p`` always have one owner.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterable, Mapping, Sequence
from typing import Protocol

from aiokafka import AIOKafkaProducer, TopicPartition
from aiokafka.errors import KafkaError

from streams.errors import BrokerError, ProduceError
from streams.kafka.producer import BATCH_BYTES, Record, send_records
from streams.kafka.security import aiokafka_security
from streams.settings import Settings

INIT_TIMEOUT_S = 30.0
#: Input offsets to commit with a transaction: ``(topic, partition) -> next offset to read``.
Offsets = Mapping[tuple[str, int], int]


class Transaction(Protocol):
    """What a batch writes inside one transaction."""

    async def send_all(self, records: Sequence[Record]) -> list[int]: ...
    async def send_offsets(self, offsets: Offsets) -> None: ...


class Transactions(Protocol):
    """Transactions per input partition (:class:`PartitionTransactions`, or a test's stand-in)."""

    def transaction(self, partition: int) -> contextlib.AbstractAsyncContextManager[Transaction]: ...
    async def on_assigned(self, partitions: Iterable[int]) -> None: ...
    async def stop(self) -> None: ...


def transactional_id(settings: Settings, partition: int) -> str:
    """The transactional id of an input partition: stable across restarts and owners, so a new owner fences."""
    return f"{settings.app_id}-{settings.topics.events}-{partition}"


def transactional_producer(settings: Settings, transaction_id: str) -> AIOKafkaProducer:
    return AIOKafkaProducer(
        bootstrap_servers=settings.bootstrap_servers,
        client_id=transaction_id,
        transactional_id=transaction_id,
        acks="all",
        linger_ms=0,
        max_batch_size=BATCH_BYTES,
        **aiokafka_security(settings),
    )


async def start_fenced(producer: AIOKafkaProducer, transaction_id: str, timeout_s: float = INIT_TIMEOUT_S) -> None:
    """Start ``producer``, which waits for ``InitProducerId``: from then on the previous owner of its id is fenced."""
    try:
        await asyncio.wait_for(producer.start(), timeout_s)
        await asyncio.wait_for(producer._txn_manager.wait_for_pid(), timeout_s)
    except (TimeoutError, KafkaError) as exc:
        with contextlib.suppress(Exception):
            await producer.stop()
        raise BrokerError(
            f"LEADSCORE_PROCESSING_GUARANTEE=exactly_once: the broker did not initialise transactional id "
            f"{transaction_id!r} ({type(exc).__name__}); it may not support transactions (Tansu does not): use "
            f"at_least_once"
        ) from None


class _Open:
    """One open transaction of a producer."""

    def __init__(self, producer: AIOKafkaProducer, group_id: str, counts: dict[str, int]) -> None:
        self._producer, self._group_id, self._counts = producer, group_id, counts

    async def send_all(self, records: Sequence[Record]) -> list[int]:
        return await send_records(self._producer, records, self._counts) if records else []

    async def send_offsets(self, offsets: Offsets) -> None:
        if offsets:
            commit = {TopicPartition(topic, partition): offset for (topic, partition), offset in offsets.items()}
            await self._producer.send_offsets_to_transaction(commit, self._group_id)


class PartitionTransactions:
    """A transactional producer per owned input partition: created and fenced on assignment, closed when the
    partition goes to another worker or its producer fails (a zombie never re-creates one by itself)."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._producers: dict[int, AIOKafkaProducer] = {}
        self._lock = asyncio.Lock()
        self._counts: dict[str, int] = {}

    async def on_assigned(self, partitions: Iterable[int]) -> None:
        """Fence the previous owners of ``partitions`` (before offsets are read and state recovered); close the
        producers of partitions no longer owned."""
        owned = set(partitions)
        async with self._lock:
            for partition in sorted(self._producers.keys() - owned):
                await self._close(partition)
            for partition in sorted(owned - self._producers.keys()):
                await self._open(partition)

    async def _open(self, partition: int) -> AIOKafkaProducer:
        transaction_id = transactional_id(self._settings, partition)
        producer = transactional_producer(self._settings, transaction_id)
        await start_fenced(producer, transaction_id)
        self._producers[partition] = producer
        return producer

    async def _close(self, partition: int) -> None:
        producer = self._producers.pop(partition, None)
        if producer is not None:
            with contextlib.suppress(Exception):
                await producer.stop()

    async def _producer(self, partition: int) -> AIOKafkaProducer:
        producer = self._producers.get(partition)
        if producer is None:  # never opened lazily: a zombie must not fence the partition's owner back
            raise ProduceError(f"input partition {partition} is not assigned to this worker (revoked or fenced)")
        return producer

    @contextlib.asynccontextmanager
    async def transaction(self, partition: int) -> AsyncIterator[Transaction]:
        """Begin a transaction on ``partition``'s producer; commit when the block ends, abort if it raises. A Kafka
        error (fenced by a new owner, a timeout) drops the producer: the partition is no longer written here."""
        producer = await self._producer(partition)
        try:
            await producer.begin_transaction()
            yield _Open(producer, self._settings.app_id, self._counts)
            await producer.commit_transaction()
        except KafkaError as exc:
            await self._drop(partition, producer)
            raise ProduceError(f"transaction of input partition {partition} failed: {exc!r}") from exc
        except BaseException:
            try:
                await asyncio.wait_for(producer.abort_transaction(), INIT_TIMEOUT_S)
            except Exception:
                await self._drop(partition, producer)
            raise

    async def _drop(self, partition: int, producer: AIOKafkaProducer) -> None:
        async with self._lock:
            if self._producers.get(partition) is producer:
                await self._close(partition)

    async def stop(self) -> None:
        async with self._lock:
            for partition in sorted(self._producers):
                await self._close(partition)


async def check_transactions(settings: Settings) -> None:
    """Fail at once, in one line, when the cluster cannot run transactions (exactly_once on Tansu): aiokafka's own
    error log of the failed ``InitProducerId`` is held back, the :class:`BrokerError` says it all."""
    probe = f"{settings.app_id}-transactions-check"
    sender_log = logging.getLogger("aiokafka.producer.sender")
    level = sender_log.level
    sender_log.setLevel(logging.CRITICAL)
    try:
        producer = transactional_producer(settings, probe)
        await start_fenced(producer, probe, timeout_s=15.0)
        await producer.stop()
    finally:
        sender_log.setLevel(level)
