"""Typed views of the Kafka clients the analysis tools call: aiokafka 0.14 and kafka-python ship no type
information (no ``py.typed``; pyproject's mypy section lets their imports through untyped), so each client is
assigned to one of these Protocols where it is made. The calls leadscore makes are then checked, and nothing
is claimed about the rest of the library."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Protocol


class Partition(Protocol):
    """``aiokafka.TopicPartition`` (a NamedTuple): hashable, a dict key."""

    @property
    def topic(self) -> str: ...

    @property
    def partition(self) -> int: ...


class ConsumerRecord(Protocol):
    """``aiokafka.ConsumerRecord`` of a consumer without deserializers: bytes as on the wire."""

    @property
    def offset(self) -> int: ...

    @property
    def key(self) -> bytes | None: ...

    @property
    def value(self) -> bytes | None: ...


class ClusterClient(Protocol):
    """``aiokafka.AIOKafkaClient``: only the metadata refresh (the consumer has no public call for it)."""

    def force_metadata_update(self) -> Awaitable[bool]: ...


class AsyncConsumer(Protocol):
    """The calls made on ``aiokafka.AIOKafkaConsumer`` (assigned partitions, no group)."""

    _client: ClusterClient

    async def start(self) -> None: ...

    async def stop(self) -> None: ...

    def partitions_for_topic(self, topic: str) -> set[int] | None: ...

    def assign(self, partitions: list[Partition]) -> None: ...

    async def beginning_offsets(self, partitions: list[Partition]) -> dict[Partition, int]: ...

    async def end_offsets(self, partitions: list[Partition]) -> dict[Partition, int]: ...

    def seek(self, partition: Partition, offset: int) -> None: ...

    async def getmany(
        self, *partitions: Partition, timeout_ms: int = 0, max_records: int | None = None
    ) -> dict[Partition, list[ConsumerRecord]]: ...


class SendFuture(Protocol):
    """``kafka.producer.future.FutureRecordMetadata``."""

    def get(self, timeout: float | None = None) -> object: ...

    def add_errback(self, f: Callable[[BaseException], None]) -> object: ...


class SyncProducer(Protocol):
    """The calls made on kafka-python's ``KafkaProducer`` (bytes keys and values, no serializers)."""

    def send(self, topic: str, value: bytes | None = None, key: bytes | None = None) -> SendFuture: ...

    def flush(self, timeout: float | None = None) -> None: ...

    def close(self, timeout: float | None = None) -> None: ...
