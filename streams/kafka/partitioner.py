"""Kafka's default partitioner (murmur2, as the Java client computes it), for inputs, outputs and the query API."""

from __future__ import annotations

import functools

from kafka.partitioner.default import murmur2


@functools.lru_cache(maxsize=1 << 16)
def default_partition(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner (murmur2, as in Java) gives a message with ``key``; cached, since
    kafka-python's murmur2 is pure Python and runs for every input and output."""
    return int(murmur2(key) & 0x7FFFFFFF) % partitions


def lead_partition(lead_id: str, partitions: int) -> int:
    """The partition of a message keyed by ``lead_id``."""
    return default_partition(lead_id.encode(), partitions)
