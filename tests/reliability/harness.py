"""Pieces the reliability scenarios share: a paced background producer, worker processes, the oracle check, and
the report file."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import subprocess
import threading
import time
from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from kafka import KafkaProducer

from scoring import Engine, load_model
from streams.datasets.synthetic import JourneyGenerator
from streams.devtools.brokers import Broker, new_broker
from streams.devtools.processes import spawn_worker, stop_process
from streams.kafka.codec import AvroCodec
from streams.kafka.registry import LocalSchemaRegistry
from streams.settings import Settings
from tests.reliability.oracle import Expected, OutputReader, compare, exact, expected_outputs, read_log

REPORT = Path(__file__).resolve().parents[2] / "reliability-report.json"


def valid_messages(leads: int, events: int, seed: int, mean_gap_ms: float = 10.0) -> list[tuple[bytes, bytes]]:
    """``events`` generated journeys over ``leads`` leads, encoded, keyed by lead id; event time ``mean_gap_ms``
    apart (10 ms: decay barely moves within a run; 30 minutes: leads leave levels by decay, which the oracle
    checks)."""
    codec = AvroCodec(LocalSchemaRegistry())
    generated = JourneyGenerator(leads, seed=seed, mean_gap_ms=mean_gap_ms).events(events)
    return [(e.lead_id.encode(), codec.encode_event(e)) for e in generated]


def ordered_producer(bootstrap: str) -> KafkaProducer:
    """A producer that keeps the order of what it sends through retries (the oracle reads the log anyway) and
    rides out a broker that stalls or restarts."""
    return KafkaProducer(
        bootstrap_servers=bootstrap,
        linger_ms=5,
        max_in_flight_requests_per_connection=1,
        retries=1_000,
        request_timeout_ms=20_000,
        delivery_timeout_ms=600_000,
    )


Send = tuple[str, bytes | None, bytes]  # topic, key, value


class PacedProducer(threading.Thread):
    """Produces ``(topic, key, value)`` sends in order at about ``rate`` per second (one producer, ordered retries);
    ``acked_by_topic`` counts the broker's acknowledgements per topic."""

    def __init__(self, bootstrap: str, sends: Sequence[Send], rate: float) -> None:
        super().__init__(daemon=True)
        self.bootstrap, self.sends, self.rate = bootstrap, sends, rate
        self.acked_by_topic: dict[str, int] = {}
        self.failed = 0
        self.error: BaseException | None = None

    @property
    def acked(self) -> int:
        return sum(self.acked_by_topic.values())

    def _ok(self, topic: str) -> Any:
        return lambda _: self.acked_by_topic.__setitem__(topic, self.acked_by_topic.get(topic, 0) + 1)

    def _failed(self, _: Any) -> None:
        self.failed += 1

    def run(self) -> None:
        try:
            producer = ordered_producer(self.bootstrap)
            started = time.monotonic()
            chunk = max(1, int(self.rate / 10))
            for start in range(0, len(self.sends), chunk):
                for topic, key, value in self.sends[start : start + chunk]:
                    producer.send(topic, key=key, value=value).add_callback(self._ok(topic)).add_errback(self._failed)
                ahead = (start + chunk) / self.rate - (time.monotonic() - started)
                if ahead > 0:
                    time.sleep(ahead)
            producer.flush()
            producer.close()
        except BaseException as exc:
            self.error = exc


class BackgroundProducer(PacedProducer):
    """Produces ``messages`` to ``topic`` at about ``rate`` per second, one producer, in order."""

    def __init__(self, bootstrap: str, topic: str, messages: Sequence[tuple[bytes | None, bytes]], rate: float):
        super().__init__(bootstrap, [(topic, key, value) for key, value in messages], rate)


@dataclass
class Workers:
    """Worker processes of one scenario: spawn, SIGKILL, restart; all stopped on ``stop_all``."""

    settings: Settings
    log_dir: Path
    processes: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    starts: int = 0

    def spawn(self, name: str, **overrides: Any) -> subprocess.Popen[bytes]:
        self.starts += 1
        settings = self.settings.model_copy(update=overrides)
        process = spawn_worker(settings, log_file=self.log_dir / f"{name}.log")
        self.processes[name] = process
        return process

    def kill(self, name: str) -> None:
        process = self.processes[name]
        with contextlib.suppress(ProcessLookupError):
            os.kill(process.pid, signal.SIGKILL)
        process.wait(timeout=10)

    def stop_all(self) -> None:
        for process in self.processes.values():
            stop_process(process, grace_s=15)


@contextlib.contextmanager
def scenario(
    tmp_path: Path, broker_kind: str | None = None, **overrides: Any
) -> Iterator[tuple[Broker, Settings, Workers]]:
    """A broker of its own (scenarios may freeze it), settings with the shipped b2b model, and workers.
    ``broker_kind``: ``kafka`` for exactly_once (Tansu has no transactions); default the run's broker."""
    with new_broker(log_file=tmp_path / "broker.log", kind=broker_kind) as broker:
        # Decay ticks every 2 s: crossings caused by time alone are checked against the oracle too, across restarts
        # (where recovered partition clocks once jumped decades ahead: test_decay_clock_after_recovery.py).
        values = {"standby_replicas": 0, "decay_tick_s": 2.0, **overrides}
        settings = broker.settings("leadscore-rel", tmp_path / "state", **values)
        workers = Workers(settings, tmp_path)
        try:
            yield broker, settings, workers
        finally:
            workers.stop_all()


def engine_for(settings: Settings) -> Engine:
    return Engine([load_model(path) for path in settings.model_paths])


def oracle(settings: Settings, produced: int) -> Expected:
    log = read_log(settings.bootstrap_servers, settings.topics.events, settings.partitions, at_least=produced)
    assert len(log) >= produced, f"read {len(log)} input records back, produced {produced}"
    return expected_outputs(engine_for(settings), log, settings.partitions, decay=settings.decay_tick_s < 60)


def check_against_oracle(settings: Settings, expected: Expected, timeout_s: float) -> tuple[dict[str, Any], Any]:
    """Read the outputs until they match the oracle (or ``timeout_s``), then a little longer for late duplicates;
    returns the figures of :func:`compare` with the dead letters seen. With exactly_once the reader is
    ``read_committed``, as the consumers of a transactional worker must be."""
    isolation = "read_committed" if settings.exactly_once else "read_uncommitted"
    reader = OutputReader(settings.bootstrap_servers, settings.topics, AvroCodec(LocalSchemaRegistry()), isolation)
    try:
        deadline = time.monotonic() + timeout_s
        while True:
            reader.poll(2.0)
            figures = compare(expected, reader.observed)
            dlq_done = expected.invalid <= reader.observed.dead_letters.keys()
            if (exact(figures) and dlq_done) or time.monotonic() > deadline:
                break
        reader.poll(3.0)
        return compare(expected, reader.observed), reader.observed
    finally:
        reader.close()


def wait_for(condition: Any, timeout_s: float, step_s: float = 0.5) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(step_s)
    return bool(condition())


def write_report(figures: dict[str, Any]) -> None:
    """Merge ``figures`` into reliability-report.json at the repository root (not committed)."""
    report = json.loads(REPORT.read_text()) if REPORT.exists() else {}
    report.update(figures)
    REPORT.write_text(json.dumps(report, indent=2, sort_keys=True) + "\n")
