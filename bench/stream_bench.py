"""Stream throughput on the embedded broker, same events for every contestant (first part of issue 5).

Contestants so far: ``ceiling`` (a plain aiokafka consume-decode-encode-produce pass-through with the same Avro
codec) and ``leadscore`` (the real worker, one process). Writes bench/results/stream.json and stream.md.
Run: ``make bench`` or ``python -m bench.stream_bench --events 200000 --leads 100000``.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import tempfile
import time
import urllib.request
from pathlib import Path

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from kafka import KafkaProducer
from rich.console import Console
from rich.progress import track

from streams.broker import EmbeddedBroker, stop_process
from streams.codec import AvroCodec
from streams.generator import JourneyGenerator
from streams.registry import LocalSchemaRegistry
from streams.worker import spawn_worker

RESULTS = Path(__file__).parent / "results"
console = Console()


def produce(bootstrap: str, topic: str, codec: AvroCodec, events: int, leads: int) -> None:
    producer = KafkaProducer(bootstrap_servers=bootstrap, linger_ms=20, batch_size=256 * 1024)
    stream = JourneyGenerator(leads, seed=1, mean_gap_ms=2000).events(events)
    for event in track(stream, total=events, description="producing", console=console, transient=True):
        producer.send(topic, key=event.lead_id.encode(), value=codec.encode_event(event))
    producer.flush()
    producer.close()


async def ceiling(bootstrap: str, source: str, sink: str, codec: AvroCodec, events: int) -> float:
    consumer = AIOKafkaConsumer(
        source,
        bootstrap_servers=bootstrap,
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_poll_records=5000,
    )
    producer = AIOKafkaProducer(bootstrap_servers=bootstrap, linger_ms=5)
    await consumer.start()
    await producer.start()
    seen, started = 0, None
    try:
        while seen < events:
            batches = await consumer.getmany(timeout_ms=1000)
            for records in batches.values():
                started = started or time.perf_counter()
                for record in records:
                    event = codec.decode_event(record.value)
                    await producer.send(sink, key=record.key, value=codec.encode_event(event))
                seen += len(records)
        await producer.flush()
    finally:
        await consumer.stop()
        await producer.stop()
    return seen / (time.perf_counter() - (started or time.perf_counter()))


def consumed(port: int) -> float:
    try:
        text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    except OSError:
        return 0.0
    return sum(
        float(line.split()[-1]) for line in text.splitlines() if line.startswith("leadscore_events_consumed_total")
    )


def leadscore(settings, events: int, workdir: Path) -> float:
    worker = spawn_worker(settings, log_file=workdir / "worker.log")
    try:
        started = None
        with console.status("leadscore worker scoring...") as status:
            while True:
                done = consumed(settings.web_port)
                if done and started is None:
                    started, first = time.perf_counter(), done
                if done >= events:
                    break
                status.update(f"leadscore worker: {int(done):,} of {events:,} events")
                time.sleep(0.5)
        return (events - first) / (time.perf_counter() - started)
    finally:
        stop_process(worker, grace_s=20)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--leads", type=int, default=100_000)
    args = parser.parse_args()
    codec = AvroCodec(LocalSchemaRegistry())
    workdir = Path(tempfile.mkdtemp(prefix="leadscore-bench-"))
    with EmbeddedBroker(log_file=workdir / "broker.log") as broker:
        settings = broker.settings("bench", workdir / "state")
        produce(broker.bootstrap, settings.topics.events, codec, args.events, args.leads)
        ceiling_eps = asyncio.run(
            ceiling(broker.bootstrap, settings.topics.events, "bench-passthrough", codec, args.events)
        )
        console.print(f"ceiling (aiokafka pass-through, same codec): {ceiling_eps:,.0f} events/s")
        leadscore_eps = leadscore(settings, args.events, workdir)
        console.print(f"leadscore worker: {leadscore_eps:,.0f} events/s")
    result = {
        "events": args.events,
        "leads": args.leads,
        "ceiling_events_per_s": round(ceiling_eps),
        "leadscore_events_per_s": round(leadscore_eps),
        "leadscore_over_ceiling": round(leadscore_eps / ceiling_eps, 3),
    }
    RESULTS.mkdir(exist_ok=True)
    (RESULTS / "stream.json").write_text(json.dumps(result, indent=2) + "\n")
    (RESULTS / "stream.md").write_text(
        "| contestant | events/s |\n|---|---|\n"
        f"| ceiling: aiokafka pass-through | {ceiling_eps:,.0f} |\n| leadscore worker | {leadscore_eps:,.0f} |\n"
        f"\nleadscore / ceiling = {leadscore_eps / ceiling_eps:.3f} ({args.events:,} events, {args.leads:,} leads)\n"
    )
    console.print(f"written to {RESULTS / 'stream.json'} and stream.md")


if __name__ == "__main__":
    main()
