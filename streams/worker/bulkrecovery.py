"""Bulk recovery: the active changelog partitions read with a plain consumer and written to RocksDB in write batches,
before Faust's own recovery looks at them (ADR 030).

Faust (0.15.3) recovers a table one changelog record at a time through its consumer, its changelog queue and its
per-event buffers: about 4,000 leads/s here. When the worker is assigned partitions, the table's store opens their
databases, then Faust's ``Recovery.on_rebalance`` reads each active partition's persisted offset (the RocksDB store
keeps it under ``Store.offset_key`` in each partition's database) and later reads the changelog on from there.
:func:`install_bulk_recovery` runs in between: for each active changelog partition it reads from the persisted
offset + 1 to the partition's exact end (:func:`streams.kafka.endoffsets.exact_end_offsets`, ``read_committed``)
with a confluent-kafka consumer in large fetches, on a thread of its own (:mod:`streams.worker.bulkreader`), and
writes the records to the partition's database as they are (bytes; a tombstone deletes the key), each fetch one
``WriteBatch`` together with its last offset as the persisted offset. Faust's recovery then starts at the end and
finds nothing left; what it does find (records written since, a load stopped early) it reads as before. Standby
partitions are left to Faust (ADR 030).
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, cast

from aiokafka import TopicPartition
from faust.stores.rocksdb import Store as RocksStore
from faust.tables.recovery import Recovery
from faust.types import TP, AppT
from prometheus_client import Counter

from streams.kafka.endoffsets import exact_end_offsets, read_committed_consumer
from streams.settings import Settings
from streams.worker.bulkreader import ChangelogRange, LoadCounts, PartitionDB, load_partitions
from streams.worker.metrics import Metrics
from streams.worker.storeddue import PartitionDues
from streams.worker.table import LeadTable, table_recovery

log = logging.getLogger(__name__)

#: Faust's ``Collection.on_rebalance``: ``(assigned, revoked, newly_assigned, generation_id)``.
OnRebalance = Callable[[set[TP], set[TP], set[TP], int], Any]


def rocksdb_store(table: LeadTable) -> RocksStore | None:
    """The table's Faust RocksDB store; None for another store (``memory://``: Faust recovers it alone)."""
    store = table.data
    return store if isinstance(store, RocksStore) else None


def stored_items(store: RocksStore, partitions: Iterable[int]) -> Iterator[tuple[bytes, bytes]]:
    """Every stored ``(key, value)`` of ``partitions`` as bytes, Faust's offset key left out."""
    for partition in sorted(partitions):
        for key, value in store._db_for_partition(partition).items():
            if key != store.offset_key:
                yield key, value


def install_bulk_recovery(app: AppT, settings: Settings, table: LeadTable, metrics: Metrics) -> BulkHandover:
    """Put the bulk load between the store's part of a rebalance and Faust's recovery (:class:`BulkHandover`).

    The table's ``on_rebalance`` is wrapped (Faust's ``TableManager.on_rebalance`` awaits it, then the recovery's
    ``on_rebalance``); on the first rebalance the wrapper also wraps the recovery's, which Faust creates lazily."""
    handover = BulkHandover(app, settings, table, metrics)
    faust_table_on_rebalance = cast(OnRebalance, table.on_rebalance)

    async def on_rebalance(assigned: set[TP], revoked: set[TP], newly: set[TP], generation_id: int = 0) -> None:
        await faust_table_on_rebalance(assigned, revoked, newly, generation_id)  # the store opens the partitions
        handover.wrap(table_recovery(app))

    table.on_rebalance = on_rebalance  # type: ignore[method-assign,assignment]  # Faust's own, wrapped
    return handover


class BulkHandover:
    """Faust's ``Recovery.on_rebalance``, deferred behind a bulk load of the active changelog partitions.

    The load cannot run inside the rebalance callback: aiokafka sends no heartbeat until the callback returns, so a
    load longer than the session timeout has the worker thrown out of the group (seen at 1,000,000 leads). The
    callback therefore only starts a task, which loads, then hands over to Faust's ``on_rebalance`` (which reads
    the persisted offsets and starts Faust's recovery). Until then Faust's recovery has not started, the assigned
    partitions stay paused (Faust paused them) and ``/readyz`` says 503. A newer rebalance stops a running load
    first (each batch is complete with its offset) and waits for it; Faust ignores the older hand-over by its
    generation."""

    def __init__(self, app: AppT, settings: Settings, table: LeadTable, metrics: Metrics) -> None:
        self.app, self.settings, self.table = app, settings, table
        self.loaded = Counter(
            "leadscore_recovery_bulk_records",
            "Changelog records the bulk recovery wrote to the store before Faust's recovery (ADR 030).",
            registry=metrics.registry,
        )
        self._faust_on_rebalance: OnRebalance | None = None
        self._dues: dict[int, tuple[int, PartitionDues]] = {}  # per partition: its offset then, its due fields
        self._task: asyncio.Task[None] | None = None
        self._stop = threading.Event()

    def wrap(self, recovery: Recovery) -> None:
        """Defer ``recovery.on_rebalance`` behind the load (once)."""
        if self._faust_on_rebalance is None:
            self._faust_on_rebalance = cast(OnRebalance, recovery.on_rebalance)
            recovery.on_rebalance = self.on_rebalance  # type: ignore[method-assign,assignment]  # Faust's, wrapped

    async def on_rebalance(self, assigned: set[TP], revoked: set[TP], newly: set[TP], generation_id: int = 0) -> None:
        assert self._faust_on_rebalance is not None  # set by ``wrap``
        if self._task is not None:  # an older load: stopped at its next fetch, its hand-over ignored by Faust
            self._stop.set()
            await asyncio.wait([self._task])
        store = rocksdb_store(self.table)
        if store is None or generation_id != self.app.consumer_generation_id or self.app.should_stop:
            await self._faust_on_rebalance(assigned, revoked, newly, generation_id)
            return
        self._stop = threading.Event()
        args = (assigned, revoked, newly, generation_id)
        self._task = asyncio.ensure_future(self._load_then_hand_over(store, self._stop, args))

    def take_dues(self, store: RocksStore) -> dict[int, PartitionDues]:
        """The due fields collected by the loads since the last call, of the partitions whose store has had nothing
        written since (its persisted offset is still the last one loaded: Faust's recovery and the top-up move it);
        the others are forgotten."""
        topic = self.table.changelog_topic.get_topic_name()
        taken, self._dues = self._dues, {}
        return {p: dues for p, (offset, dues) in taken.items() if store.persisted_offset(TP(topic, p)) == offset}

    async def _load_then_hand_over(
        self, store: RocksStore, stop: threading.Event, args: tuple[set[TP], set[TP], set[TP], int]
    ) -> None:
        app, generation_id = self.app, args[3]

        def stopped() -> bool:  # read on the loader's thread
            return stop.is_set() or app.consumer_generation_id != generation_id or app.should_stop

        try:
            counts = await bulk_load_actives(app, self.settings, self.table, store, stopped)
            if counts is not None:
                self.loaded.inc(counts.records)
                self._dues.update((p, (counts.last_offsets[p], d)) for p, d in counts.dues.items())
        except Exception:  # Faust's recovery reads on from what was written (each batch with its offset)
            log.exception("bulk recovery failed; Faust's own recovery reads the rest of the changelog")
        finally:
            stop.set()
        assert self._faust_on_rebalance is not None
        try:
            await self._faust_on_rebalance(*args)
        except Exception as exc:  # what the rebalance callback would have done with it
            await app.crash(exc)


async def bulk_load_actives(
    app: AppT, settings: Settings, table: LeadTable, store: RocksStore, stopped: Callable[[], bool]
) -> LoadCounts | None:
    """Load this worker's active changelog partitions from their persisted offsets to their exact ends."""
    topic = table.changelog_topic.get_topic_name()
    partitions = sorted(tp.partition for tp in app.assignor.assigned_actives() if tp.topic == topic)
    if not partitions:
        return None
    started = time.monotonic()
    ranges = await changelog_ranges(settings, store, topic, partitions)
    if not ranges:
        return None
    planned = time.monotonic()
    databases = {r.partition: cast(PartitionDB, store._db_for_partition(r.partition)) for r in ranges}
    counts = await asyncio.to_thread(load_partitions, settings, topic, ranges, databases, store.offset_key, stopped)
    log.info(
        "bulk recovery of %s: %d records (%d tombstones) of %d partitions in %.2f s (end offsets %.2f s, "
        "reading %.2f s, writing %.2f s, flushing %.2f s)%s",
        topic,
        counts.records,
        counts.tombstones,
        len(ranges),
        time.monotonic() - started,
        planned - started,
        counts.read_s,
        counts.write_s,
        counts.flush_s,
        "" if counts.complete else "; stopped early, Faust's recovery reads the rest",
    )
    return counts


async def changelog_ranges(
    settings: Settings, store: RocksStore, topic: str, partitions: list[int]
) -> list[ChangelogRange]:
    """Each partition's persisted offset + 1 (or its first offset) and its exact end, where records remain."""
    tps = [TopicPartition(topic, partition) for partition in partitions]
    firsts, reported = await _watermarks(settings, tps)
    ends = await exact_end_offsets(settings, reported)
    ranges = []
    for tp in tps:
        persisted = store.persisted_offset(TP(topic, tp.partition))
        start = max(firsts[tp], -1 if persisted is None else persisted + 1)
        if start < ends[tp]:
            ranges.append(ChangelogRange(tp.partition, start, ends[tp], into_empty=persisted is None))
    return ranges


async def _watermarks(
    settings: Settings, tps: list[TopicPartition]
) -> tuple[Mapping[TopicPartition, int], Mapping[TopicPartition, int]]:
    """First offsets and end offsets (the last stable offset: ``read_committed``) of ``tps``."""
    consumer = read_committed_consumer(settings)
    await consumer.start()
    try:
        return await consumer.beginning_offsets(tps), await consumer.end_offsets(tps)
    finally:
        await consumer.stop()
