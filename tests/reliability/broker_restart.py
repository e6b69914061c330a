"""The broker itself SIGKILLed under load and started again from its log directory (Apache Kafka keeps its log;
Tansu could not survive this): the worker must come back to exact outputs by itself."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Any

import pytest

from streams.devtools.apache_kafka import ApacheKafkaBroker
from streams.devtools.brokers import broker_kind
from tests.reliability.harness import BackgroundProducer, Workers, check_against_oracle, oracle, valid_messages
from tests.reliability.scenarios import produced_count


def run_broker_restart(
    tmp_path: Path, leads: int, events: int, rate: float, down_s: float, seed: int = 9
) -> dict[str, Any]:
    """SIGKILL Kafka ``events / rate / 3`` seconds into the load, start it again ``down_s`` later on the same log,
    port and cluster id; a worker that exits meanwhile is started again, as an orchestrator would (counted)."""
    if broker_kind() != "kafka":
        pytest.skip("restarting the broker from its log needs Apache Kafka started by the run")
    messages = valid_messages(leads, events, seed)
    started = time.monotonic()
    with ApacheKafkaBroker(log_file=tmp_path / "broker.log", log_dir=tmp_path / "kafka") as broker:
        settings = broker.settings("leadscore-rel", tmp_path / "state", standby_replicas=0, decay_tick_s=2.0)
        workers = Workers(settings, tmp_path)
        try:
            workers.spawn("w")
            producer = BackgroundProducer(settings.bootstrap_servers, settings.topics.events, messages, rate)
            producer.start()
            time.sleep(events / rate / 3)
            broker.kill()
            time.sleep(down_s)
            broker.start()
            restarted = time.monotonic()
            restarts = _supervise(workers, producer, timeout_s=events / rate * 3 + 180)
            produced = produced_count(producer, timeout_s=1)
            expected = oracle(settings, produced)
            figures, _ = check_against_oracle(settings, expected, timeout_s=300)
            caught_up_s = time.monotonic() - restarted
        finally:
            workers.stop_all()
    return {
        **figures,
        "events": expected.events,
        "broker_down_s": down_s,
        "caught_up_s": round(caught_up_s, 1),
        "worker_restarts": restarts,
        "seconds": round(time.monotonic() - started, 1),
    }


def _supervise(workers: Workers, producer: BackgroundProducer, timeout_s: float) -> int:
    """Until the producer is done: start the worker again whenever it has exited; returns how many times."""
    restarts = 0
    deadline = time.monotonic() + timeout_s
    while producer.is_alive() and time.monotonic() < deadline:
        if workers.processes["w"].poll() is not None:
            restarts += 1
            workers.spawn("w")
        time.sleep(1.0)
    return restarts
