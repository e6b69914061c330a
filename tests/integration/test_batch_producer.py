"""The fast path's batch producer on the real broker: offsets, partition layout and ordering as any client sees them."""

from __future__ import annotations

import time

from confluent_kafka import Consumer, TopicPartition

from streams.kafka.partitioner import lead_partition
from streams.kafka.producer import BATCH_BYTES, BatchProducer


def read_all(bootstrap: str, topic: str, partitions: int, count: int) -> list[tuple[int, int, bytes, bytes]]:
    consumer = Consumer({"bootstrap.servers": bootstrap, "group.id": "batch-check", "log_level": 3})
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    seen = []
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        message = consumer.poll(0.2)
        if message is not None and not message.error():
            seen.append((message.partition(), message.offset(), message.key(), message.value()))
        if len(seen) >= count:
            break
    consumer.close()
    return seen


async def test_records_land_where_the_default_partitioner_puts_them_with_the_offsets_returned(settings):
    topic, partitions = settings.topics.score_changes, settings.partitions
    big = b"x" * (BATCH_BYTES // 4)  # 9 of these need several record batches per partition
    records = [(topic, f"lead-{n % 7}".encode(), big if n < 9 else f"v{n}".encode(), None) for n in range(400)]
    producer = BatchProducer(settings)
    try:
        offsets = await producer.send_all(records)
    finally:
        await producer.stop()
    seen = read_all(settings.bootstrap_servers, topic, partitions, len(records))
    assert len(seen) == len(records)
    where = {(partition, offset): (key, value) for partition, offset, key, value in seen}
    for (_, key, value, _), offset in zip(records, offsets, strict=True):
        assert where[(lead_partition(key.decode(), partitions), offset)] == (key, value)
    for lead in {key for _, key, _, _ in records}:  # each key's records in the order given
        ordered = [value for _, _, key, value in sorted(seen, key=lambda r: r[1]) if key == lead]
        assert ordered == [value for _, k, value, _ in records if k == lead]
