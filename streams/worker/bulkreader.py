"""The bulk recovery's reader and writer (ADR 030): changelog partitions read with confluent-kafka in large fetches
and written to RocksDB in write batches, on a thread of its own (no asyncio here: the worker's event loop keeps
answering ``/healthz`` meanwhile).

Each fetched batch of records is one ``WriteBatch`` per partition, with the partition's last offset in it under
Faust's offset key, so what is on disk is always the changelog up to the offset the store says. The batches skip
RocksDB's write-ahead log; each partition's memtable is flushed to disk before the load returns, before Faust
writes anything with its log, so a crash mid-load loses only a tail of the load, offset and records together.
"""

from __future__ import annotations

import ctypes
import gc
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Protocol

from confluent_kafka import Consumer, KafkaError, Message, TopicPartition
from rocksdict import WriteBatch, WriteOptions

from scoring.errors import LeadscoreError
from streams.kafka.security import librdkafka_config
from streams.settings import Settings
from streams.worker.storeddue import PartitionDues

#: Records taken from librdkafka's queue per call, and how long a call may wait for them.
CONSUME_RECORDS = 20_000
CONSUME_TIMEOUT_S = 0.5
#: A load that receives nothing for this long while records remain gives up (Faust's recovery reads the rest).
STALL_S = 30.0

#: Fetch sizes and librdkafka's prefetch queue (per consumer, in bytes). Larger fetches did not read faster here
#: (16, 32 and 64 MiB: within the noise); the queue bounds the memory a load holds.
FETCH_BYTES = 16 * 1024 * 1024
PARTITION_FETCH_BYTES = 4 * 1024 * 1024
QUEUE_BYTES = 64 * 1024 * 1024


class BulkRecoveryError(LeadscoreError):
    """The bulk recovery could not read a changelog partition to its end (the broker stopped answering, or refused
    the fetch). Nothing is lost: what was written is complete up to its persisted offset, and Faust's own recovery
    reads the rest, only slower. If this repeats, check the broker's health and the worker's access to the topic."""


class PartitionDB(Protocol):
    """What the loader needs of one partition's RocksDB database (a rocksdict ``Rdict`` in raw mode)."""

    def write(self, write_batch: WriteBatch, write_opt: WriteOptions | None = None) -> None: ...
    def flush(self, wait: bool = True) -> None: ...


@dataclass(frozen=True)
class ChangelogRange:
    """Where a bulk load of one changelog partition starts (persisted offset + 1) and the exact end it reads to."""

    partition: int
    start: int
    end: int
    into_empty: bool = False  # the store held nothing of it: the due fields are collected while loading


@dataclass
class LoadCounts:
    """What a bulk load did: records written, of them tombstones, keyless records skipped, seconds spent."""

    records: int = 0
    tombstones: int = 0
    keyless: int = 0
    read_s: float = 0.0
    write_s: float = 0.0
    flush_s: float = 0.0
    complete: bool = False
    last_offsets: dict[int, int] = field(default_factory=dict)  # the last offset written, per partition
    dues: dict[int, PartitionDues] = field(default_factory=dict)  # of the partitions loaded into an empty store


@contextmanager
def paused_gc() -> Iterator[None]:
    """Python's cyclic garbage collector paused (if it was on) for the duration. A recovery allocates millions of
    small objects that hold no cycles (messages, byte strings, tuples); every collection walks all those alive, a
    fifth of the bulk load's and of the due index's samples in a profile at 1,000,000 leads. Reference counting
    still frees them all."""
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def load_partitions(
    settings: Settings,
    topic: str,
    ranges: Sequence[ChangelogRange],
    databases: Mapping[int, PartitionDB],
    offset_key: bytes,
    stopped: Callable[[], bool],
) -> LoadCounts:
    """Read each range of ``topic`` to its end and write it to its partition's database (the garbage collector
    paused meanwhile)."""
    with paused_gc():
        return _load(settings, topic, ranges, databases, offset_key, stopped)


def _load(
    settings: Settings,
    topic: str,
    ranges: Sequence[ChangelogRange],
    databases: Mapping[int, PartitionDB],
    offset_key: bytes,
    stopped: Callable[[], bool],
) -> LoadCounts:
    counts = LoadCounts(dues={r.partition: PartitionDues() for r in ranges if r.into_empty})
    ends = {r.partition: r.end for r in ranges}
    consumer = Consumer(_consumer_config(settings))
    try:
        consumer.assign([TopicPartition(topic, r.partition, r.start) for r in ranges])
        quiet_since = time.monotonic()
        while ends and not stopped():
            read_at = time.monotonic()
            messages = consumer.consume(CONSUME_RECORDS, CONSUME_TIMEOUT_S)
            written_at = time.monotonic()
            counts.read_s += written_at - read_at
            if not messages:
                if written_at - quiet_since > STALL_S:
                    raise BulkRecoveryError(f"{topic}: nothing received for {STALL_S:.0f} s, {len(ends)} left")
                continue
            quiet_since = written_at
            _write(messages, ends, databases, offset_key, counts)
            counts.write_s += time.monotonic() - written_at
        counts.complete = not ends
    finally:
        consumer.close()
    flush_at = time.monotonic()
    for database in databases.values():
        database.flush(True)
    counts.flush_s = time.monotonic() - flush_at
    _return_freed_memory()
    return counts


def _return_freed_memory() -> None:
    """Give the heap the load has freed (librdkafka's fetch buffers, a million messages) back to the system: glibc
    keeps it otherwise, and the worker's RSS stays about 450 MB higher after 1,000,000 leads (measured)."""
    try:
        libc = ctypes.CDLL("libc.so.6")
    except OSError:  # not glibc: nothing to do
        return
    libc.malloc_trim(0)


def _write(
    messages: list[Message],
    ends: dict[int, int],
    databases: Mapping[int, PartitionDB],
    offset_key: bytes,
    counts: LoadCounts,
) -> None:
    """One write batch per partition of ``messages``, with its last offset; a partition whose end is reached (or
    whose end of partition is reported) leaves ``ends``."""
    batches: dict[int, WriteBatch] = {}
    last: dict[int, int] = {}
    for message in messages:
        partition = message.partition()
        assert partition is not None  # only a client-level error has none, and raises below
        error = message.error()
        if error is not None:
            if error.code() == KafkaError._PARTITION_EOF:
                ends.pop(partition, None)
                continue
            raise BulkRecoveryError(f"{message.topic()} [{partition}]: {error.str()}")
        if partition not in ends:
            continue  # past its end already (in the same fetch): Faust's recovery reads those
        key, value = message.key(), message.value()
        offset = message.offset()
        assert offset is not None  # a record always has one
        last[partition] = offset
        if key is None:
            counts.keyless += 1  # a table record always has a key; Faust's store could not hold this one
            continue
        batch = batches.get(partition)
        if batch is None:
            batch = batches[partition] = WriteBatch(raw_mode=True)
        if (dues := counts.dues.get(partition)) is not None:
            dues.apply(key, value)
        if value is None:
            batch.delete(key)
            counts.tombstones += 1
        else:
            batch.put(key, value)
        counts.records += 1
    options = WriteOptions()
    options.disable_wal = True  # type: ignore[method-assign,assignment]  # a property; the stub says a method
    for partition, offset in last.items():
        batch = batches.get(partition) or WriteBatch(raw_mode=True)
        batch.put(offset_key, str(offset).encode())
        databases[partition].write(batch, options)
        counts.last_offsets[partition] = offset
        if offset >= ends.get(partition, offset + 2) - 1:
            ends.pop(partition, None)


def _consumer_config(settings: Settings) -> dict[str, str | int | float | bool]:
    """A plain, group-less consumer of committed records only (ADR 024) with large fetches."""
    return {
        "bootstrap.servers": settings.bootstrap_servers,
        **librdkafka_config(settings),
        "group.id": f"{settings.app_id}-bulk-recovery",  # librdkafka wants one; nothing is ever committed
        "enable.auto.commit": False,
        "enable.auto.offset.store": False,
        "auto.offset.reset": "earliest",
        "isolation.level": "read_committed",
        "enable.partition.eof": True,
        "fetch.max.bytes": FETCH_BYTES,
        "receive.message.max.bytes": FETCH_BYTES + 1024 * 1024,
        "max.partition.fetch.bytes": PARTITION_FETCH_BYTES,
        "queued.max.messages.kbytes": QUEUE_BYTES // 1024,
        # librdkafka stops fetching a partition for fetch.queue.backoff.ms (1 s) once queued.min.messages (100,000)
        # are queued: 1,000,000 leads read in 8.5 s with those defaults, 3.2 to 5.3 s without the pause.
        "queued.min.messages": 10_000_000,
        "fetch.queue.backoff.ms": 1,
        "fetch.wait.max.ms": 100,
        "log_level": 3,
    }
