"""End-to-end latency of the worker at a fixed input rate: from an event's produce to its score change.

A fresh worker (its own app id and topics) runs; after it is ready and has scored a warm-up, events are produced at
a fixed rate, each with its Kafka timestamp set to the wall-clock time of the ``send`` call. A consumer on the
worker's score-change topic matches each ``ScoreChanged`` to its input by ``cause_event_id``. Two latencies per
matched input (first output only):

- emission: the output record's Kafka timestamp (CreateTime, stamped by the worker's producer when it sends)
  minus the input's timestamp; 1 ms resolution. This is the headline figure (``latency_ms``).
- received: when the benchmark's consumer got the output minus the input's timestamp (adds the worker producer's
  linger, the broker and the consumer's fetch wait).
- input seen: when the benchmark's consumer got the *input* minus its timestamp, while the worker runs (the
  broker and the benchmark's own clients, on a machine the worker also loads).

Inputs that change no score (a capped page view, a repeated open) have no output and are not counted. The floor
with no worker running at all, on each broker, is :mod:`bench.floor`'s (same producer, same pacing).
"""

from __future__ import annotations

import math
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

from confluent_kafka import Consumer, Producer, TopicPartition

from bench.common import (
    BenchError,
    broker_cpu_s,
    codec,
    cpu_used,
    http_json,
    librdkafka_options,
    prefixed_topics,
    progress_bar,
    wait_until,
    worker_metrics,
)
from bench.model import lead_model_file
from scoring import LeadEvent
from streams.datasets.synthetic import JourneyGenerator
from streams.devtools.brokers import Broker
from streams.devtools.processes import spawn_worker, stop_process
from streams.settings import Settings

WARMUP = 500
PERCENTILES = (50, 95, 99)


def percentile(ordered: list[float], p: float) -> float:
    """Nearest-rank percentile of an ascending list."""
    if not ordered:
        return float("nan")
    rank = max(1, math.ceil(p / 100 * len(ordered) - 1e-9))
    return ordered[min(rank, len(ordered)) - 1]


def summary(values: list[float]) -> dict[str, float]:
    ordered = sorted(values)
    figures = {f"p{p}": round(percentile(ordered, p), 2) for p in PERCENTILES}
    figures["max"] = round(ordered[-1], 2) if ordered else float("nan")
    return figures


class OutputWatcher(threading.Thread):
    """Reads ScoreChanged records as they arrive; keeps the first per cause event id."""

    def __init__(self, cluster: Settings, topic: str, inputs: str, partitions: int) -> None:
        super().__init__(name="latency-outputs", daemon=True)
        self.consumer = Consumer(librdkafka_options(cluster, {"group.id": "latency-watch", "fetch.wait.max.ms": 5}))
        self.inputs_topic = inputs
        self.consumer.assign([TopicPartition(name, p, 0) for name in (topic, inputs) for p in range(partitions)])
        self.first: dict[str, tuple[int, float]] = {}  # cause event id -> (output timestamp ms, received at s)
        self.inputs: dict[str, float] = {}  # input event id -> when this consumer saw it (the broker's own delay)
        self.stopping = threading.Event()
        self.last_at = time.time()

    def run(self) -> None:
        avro = codec()
        try:
            while not self.stopping.is_set():
                for record in self.consumer.consume(1000, timeout=0.05):
                    received = time.time()
                    if record.error() or record.value() is None:
                        continue
                    if record.topic() == self.inputs_topic:
                        self.inputs[avro.decode(record.value(), expected="LeadEvent")[1]["event_id"]] = received
                        continue
                    cause = avro.decode(record.value(), expected="ScoreChanged")[1]["cause_event_id"]
                    self.first.setdefault(cause, (record.timestamp()[1], received))
                    self.last_at = received
        finally:
            self.consumer.close()


def paced_producer(cluster: Settings) -> Producer:
    """The producer of the latency and floor steps, a client of ``cluster``.

    librdkafka, not kafka-python: at thousands of records a second kafka-python's pure-Python send path queues
    records behind the GIL and that delay would be counted as the worker's; murmur2_random is Kafka's partitioner.
    """
    return Producer(
        librdkafka_options(
            cluster,
            {"linger.ms": 1, "max.in.flight.requests.per.connection": 5, "acks": 1, "partitioner": "murmur2_random"},
        )
    )


def send_paced(
    producer: Producer, topic: str, events: Iterator[LeadEvent], rate: float, progress: Callable[[int], object]
) -> dict[str, float]:
    """Produce ``events`` at ``rate`` a second, each with its Kafka timestamp the wall-clock time of its ``produce``;
    returns that time (s) by event id, after a flush."""
    avro = codec()
    sent: dict[str, float] = {}
    started = time.time()
    for n, event in enumerate(events):
        while (delay := started + n / rate - time.time()) > 0:
            time.sleep(min(delay, 0.005))
        at = time.time()
        value = avro.encode_event(event)
        producer.produce(topic, key=event.lead_id.encode(), value=value, timestamp=int(at * 1000))
        producer.poll(0)
        sent[event.event_id] = at
        if n % 200 == 0:
            progress(n)
    producer.flush()
    return sent


def measure(broker: Broker, rate: float, seconds: float, leads: int, workdir: Path) -> dict[str, Any]:
    app_id = "latency"
    topics = prefixed_topics(app_id)
    settings = broker.settings(app_id, workdir / app_id, topics=topics, model_paths=[lead_model_file(workdir)])
    worker = spawn_worker(settings, log_file=workdir / f"{app_id}.log")
    producer = paced_producer(settings)
    avro = codec()
    total = int(rate * seconds)
    stream = JourneyGenerator(leads, seed=7, mean_gap_ms=2000).events(WARMUP + total)
    topics = settings.topics
    watcher = OutputWatcher(settings, topics.score_changes, topics.events, settings.partitions)
    try:
        with progress_bar() as bar:
            task = bar.add_task("latency: worker starting", total=None, note="")
            wait_until(lambda: http_json(settings.web_port, "/readyz")[0] == 200, 180, "latency worker", worker)
            for _ in range(WARMUP):
                event = next(stream)
                producer.produce(settings.topics.events, key=event.lead_id.encode(), value=avro.encode_event(event))
                producer.poll(0)
            producer.flush()

            def consumed() -> float:
                return worker_metrics(settings.web_port).get("leadscore_events_consumed_total", 0)

            wait_until(lambda: consumed() >= WARMUP, 120, "latency warm-up", worker, every_s=0.2)
            watcher.start()
            bar.update(task, description=f"latency: producing at {rate:,.0f}/s", total=total, completed=0)
            started, cpu_before = time.time(), broker_cpu_s(broker)
            sent = send_paced(producer, topics.events, stream, rate, lambda n: bar.update(task, completed=n))
            produced_for = time.time() - started
            bar.update(task, description="latency: draining", completed=total)
            wait_until(lambda: consumed() >= WARMUP + total, 120, "latency: worker catching up", worker, every_s=0.2)
            wait_until(lambda: time.time() - watcher.last_at > 2.0, 60, "latency: outputs draining")
            cpu_after = broker_cpu_s(broker)
    finally:
        watcher.stopping.set()
        producer.flush(10)
        producer.close()
        stop_process(worker, grace_s=20)
    watcher.join(timeout=5)
    emission, received, series = [], [], []
    visible = [(watcher.inputs[event_id] - at) * 1000 for event_id, at in sent.items() if event_id in watcher.inputs]
    for event_id, at in sent.items():
        if event_id in watcher.first:
            timestamp_ms, got = watcher.first[event_id]
            emission.append(timestamp_ms - at * 1000)
            received.append((got - at) * 1000)
            series.append((round(at - started, 3), round(emission[-1], 1)))
    if not emission:
        raise BenchError("latency: no score change matched any input (see the worker log in the work directory)")
    return {
        "target_rate_eps": round(rate),
        "achieved_rate_eps": round(total / produced_for),
        "seconds": round(produced_for, 1),
        "inputs": total,
        "matched": len(emission),
        "worker_fetch_max_wait_ms": settings.fetch_max_wait_ms,
        "broker_cpu_s": cpu_used(cpu_before, cpu_after),
        "emission_ms": summary(emission),
        "received_ms": summary(received),
        "input_visible_ms": summary(visible),  # input produce -> this benchmark's consumer reads it (worker running)
        "curves_ms": {"emission": curve(emission), "received": curve(received), "input_visible": curve(visible)},
        "over_time": series[:: max(1, len(series) // 400)],  # (seconds since the first send, emission ms)
    }


CURVE_POINTS = (*range(1, 100), 99.9, 100)


def curve(values: list[float]) -> list[float]:
    """The value at each of ``CURVE_POINTS`` percentiles, for the plot."""
    ordered = sorted(values)
    return [round(percentile(ordered, p), 2) for p in CURVE_POINTS] if ordered else []
