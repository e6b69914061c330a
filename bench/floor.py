"""The floor under the worker's latency: produce-to-receive of a plain consumer, no worker in between, per broker.

On a fresh broker of each kind (Apache Kafka and Tansu, in the same run), the latency step's producer and pacing
(:func:`bench.latency.paced_producer`, :func:`bench.latency.send_paced`) send the latency step's events at its
rate to a fresh 4-partition input topic, created as a worker's. A plain aiokafka consumer (the client under
Faust's worker consumer), assigned every partition, reads them with the fetch wait a worker on that broker gets
(``fetch_max_wait_ms`` of the broker's settings: 100 ms on Kafka, which answers a fetch as soon as data arrives;
20 ms on Tansu, which holds every fetch for the whole wait, ADR 014). Per record: the wall-clock time ``getmany``
handed it over minus the time it was produced (matched by event id, the only field decoded). No state, no scoring,
no output: what the broker and the clients cost, below which no worker on that broker can go. Each broker first
gets one unrecorded pass of the same traffic (:func:`warm_up`): a fresh Kafka JVM is still compiling.

``python -m bench.floor --rate 2000 --seconds 10 --passes 3`` measures it alone: passes in a row on one fresh broker
of each kind, the first on a cold broker.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from bench.brokers import STARTED, broker_label
from bench.common import (
    BenchError,
    aiokafka_options,
    broker_cpu_s,
    codec,
    cpu_used,
    prefixed_topics,
    progress_bar,
    wait_until,
)
from bench.latency import WARMUP, curve, paced_producer, send_paced, summary
from streams.datasets.synthetic import JourneyGenerator
from streams.devtools.brokers import Broker, new_broker
from streams.settings import Settings


class FloorConsumer(threading.Thread):
    """An aiokafka consumer on its own event loop; ``received`` maps each event id to when it was handed over."""

    def __init__(self, cluster: Settings, topic: str, partitions: int, fetch_max_wait_ms: int) -> None:
        super().__init__(name="latency-floor", daemon=True)
        self.cluster, self.topic, self.partitions = cluster, topic, partitions
        self.fetch_max_wait_ms = fetch_max_wait_ms
        self.received: dict[str, float] = {}
        self.stopping = threading.Event()
        self.error: BaseException | None = None
        self.last_at = time.time()

    def run(self) -> None:
        try:
            asyncio.run(self._consume())
        except BaseException as exc:  # reported by the driver, which polls ``error``
            self.error = exc

    async def _consume(self) -> None:
        avro = codec()
        consumer = AIOKafkaConsumer(
            **aiokafka_options(self.cluster),
            group_id=None,
            enable_auto_commit=False,
            auto_offset_reset="earliest",
            fetch_max_wait_ms=self.fetch_max_wait_ms,
        )
        await consumer.start()
        try:
            consumer.assign([TopicPartition(self.topic, p) for p in range(self.partitions)])
            while not self.stopping.is_set():
                batches = await consumer.getmany(timeout_ms=100)
                now = time.time()
                for records in batches.values():
                    for record in records:
                        self.received[avro.decode(record.value, expected="LeadEvent")[1]["event_id"]] = now
                        self.last_at = now
        finally:
            await consumer.stop()

    def check(self) -> bool:
        if self.error is not None:
            raise BenchError(f"floor consumer failed: {type(self.error).__name__}: {self.error}")
        return True


def measure(kind: str, rate: float, seconds: float, leads: int, workdir: Path) -> dict[str, Any]:
    """The floor on a fresh broker of ``kind``, warmed up first, at ``rate`` events/s for ``seconds``."""
    with new_broker(log_file=workdir / f"floor-{kind}-broker.log", kind=kind) as broker:
        warm_up(broker, kind, rate, seconds, leads, workdir)
        return measure_on(broker, kind, rate, seconds, leads, workdir)


def warm_up(broker: Broker, kind: str, rate: float, seconds: float, leads: int, workdir: Path) -> None:
    """An unrecorded pass of the floor twice as long as ``seconds``, to warm a fresh broker up. Apache Kafka's JVM
    is still compiling its hot paths during its first tens of seconds of traffic: ``python -m bench.floor --rate 631
    --seconds 10 --passes 3`` (2026-12-01, shared machine) took 9.6, 6.9 and 3.8 s of Kafka's CPU, at p99 95, 54 and
    19 ms, CPU taken from the cores the worker runs on; Tansu's (native code) stayed at 3.5 to 4.6 s and p99 22 to
    26 ms. Both brokers get the same pass, so both are measured alike."""
    measure_on(broker, kind, rate, 2 * seconds, leads, workdir, name=f"warm-up-{kind}")


def measure_on(
    broker: Broker, kind: str, rate: float, seconds: float, leads: int, workdir: Path, name: str = ""
) -> dict[str, Any]:
    """The floor on ``broker`` (of ``kind``), on a topic of its own (``name``, default ``floor-KIND``)."""
    label, name = broker_label(kind), name or f"floor-{kind}"
    settings = broker.settings(name, workdir / name, topics=prefixed_topics(name))
    topic = settings.topics.events
    consumer = FloorConsumer(settings, topic, settings.partitions, settings.fetch_max_wait_ms)
    producer = paced_producer(settings)
    total = int(rate * seconds)
    stream = JourneyGenerator(leads, seed=7, mean_gap_ms=2000).events(WARMUP + total)
    consumer.start()
    try:
        with progress_bar() as bar:
            task = bar.add_task(f"{name} on {label}: first {WARMUP} records", total=None, note="")
            warmup = [next(stream) for _ in range(WARMUP)]
            send_paced(producer, topic, iter(warmup), 10 * rate, lambda n: None)
            wait_until(lambda: consumer.check() and len(consumer.received) >= WARMUP, 60, f"floor on {label}")
            bar.update(task, description=f"{name} on {label}: producing at {rate:,.0f}/s", total=total)
            started, cpu_before = time.time(), broker_cpu_s(broker)
            sent = send_paced(producer, topic, stream, rate, lambda n: bar.update(task, completed=n))
            produced_for = time.time() - started

            def drained() -> bool:
                everything = all(event_id in consumer.received for event_id in sent)
                return consumer.check() and (everything or time.time() - consumer.last_at > 5)

            wait_until(drained, 60, f"floor on {label}: draining", every_s=0.2)
            cpu_after = broker_cpu_s(broker)
    finally:
        consumer.stopping.set()
        consumer.join(timeout=10)
        producer.close()  # before the broker stops: librdkafka would log its reconnect attempts
    delays = [
        (consumer.received[event_id] - at) * 1000 for event_id, at in sent.items() if event_id in consumer.received
    ]
    if not delays:
        raise BenchError(f"floor on {label}: the consumer received none of the {total:,} records")
    return {
        "kind": kind,
        "broker": label,
        "consumer": "aiokafka, group-less, every partition assigned",
        "fetch_max_wait_ms": settings.fetch_max_wait_ms,
        "target_rate_eps": round(rate),
        "achieved_rate_eps": round(total / produced_for),
        "seconds": round(produced_for, 1),
        "inputs": total,
        "received": len(delays),
        "received_ms": summary(delays),
        "curve_ms": curve(delays),
        "broker_cpu_s": cpu_used(cpu_before, cpu_after),
    }


def main() -> None:
    """Passes in a row on one fresh broker of each kind, with no warm-up: the first is the cold broker's."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--broker", nargs="+", choices=STARTED, default=list(STARTED), help="brokers (default both)")
    parser.add_argument("--rate", type=float, default=2000.0, help="events/s (default 2,000)")
    parser.add_argument("--seconds", type=float, default=10.0, help="how long each pass produces (default 10)")
    parser.add_argument("--passes", type=int, default=2, help="passes on each broker, the first cold (default 2)")
    parser.add_argument("--leads", type=int, default=10_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="leadscore-floor-") as work:
        for kind in args.broker:
            with new_broker(kind=kind) as broker:
                for n in range(args.passes):
                    floor = measure_on(broker, kind, args.rate, args.seconds, args.leads, Path(work), f"floor-{n}")
                    f = floor["received_ms"]
                    print(
                        f"{floor['broker']} pass {n + 1} (fetch wait {floor['fetch_max_wait_ms']} ms), "
                        f"{floor['received']:,} of {floor['inputs']:,} at {floor['achieved_rate_eps']:,}/s: "
                        f"p50 {f['p50']} p95 {f['p95']} p99 {f['p99']} max {f['max']} ms, "
                        f"broker CPU {floor['broker_cpu_s']} s"
                    )


if __name__ == "__main__":
    main()
