"""Does the broker answer a fetch when data arrives, or hold it for fetch_max_wait_ms? (ADR 014)

``python -m bench.fetch_wait_probe [--broker kafka tansu]``: one record every 137 ms to a fresh broker of each kind,
read by an aiokafka consumer with each fetch wait; prints the median and max delay from produce to receive. Kafka
answers as soon as a record arrives, whatever the wait; Tansu holds the fetch for the whole wait. ``bench.floor``
measures the same delay at the benchmark's input rate.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic

from bench.brokers import STARTED, broker_label
from bench.common import aiokafka_options, kafka_python_options
from streams.devtools.brokers import new_broker
from streams.settings import Settings, load_settings

RECORDS = 40


async def probe(cluster: Settings, topic: str, wait_ms: int) -> tuple[float, float]:
    options = aiokafka_options(cluster)
    consumer = AIOKafkaConsumer(topic, **options, group_id=None, auto_offset_reset="latest", fetch_max_wait_ms=wait_ms)
    producer = AIOKafkaProducer(**options)
    await consumer.start()
    await producer.start()
    await asyncio.sleep(1)
    delays: list[float] = []

    async def consume() -> None:
        async for record in consumer:
            delays.append(time.time() * 1000 - record.timestamp)
            if len(delays) >= RECORDS:
                return

    task = asyncio.create_task(consume())
    try:
        for n in range(RECORDS):
            await producer.send_and_wait(topic, b"x", key=str(n).encode())
            await asyncio.sleep(0.137)
        await asyncio.wait_for(task, 30)
    finally:
        await consumer.stop()
        await producer.stop()
    return statistics.median(delays), max(delays)


async def main(kinds: list[str], waits: list[int]) -> None:
    for kind in kinds:
        with new_broker(kind=kind) as broker:
            cluster = load_settings(bootstrap_servers=broker.bootstrap)  # security, if any, from the environment
            admin = KafkaAdminClient(**kafka_python_options(cluster))
            for wait_ms in waits:
                topic = f"fetch-wait-{wait_ms}"
                configs = {"retention.ms": "-1", "retention.bytes": "-1", "cleanup.policy": "delete"}
                admin.create_topics([NewTopic(topic, 4, 1, topic_configs=configs)])
                median, worst = await probe(cluster, topic, wait_ms)
                print(
                    f"{broker_label(kind)}, fetch_max_wait_ms={wait_ms:>5}: produce-to-receive median "
                    f"{median:6.1f} ms, max {worst:6.1f} ms"
                )
            admin.close()


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--broker", nargs="+", choices=STARTED, default=list(STARTED), help="brokers (default both)")
    parser.add_argument("--waits", type=int, nargs="+", default=[1500, 500, 50])
    arguments = parser.parse_args()
    asyncio.run(main(arguments.broker, arguments.waits))
