"""How long the worker's consumer lets the broker hold a fetch (ADR 014)."""

from __future__ import annotations

from aiokafka import AIOKafkaConsumer
from faust.transport.drivers.aiokafka import Consumer, Transport


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
