"""Integration fixtures: fresh topics and app id per test on the session's embedded broker (``broker``, in
tests/conftest.py, which also marks these tests ``integration``), and a reader of topics that decodes with the
Apache ``avro`` reference library."""

from __future__ import annotations

import itertools
import time
from collections.abc import Callable

import pytest
from kafka import KafkaConsumer

from streams.devtools.brokers import Broker
from streams.settings import Settings, TopicNames
from tests.avro_reference import reference_decode
from tests.conftest import SIMPLE_MODEL

_run = itertools.count()


def new_settings(broker: Broker, data_dir, name: str | None = None, **overrides) -> Settings:
    """Settings for one test's worker(s): own topics and consumer group, the simple model, topics created."""
    suffix = name or f"t{next(_run)}-{int(time.time())}"
    names = {field: f"{default}-{suffix}" for field, default in TopicNames().model_dump().items()}
    return broker.settings(
        f"leadscore-it-{suffix}",
        data_dir,
        **{"topics": TopicNames(**names), "model_paths": [SIMPLE_MODEL], **overrides},
    )


@pytest.fixture
def settings(broker: Broker, tmp_path) -> Settings:
    return new_settings(broker, tmp_path / "state")


def wait_until(condition: Callable[[], object], timeout_s: float, step_s: float = 0.25) -> bool:
    """Poll ``condition`` until it holds or ``timeout_s`` passes; its last answer."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step_s)
    return bool(condition())


def read_topics(
    bootstrap: str,
    topics: list[str],
    done: Callable[[list[tuple[str, bytes | None, dict]]], bool],
    timeout_s: float,
    **client_config: object,
) -> list[tuple[str, bytes | None, dict]]:
    """Consume ``topics`` from the start with a plain kafka-python consumer until ``done(records)`` or timeout.

    Records are decoded with the Apache ``avro`` reference library, not leadscore's codec. ``client_config``: more
    kafka-python settings (a secured cluster's ``kafka_python_config``).
    """
    consumer = KafkaConsumer(
        *topics, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None, **client_config
    )
    records: list[tuple[str, bytes | None, dict]] = []
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline and not done(records):
            for partition, batch in consumer.poll(timeout_ms=500).items():
                records.extend(
                    (partition.topic, r.key, reference_decode(r.value)[1] if r.value is not None else None)
                    for r in batch
                )
    finally:
        consumer.close()
    return records
