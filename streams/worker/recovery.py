"""Making table recovery exact when the broker reports a wrong high watermark, and despite a Faust buffer bug.

Faust recovers a table by reading its changelog up to the partition's high watermark. Some brokers (Tansu, used
in our tests) report the base offset of the last record batch + 1 instead of the last offset + 1, so recovery ends
early and silently loses the keys written last (measured: 1 of 20,000 keys). After Faust's recovery, and before
the agents resume, this module reads every active changelog partition on from the offset Faust reached until two
fetches come back empty, and applies what Faust missed. On a correct broker (Kafka) that is two empty fetches and
nothing applied (ADR 011; ADR 022, "Tansu workarounds on Kafka").
"""

from __future__ import annotations

import json
import logging
import time
from collections.abc import Iterator, Mapping
from typing import cast

from aiokafka import TopicPartition
from aiokafka.structs import ConsumerRecord
from faust.types import TP, AppT, ConsumerT, EventT

from streams.kafka.endoffsets import EMPTY_FETCHES_TO_STOP, FETCH_TIMEOUT_MS, exact_end_offsets, read_committed_consumer
from streams.settings import Settings
from streams.worker.bulkreader import paused_gc
from streams.worker.bulkrecovery import BulkHandover, rocksdb_store, stored_items
from streams.worker.metrics import Metrics
from streams.worker.storeddue import StoredDue, stored_due, stored_dues
from streams.worker.table import LeadTable, StoredState, table_recovery
from streams.worker.ticks import DueIndex, PartitionClocks, index_due

#: Where Faust's recovery reached, per changelog partition: ``(topic, partition) -> offset`` of the last record applied.
RecoveredOffsets = Mapping[tuple[str, int], int]

log = logging.getLogger(__name__)


async def top_up(
    settings: Settings, table: LeadTable, recovered_offsets: RecoveredOffsets, partitions: set[int]
) -> int:
    """Apply changelog records past the offsets Faust recovered to; returns how many were applied."""
    topic = table.changelog_topic.get_topic_name()
    tps = [TopicPartition(topic, partition) for partition in sorted(partitions)]
    if not tps:
        return 0
    consumer = read_committed_consumer(settings)  # never an aborted transaction's state (ADR 024)
    await consumer.start()
    applied = 0
    try:
        consumer.assign(tps)
        for tp in tps:
            start = recovered_offsets.get((tp.topic, tp.partition), -1) + 1
            consumer.seek(tp, start)
        empty = 0
        while empty < EMPTY_FETCHES_TO_STOP:
            batches = await consumer.getmany(timeout_ms=FETCH_TIMEOUT_MS)
            records = [record for batch in batches.values() for record in batch]
            if not records:
                empty += 1
                continue
            empty = 0
            table.apply_changelog_batch([_event(record) for record in records])
            applied += len(records)
    finally:
        await consumer.stop()
    return applied


def _event(record: ConsumerRecord[bytes, bytes]) -> EventT[StoredState]:
    key = json.loads(record.key) if record.key is not None else None  # keys are JSON, values raw (state format 2)
    return changelog_event(record.topic, record.partition, record.offset, record.key, record.value, key, record.value)


class _ChangelogMessage:
    """The message of a changelog event as table stores read it (``tp`` and ``partition`` for the persisted offsets,
    ``key``/``value`` the raw bytes RocksDB stores). A slotted class: the fast path builds one per lead per batch."""

    __slots__ = ("key", "offset", "partition", "topic", "tp", "value")

    def __init__(self, topic: str, partition: int, offset: int, key: bytes | None, value: bytes | None) -> None:
        self.topic, self.partition, self.offset, self.key, self.value = topic, partition, offset, key, value
        self.tp = TP(topic, partition)


class _ChangelogEvent:
    __slots__ = ("key", "message", "value")

    def __init__(self, key: str | None, value: StoredState | None, message: _ChangelogMessage) -> None:
        self.key, self.value, self.message = key, value, message


def changelog_event(
    topic: str,
    partition: int,
    offset: int,
    raw_key: bytes | None,
    raw_value: bytes | None,
    key: str | None,
    value: StoredState | None,
) -> EventT[StoredState]:
    """The shape of a Faust changelog event that table stores read in ``apply_changelog_batch``: the raw bytes
    (RocksDB stores them as they are) and the decoded key and value (the memory store keeps those). Only those
    fields: not a whole :class:`faust.types.EventT`, but all a store's ``apply_changelog_batch`` reads of one."""
    message = _ChangelogMessage(topic, partition, offset, raw_key, raw_value)
    return cast("EventT[StoredState]", _ChangelogEvent(key, value, message))


def correct_highwaters(consumer: ConsumerT, settings: Settings) -> None:
    """Make a Faust consumer's ``highwaters`` exact (see :func:`streams.kafka.endoffsets.exact_end_offsets`)."""
    reported_highwaters = consumer.highwaters

    async def highwaters(*partitions: TP) -> Mapping[TP, int]:
        return await exact_end_offsets(settings, await reported_highwaters(*partitions))

    consumer.highwaters = highwaters  # type: ignore[method-assign]  # the consumer's own, wrapped


async def complete_recovery(
    app: AppT,
    settings: Settings,
    table: LeadTable,
    due_index: DueIndex,
    clocks: PartitionClocks,
    metrics: Metrics,
    bulk: BulkHandover,
) -> None:
    """After Faust's recovery, before the agents resume: read what a wrong high watermark hid (ADR 011), then index
    the owned leads that have a crossing by decay ahead (ADR 009)."""
    owned = {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == settings.topics.events}
    recovery = table_recovery(app)
    recovery.flush_buffers()  # records read after Faust's last flush
    offsets = {(tp.topic, tp.partition): offset for tp, offset in recovery.active_offsets.items()}
    try:
        metrics.recovery_topped_up.inc(await top_up(settings, table, offsets, owned))
    except Exception as exc:  # Faust ignores errors of recovery callbacks: never run on incomplete state
        log.exception("completing the table recovery failed; stopping the worker")
        await app.crash(exc)
        return
    started = time.monotonic()
    with paused_gc():
        index_due(_stored_dues(table, owned, bulk), owned, due_index, clocks, int(time.time() * 1000))
    metrics.leads_due.set(len(due_index))
    log.info("due index rebuilt: %d leads due in %.2f s", len(due_index), time.monotonic() - started)


def _stored_dues(table: LeadTable, partitions: set[int], bulk: BulkHandover) -> Iterator[tuple[str, StoredDue]]:
    """The due fields of every stored lead of ``partitions``: as the bulk recovery collected them where nothing was
    written since, else read from RocksDB's bytes (ADR 030), or from the memory store's values."""
    store = rocksdb_store(table)
    if store is None:
        yield from ((lead_id, stored_due(value)) for lead_id, value in table.items())
        return
    collected = bulk.take_dues(store)
    for partition in sorted(partitions):
        dues = collected.get(partition)
        yield from dues.entries(partition) if dues is not None else stored_dues(stored_items(store, [partition]))
