"""State recovery of a worker from its changelog, and the memory and disk it then holds per lead.

The state of N leads is written straight to the worker's changelog topic, ``<app_id>-lead-state-changelog``, in
the layout a real worker writes (checked on a real worker's changelog in the throughput step): key the JSON lead id,
value state format 2 (the state in its envelope with partition and due ms, ADR 033), on partition
``lead_partition(lead_id)`` (Kafka's murmur2, as the worker's table writes go to its input event's partition).
The states come from scoring generated events with the engine in-process; for more leads than that, they are
repeated under new lead ids. Then a worker starts on an empty data directory: recovery time is from spawning the
process to ``/readyz`` answering 200 (Python start-up, group join and recovery included). Then every key and value
the worker stored is compared with what was written (its RocksDB read back after it stopped, no key missing, stale
or extra), and a sample of ``/leads/{id}`` answers checks the serving path. RSS per lead compares with an idle
worker (0 leads); disk per lead is the size of the worker's data directory (RocksDB) over N. Each size runs on a
fresh broker of its own. Run alone: ``python -m bench.recovery --help``.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import time
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path
from typing import Any

import msgspec
from confluent_kafka import Producer
from rocksdict import AccessType, Options, Rdict

from bench.common import (
    BenchError,
    create_topic,
    dir_bytes,
    http_json,
    librdkafka_options,
    prefixed_topics,
    progress_bar,
    rss_bytes,
    wait_until,
)
from bench.model import lead_model, lead_model_file
from scoring import Engine, LeadState
from streams.datasets.synthetic import JourneyGenerator
from streams.devtools.brokers import KINDS, new_broker
from streams.devtools.processes import spawn_worker, stop_process
from streams.kafka.partitioner import lead_partition
from streams.settings import Settings
from streams.worker.stored import StoredLead, as_json, encode_stored

SAMPLES = 50  # leads also read back through ``/leads/{id}`` (every lead is compared in the store)
FAUST_OFFSET_KEY = b"__faust\0offset__"


def template_states(events: int, leads: int, seed: int = 1) -> list[StoredLead]:
    """Stored leads (as the worker's table holds them, partition 0) of the leads scored by ``events``."""
    engine = Engine([lead_model()])
    states: dict[str, LeadState] = {}
    with progress_bar() as bar:
        task = bar.add_task("recovery: scoring template states", total=events, note="")
        for n, event in enumerate(JourneyGenerator(leads, seed=seed, mean_gap_ms=2000).events(events), 1):
            states[event.lead_id] = engine.apply_event(states.get(event.lead_id), event).state
            if n % 5000 == 0:
                bar.update(task, completed=n)
    templates = []
    for state in states.values():
        at_ms = max((m.levels_at_ms for m in state.models.values()), default=0)
        templates.append(StoredLead(0, engine.next_due(state, at_ms), state))
    return templates


def write_changelog(cluster: Settings, topic: str, leads: int, templates: list[StoredLead], partitions: int) -> int:
    """Produce the state of ``leads`` leads to the changelog; returns the bytes of the values written."""
    create_topic(cluster, topic, partitions, cleanup="compact")
    producer = Producer(librdkafka_options(cluster, {"linger.ms": 50, "batch.size": 1_000_000}))
    written = 0
    with progress_bar() as bar:
        task = bar.add_task(f"recovery: writing {leads:,} leads to the changelog", total=leads, note="")
        for n in range(leads):
            lead_id = f"lead-{n:07d}"
            partition = lead_partition(lead_id, partitions)
            value = stored_value(templates, n, partitions)
            written += len(value)
            while True:
                try:
                    producer.produce(topic, key=json.dumps(lead_id).encode(), value=value, partition=partition)
                    break
                except BufferError:
                    producer.poll(0.05)
            if n % 10_000 == 0:
                producer.poll(0)
                bar.update(task, completed=n)
        if producer.flush(120) > 0:
            raise BenchError(f"recovery: {topic}: records not delivered within 120 s")
    return written


def recover(leads: int, templates: list[StoredLead], workdir: Path, kind: str) -> dict[str, Any]:
    """Recover ``leads`` leads (0: an idle worker, the baseline) on a fresh broker of ``kind``; time, count, RSS,
    disk."""
    app_id = f"recovery-{leads}"
    with new_broker(log_file=workdir / f"{app_id}-broker.log", kind=kind) as broker:
        topics, models = prefixed_topics(app_id), [lead_model_file(workdir)]
        settings = broker.settings(app_id, workdir / app_id, topics=topics, log_level="INFO", model_paths=models)
        changelog = f"{app_id}-lead-state-changelog"
        value_bytes = 0
        if leads:
            value_bytes = write_changelog(settings, changelog, leads, templates, settings.partitions)
        started, spawned_at = time.monotonic(), datetime.now().strftime("%H:%M:%S.%f")[:-3]
        worker = spawn_worker(settings, log_file=workdir / f"{app_id}.log")
        try:
            with progress_bar() as bar:
                bar.add_task(f"recovery: worker recovering {leads:,} leads", total=None, note="")
                ready = lambda: http_json(settings.web_port, "/readyz")[0] == 200  # noqa: E731
                ready_at = wait_until(ready, 900, f"recovery of {leads:,} leads", worker, every_s=0.05)
            seconds = ready_at - started
            recovered = http_json(settings.web_port, "/readyz?leads=1", timeout_s=60)[1]["leads"]  # counted, not timed
            sample = random.Random(leads).sample(range(leads), min(SAMPLES, leads))
            found = sum(_recovered_exactly(settings.web_port, n, templates, settings.partitions) for n in sample)
            time.sleep(2.0)  # let the allocator and RocksDB settle before measuring
            rss = rss_bytes(worker.pid)
            disk = dir_bytes(settings.data_dir)
        finally:
            stop_process(worker, grace_s=20)
    wrong = stored_differences(settings.data_dir, leads, templates, settings.partitions)
    return {
        "leads": leads,
        "seconds": round(seconds, 2),
        "leads_per_s": round(leads / seconds) if leads else 0,
        "recovered": recovered,
        "exact": recovered == leads and found == len(sample) and wrong == 0,
        "keys_compared": leads,
        "spawned_at": spawned_at,  # wall clock, to read the worker's log (its phases) against
        "keys_wrong": wrong,
        "sampled_exact": f"{found}/{len(sample)}",
        "rss_bytes": rss,
        "disk_bytes": disk,
        "changelog_value_bytes_per_lead": round(value_bytes / leads) if leads else 0,
    }


def stored_lead(templates: list[StoredLead], n: int, partitions: int) -> StoredLead:
    """Lead ``n``: its template's state under its own id, on its own partition."""
    lead_id = f"lead-{n:07d}"
    template = templates[n % len(templates)]
    state = msgspec.structs.replace(template.state, lead_id=lead_id)
    return StoredLead(lead_partition(lead_id, partitions), template.due_ms, state, template.trail)


def stored_value(templates: list[StoredLead], n: int, partitions: int) -> bytes:
    """The changelog value written for lead ``n``: state format 2, as the worker writes it."""
    return encode_stored(stored_lead(templates, n, partitions))


def stored_differences(data_dir: Path, leads: int, templates: list[StoredLead], partitions: int) -> int:
    """Every key and value of the stopped worker's RocksDB against what was written: the number of leads missing,
    stale or stored in the wrong partition, plus keys that were never written."""
    expected = {json.dumps(f"lead-{n:07d}").encode(): n for n in range(leads)}
    wrong = 0
    for partition, key, value in _stored_items(data_dir):
        n = expected.pop(key, None)
        right = n is not None and value == stored_value(templates, n, partitions)
        wrong += 0 if right and lead_partition(f"lead-{n:07d}", partitions) == partition else 1
    return wrong + len(expected)


def _stored_items(data_dir: Path) -> Iterator[tuple[int, bytes, bytes]]:
    """``(partition, key, value)`` of every lead in the lead-state table's RocksDB partitions under ``data_dir``
    (Faust's offset key left out)."""
    for path in sorted(data_dir.rglob("lead-state-*.db")):
        partition = int(path.name.removeprefix("lead-state-").removesuffix(".db"))
        db = Rdict(str(path), options=Options(raw_mode=True), access_type=AccessType.read_only())
        try:
            for key, value in db.items():
                if isinstance(key, bytes) and isinstance(value, bytes) and key != FAUST_OFFSET_KEY:
                    yield partition, key, value
        finally:
            db.close()


def _recovered_exactly(port: int, n: int, templates: list[StoredLead], partitions: int) -> bool:
    """The worker serves lead ``n`` with exactly the state written for it."""
    lead_id = f"lead-{n:07d}"
    status, body = http_json(port, f"/leads/{lead_id}?raw=1")
    expected = as_json(stored_lead(templates, n, partitions))
    return status == 200 and json.loads(json.dumps(expected)) == body.get("state")


def main(argv: list[str] | None = None) -> None:
    """Recovery alone: ``python -m bench.recovery --leads 100000 1000000 --broker kafka``."""
    parser = argparse.ArgumentParser(prog="python -m bench.recovery", description=__doc__)
    parser.add_argument("--leads", type=int, nargs="+", default=[100_000, 1_000_000], help="lead counts to recover")
    parser.add_argument("--broker", choices=KINDS, default="kafka")
    parser.add_argument("--events", type=int, default=20_000, help="events scored for the template states")
    parser.add_argument("--template-leads", type=int, default=10_000, help="distinct leads of those events")
    parser.add_argument("--workdir", type=Path, help="where logs and state go (default: a new temporary directory)")
    args = parser.parse_args(argv)
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="leadscore-recovery-"))
    workdir.mkdir(parents=True, exist_ok=True)
    templates = template_states(args.events, args.template_leads)
    for leads in args.leads:
        result = recover(leads, templates, workdir, args.broker)
        print(json.dumps(result), flush=True)


if __name__ == "__main__":
    main()
