"""Plain Kafka clients (kafka-python) for the tools around the worker: the generator, the demo, the tests."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

from kafka import KafkaConsumer, KafkaProducer
from kafka.errors import KafkaError

from scoring import LeadEvent, LeadProfile
from streams.errors import BrokerError, DecodeError
from streams.kafka.codec import AvroCodec


class EventProducer:
    """Produces LeadEvents, Confluent-framed Avro, keyed by lead id."""

    def __init__(self, bootstrap_servers: str, codec: AvroCodec, topic: str, **client_config: object) -> None:
        self.codec = codec
        self.topic = topic
        try:
            self._producer = KafkaProducer(
                bootstrap_servers=bootstrap_servers, acks="all", linger_ms=5, **client_config
            )
        except KafkaError as exc:
            raise BrokerError(f"cannot reach {bootstrap_servers}: {exc}") from None

    def send(self, event: LeadEvent) -> None:
        self._producer.send(self.topic, key=event.lead_id.encode(), value=self.codec.encode_event(event))

    def send_profile(self, profile: LeadProfile, topic: str) -> None:
        self._producer.send(topic, key=profile.lead_id.encode(), value=self.codec.encode_profile(profile))

    def send_raw(self, key: bytes | None, value: bytes | None, topic: str | None = None) -> None:
        """Send bytes as they are, to ``topic`` (default: the events topic): the demo's malformed input, and its
        Segment JSON for a declared source."""
        self._producer.send(topic or self.topic, key=key, value=value)

    def flush(self, timeout_s: float = 30.0) -> None:
        try:
            self._producer.flush(timeout=timeout_s)
        except KafkaError as exc:
            raise BrokerError(f"could not deliver every event within {timeout_s:.0f} s: {exc}") from None

    def close(self, timeout_s: float = 5.0) -> None:
        """Close without waiting forever for a broker that is gone."""
        self._producer.close(timeout=timeout_s)


class OutputReader:
    """Reads and decodes leadscore's output topics from the beginning; yields ``(topic, record)``."""

    def __init__(self, bootstrap_servers: str, codec: AvroCodec, topics: list[str]):
        self.codec = codec
        try:
            self._consumer = KafkaConsumer(
                *topics,
                bootstrap_servers=bootstrap_servers,
                group_id=None,
                auto_offset_reset="earliest",
                enable_auto_commit=False,
                consumer_timeout_ms=0,
            )
        except KafkaError as exc:
            raise BrokerError(f"cannot reach {bootstrap_servers}: {exc}") from None

    def poll(self, timeout_ms: int = 200) -> Iterator[tuple[str, dict[str, Any]]]:
        batches = self._consumer.poll(timeout_ms=timeout_ms)
        for partition, records in batches.items():
            for record in records:
                try:
                    _, value = self.codec.decode(record.value)
                except DecodeError:
                    continue
                yield partition.topic, value

    def close(self) -> None:
        self._consumer.close()
