"""How the worker's consumer fetches: the broker's fetch wait (ADR 014), committed records only (ADR 024), and no
fetched record left behind (ADR 023)."""

from __future__ import annotations

import logging
from collections.abc import Container, Mapping, Sequence
from typing import Protocol

from aiokafka import AIOKafkaConsumer
from faust.transport.drivers.aiokafka import Consumer, Transport
from faust.types import TP

log = logging.getLogger(__name__)


class Positions(Protocol):
    """Where the consumer's fetcher stands per partition, and how to move it: ``(topic, partition)`` keyed."""

    def position(self, tp: TP) -> int | None: ...
    def seek(self, tp: TP, offset: int) -> None: ...


class ReadOffsets(Protocol):
    """The last offset delivered per partition, if any."""

    def get(self, tp: TP, /) -> int | None: ...


class _Offsetted(Protocol):
    @property
    def offset(self) -> int: ...


def set_fetch_wait(consumer: Consumer, wait_ms: int) -> None:
    """Faust builds its worker's aiokafka consumer with ``fetch_max_wait_ms=1500``, hard-coded. Kafka answers a fetch
    as soon as data arrives, so that only matters when idle; some brokers (Tansu) hold every fetch for the full wait
    (measured: 371 ms median delay at 1,500 ms, 8 ms at 50 ms), which made it the worker's latency (ADR 014)."""
    thread = consumer._thread
    create = thread._create_worker_consumer

    def create_with_wait(transport: Transport) -> AIOKafkaConsumer:
        kafka_consumer = create(transport)
        kafka_consumer._fetch_max_wait_ms = wait_ms  # read by AIOKafkaConsumer.start() to build its fetcher
        return kafka_consumer

    thread._create_worker_consumer = create_with_wait  # type: ignore[method-assign]  # Faust's own, wrapped


def read_committed(consumer: Consumer) -> None:
    """Faust asks aiokafka for ``read_committed`` only under its own ``exactly_once``, which leadscore does not use
    (ADR 024): without this the worker scores the events of an upstream producer's aborted transactions, and with
    transactional changelog writes it would recover aborted state. In both guarantees the worker's consumer (inputs,
    changelog recovery, standbys) reads committed records only; on a broker without transactions it is the same."""
    thread = consumer._thread
    create = thread._create_worker_consumer

    def create_read_committed(transport: Transport) -> AIOKafkaConsumer:
        kafka_consumer = create(transport)
        kafka_consumer._isolation_level = "read_committed"  # read by AIOKafkaConsumer.start() to build its fetcher
        return kafka_consumer

    thread._create_worker_consumer = create_read_committed  # type: ignore[method-assign]  # Faust's own, wrapped


def undelivered(
    fetched: Mapping[TP, Sequence[_Offsetted]], read_offsets: ReadOffsets, positions: Positions
) -> dict[TP, int]:
    """Per partition, the first fetched offset Faust did not deliver (``read_offsets``: Faust's own record of the
    last offset it handed on, per partition), where nothing has moved the fetcher since the fetch (its position is
    still just past the fetched records: a rebalance's seek to committed offsets wins)."""
    rewind: dict[TP, int] = {}
    for tp, records in fetched.items():
        if not records:
            continue
        first, last = records[0].offset, records[-1].offset
        read = read_offsets.get(tp)
        next_offset = first if read is None or read < first else read + 1
        if next_offset <= last and positions.position(tp) == last + 1:
            rewind[tp] = next_offset
    return rewind


class _AiokafkaPositions:
    def __init__(self, consumer: Consumer) -> None:
        self._consumer = consumer

    def _kafka(self) -> AIOKafkaConsumer:
        return self._consumer._thread._ensure_consumer()

    def position(self, tp: TP) -> int | None:
        assignment = self._kafka()._subscription.subscription
        state = None if assignment is None else assignment.assignment.state_value(tp)
        if state is None or not state.has_valid_position:
            return None
        position: int = state.position
        return position

    def seek(self, tp: TP, offset: int) -> None:
        self._kafka().seek(tp, offset)


class _ReadOffsets:
    """The last offset delivered per partition: Faust's own read offsets, except for the partitions of ``topics``
    (changelogs), where it is the last offset their recovery's queue received since the partition's latest fetch
    (ADR 026): Faust marks a record read even when the callback that was to deliver it was cancelled."""

    def __init__(self, faust_read: Mapping[TP, int | None], delivered: Mapping[TP, int], topics: Container[str]):
        self._faust_read, self._delivered, self._topics = faust_read, delivered, topics

    def get(self, tp: TP) -> int | None:
        return self._delivered.get(tp) if tp.topic in self._topics else self._faust_read.get(tp)


def keep_undelivered_records(
    consumer: Consumer, delivered: dict[TP, int] | None = None, delivered_topics: Container[str] = ()
) -> None:
    """Faust's ``getmany`` drops records the fetcher has already handed over (moving its position past them) when
    a partition leaves its live set of active partitions during the fetch, or the flow stops or the generation
    changes mid-batch. After a rebalance that loses records for good: on Apache Kafka a worker taking over a
    killed worker's partitions sometimes never scored what was produced meanwhile (ADR 023). Before each fetch,
    this seeks every partition whose previous fetch was not all delivered (by Faust's own read offsets; for changelog
    partitions, by what the recovery's queue received: ADR 026) back to the
    first record not delivered, unless something (a rebalance's seek) has moved the partition since. Nothing is
    added per message: the check runs once per fetch."""
    wait_next_records = consumer._wait_next_records
    positions = _AiokafkaPositions(consumer)
    previous: dict[TP, Sequence[_Offsetted]] = {}
    delivered_since: dict[TP, int] = {} if delivered is None else delivered
    read_offsets = _ReadOffsets(consumer._read_offset, delivered_since, delivered_topics)

    async def wait_next_records_kept(timeout: float) -> tuple[Mapping[TP, Sequence[_Offsetted]] | None, object]:
        for tp, offset in undelivered(previous, read_offsets, positions).items():
            log.warning("rewinding %s[%d] to offset %d: fetched but not delivered", tp.topic, tp.partition, offset)
            positions.seek(tp, offset)
        previous.clear()
        records, active = await wait_next_records(timeout)
        if records:
            previous.update(records)
            for tp in records:  # from here on, what the queue receives of each changelog partition is this fetch's
                if tp.topic in delivered_topics:
                    delivered_since.pop(tp, None)
        return records, active

    consumer._wait_next_records = wait_next_records_kept  # type: ignore[method-assign,assignment]  # wrapped
