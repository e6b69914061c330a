"""What the tests of Kafka's own semantics share (test_kafka_*.py): a broker of their own, a worker's HTTP views,
and an independent client (librdkafka, through confluent-kafka) that reads topics to their true end."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from streams.devtools.apache_kafka import ApacheKafkaBroker, missing_tools
from streams.devtools.processes import spawn_worker, stop_process
from streams.settings import Settings

T = TypeVar("T")


@contextmanager
def own_kafka(log_file: Path, extra_config: Mapping[str, str] | None = None) -> Iterator[ApacheKafkaBroker]:
    """An Apache Kafka broker for one module, whatever ``LEADSCORE_TEST_BROKER`` says; skips without Java/Maven."""
    missing = missing_tools()
    if missing:
        pytest.skip(f"Apache Kafka for these tests needs {' and '.join(missing)} (make kafka-tools)")
    with ApacheKafkaBroker(log_file=log_file, extra_config=extra_config) as broker:
        yield broker


def wait_until(condition: Callable[[], T], what: str, timeout_s: float = 90.0) -> T:
    """Poll ``condition`` until it returns something true; fail saying ``what`` did not happen (generous deadline:
    the machine is shared, and nothing here measures time)."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"{what}: not within {timeout_s:.0f} s (last: {value!r})")
        time.sleep(0.3)


@dataclass
class Worker:
    """``leadscore worker`` as a child process, and its HTTP views (query API, probes, metrics)."""

    settings: Settings
    log_file: Path

    def __post_init__(self) -> None:
        self.process = spawn_worker(self.settings, self.log_file)
        self.base = f"http://127.0.0.1:{self.settings.web_port}"

    def get(self, path: str) -> tuple[int | None, str]:
        try:
            with urllib.request.urlopen(f"{self.base}{path}", timeout=5) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as error:
            return error.code, error.read().decode()
        except OSError:
            return None, ""

    def metric(self, name: str, **labels: str) -> float:
        """The sum of the samples of ``name`` whose labels include ``labels`` (0 when there are none)."""
        total = 0.0
        for line in self.get("/metrics")[1].splitlines():
            sample, _, value = line.rpartition(" ")
            if sample.split("{")[0] == name and all(f'{key}="{v}"' in sample for key, v in labels.items()):
                total += float(value)
        return total

    def lags(self, topic: str) -> dict[int, float]:
        """``leadscore_consumer_lag_records`` of ``topic``, by partition."""
        found = {}
        for line in self.get("/metrics")[1].splitlines():
            if line.startswith("leadscore_consumer_lag_records{") and f'topic="{topic}"' in line:
                partition = line.split('partition="')[1].split('"')[0]
                found[int(partition)] = float(line.rpartition(" ")[2])
        return found

    def ready(self) -> dict[str, Any] | None:
        status, body = self.get("/readyz?leads=1")
        return json.loads(body) if status == 200 else None

    def state(self, lead_id: str) -> dict[str, Any] | None:
        """The lead's stored state as the worker's table holds it (None: no such lead)."""
        status, body = self.get(f"/leads/{lead_id}?raw=1")
        if status == 404:
            return None
        assert status == 200, (status, body)
        stored: dict[str, Any] = json.loads(body)["state"]
        return stored

    def score(self, lead_id: str) -> float | None:
        """The lead's score under its one model, as the query API answers (None: no such lead)."""
        status, body = self.get(f"/leads/{lead_id}")
        if status == 404:
            return None
        assert status == 200, (status, body)
        (model,) = json.loads(body)["models"]
        return float(model["score"])

    def stop(self) -> None:
        stop_process(self.process, grace_s=20)


def _consumer(bootstrap: str, isolation: str = "read_uncommitted", group: str | None = None) -> Consumer:
    return Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": group or f"check-{time.monotonic_ns()}",
            "enable.auto.commit": False,
            "isolation.level": isolation,
            "log_level": 3,
        }
    )


def end_offsets(bootstrap: str, topic: str, partitions: int, isolation: str = "read_uncommitted") -> list[int]:
    """Each partition's end offset as Kafka reports it (ListOffsets, librdkafka): the high watermark, or with
    ``read_committed`` the last stable offset (before the first transaction still open)."""
    consumer = _consumer(bootstrap, isolation)
    try:
        return [consumer.get_watermark_offsets(TopicPartition(topic, p), timeout=10)[1] for p in range(partitions)]
    finally:
        consumer.close()


def settled_end_offsets(bootstrap: str, topic: str, partitions: int) -> list[int]:
    """The end offsets once no transaction is open on ``topic``: a producer's commit or abort returns before the
    broker has written the transaction's markers, and until then the last stable offset lags the high watermark."""
    return wait_until(
        lambda: (
            (ends := end_offsets(bootstrap, topic, partitions))
            == end_offsets(bootstrap, topic, partitions, "read_committed")
            and ends
        ),
        f"every transaction on {topic} has its markers written",
    )


def committed_offsets(bootstrap: str, group: str, topic: str, partitions: int) -> list[int]:
    """The offsets ``group`` has committed on ``topic`` (negative: none yet); the group is not joined."""
    consumer = _consumer(bootstrap, group=group)
    try:
        return [tp.offset for tp in consumer.committed([TopicPartition(topic, p) for p in range(partitions)], 10)]
    finally:
        consumer.close()


#: What a partition holds, as read: ``(offset, key, value)`` of every record, in order.
Records = list[tuple[int, bytes | None, bytes | None]]


def read_all(bootstrap: str, topic: str, partitions: int, isolation: str = "read_uncommitted") -> dict[int, Records]:
    """Every record of ``topic`` from its start, per partition, read until the consumer's position has reached the
    end offset (so control markers and compacted-away offsets at the end cannot make it wait or stop early)."""
    ends = end_offsets(bootstrap, topic, partitions)
    consumer = _consumer(bootstrap, isolation)
    found: dict[int, Records] = {p: [] for p in range(partitions)}
    consumer.assign([TopicPartition(topic, p, OFFSET_BEGINNING) for p in range(partitions)])
    deadline = time.monotonic() + 60
    try:
        while True:
            for message in consumer.consume(1000, 0.5):
                if message.error() is None:
                    found[message.partition()].append((message.offset(), message.key(), message.value()))
            positions = consumer.position([TopicPartition(topic, p) for p in range(partitions)])
            if all(tp.offset >= ends[tp.partition] or ends[tp.partition] == 0 for tp in positions):
                return found
            assert time.monotonic() < deadline, f"reading {topic} did not reach {ends}: at {positions}"
    finally:
        consumer.close()
