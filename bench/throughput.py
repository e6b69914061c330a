"""Throughput of each contestant on the same input topic, each from its first input processed to the N-th.

Every contestant reads the one input topic from the start with a consumer group of its own and writes to output
topics of its own. leadscore is counted by its ``leadscore_events_consumed_total`` counter (``/metrics``, polled
every 0.5 s), the textbook and peer contestants by the progress file they stamp themselves, the ceiling in-process.
Each result also holds ``cpu``: :func:`bench.cpu.window` over the same window, the CPU seconds per event of the
contestant's own processes and of the broker's (ADR 032), and ``cpu_total_s``, its processes' CPU over the whole
step (start-up and group join included).
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Sequence
from pathlib import Path
from subprocess import Popen
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from confluent_kafka import Consumer, TopicPartition

from bench.common import (
    PEER_PYTHON,
    BenchError,
    aiokafka_options,
    codec,
    create_topic,
    librdkafka_options,
    log_tail,
    metrics_text,
    prefixed_topics,
    progress_bar,
    python,
    security_env,
    spawn,
    worker_metrics,
)
from bench.contestants.progress import read_progress
from bench.cpu import Mark, tree_cpu_s, trees_cpu_s, window
from bench.model import lead_model_file
from scoring import LeadscoreError
from streams.devtools.brokers import Broker
from streams.devtools.processes import spawn_worker, stop_process
from streams.kafka.partitioner import lead_partition
from streams.settings import Settings, load_settings
from streams.worker.stored import decode_stored

POLL_S = 0.2  # reading a progress file
METRICS_POLL_S = 0.5  # until the first event: a scrape of /metrics costs the worker ~5 ms of CPU
FINAL_POLL_S, LONGEST_POLL_S = 0.1, 5.0  # then half the time the rest should take, within these
STALL_S = 180.0  # no progress for this long: the contestant is stuck


def _own_mark(count: int, broker_pid: int | None) -> Mark:
    """The ceiling's CPU: this thread's (the event loop's; the progress bar refreshes from a thread of its own)."""
    broker = tree_cpu_s(broker_pid) if broker_pid is not None else None
    return Mark(at=time.time(), count=count, cpu_s=time.thread_time(), broker_cpu_s=broker)


async def _ceiling(cluster: Settings, source: str, sink: str, events: int, broker_pid: int | None) -> dict[str, Any]:
    avro = codec()
    consumer = AIOKafkaConsumer(
        source,
        **aiokafka_options(cluster),
        group_id=None,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        max_poll_records=5000,
    )
    producer = AIOKafkaProducer(**aiokafka_options(cluster), linger_ms=5)
    cpu_at_start = time.thread_time()
    await consumer.start()
    await producer.start()
    seen, started, first = 0, None, None
    try:
        with progress_bar() as bar:
            task = bar.add_task("ceiling: aiokafka pass-through", total=events, note="")
            while seen < events:
                batches = await consumer.getmany(timeout_ms=1000)
                for records in batches.values():
                    first = first or _own_mark(0, broker_pid)
                    started = started or time.perf_counter()
                    for record in records:
                        event = avro.decode_event(record.value)
                        await producer.send(sink, key=record.key, value=avro.encode_event(event))
                    seen += len(records)
                bar.update(task, completed=seen)
        await producer.flush()
        seconds = time.perf_counter() - (started or time.perf_counter())
        last = _own_mark(seen, broker_pid)
    finally:
        await consumer.stop()
        await producer.stop()
    cpu = window(first or last, last)
    total = round(time.thread_time() - cpu_at_start, 3)
    return {"eps": seen / seconds, "seconds": seconds, "events": seen, "cpu": cpu, "cpu_total_s": total}


def ceiling(
    cluster: Settings,
    source: str,
    events: int,
    broker_pid: int | None = None,
    sink: str = "ceiling-passthrough",
    partitions: int = 4,
) -> dict[str, Any]:
    """Plain aiokafka consume, decode, encode, produce of the same messages with the same Avro codec, in this
    process; its CPU is this thread's, the broker's that of ``broker_pid``."""
    create_topic(cluster, sink, partitions)  # as many partitions as the input, not auto-created
    return asyncio.run(_ceiling(cluster, source, sink, events, broker_pid))


def _marks(pids: Sequence[int], broker: Broker, count: float) -> Mark:
    """The driver's reading of this moment: the workers' CPU and the broker's, with the count just scraped."""
    broker_s = tree_cpu_s(broker.pid) if broker.pid is not None else None
    return Mark(at=time.monotonic(), count=int(count), cpu_s=trees_cpu_s(pids), broker_cpu_s=broker_s)


def leadscore(
    broker: Broker,
    app_id: str,
    source: str | None,
    events: int,
    workdir: Path,
    workers: int = 1,
    sources_path: Path | None = None,
    model_paths: Sequence[Path] | None = None,
    roll_up: bool = False,
) -> dict[str, Any]:
    """``workers`` real worker processes (``streams.worker.spawn_worker``) in one group, counted by /metrics; their
    CPU and the broker's read right after the scrape that first shows an event and the one that shows all.
    ``source`` is the lead-events topic they read; None: their own, empty, with the input on a topic that
    ``sources_path`` declares (``leadscore_events_consumed_total`` counts its records too). ``model_paths``: the
    workers' model files (default: the contestants', :mod:`bench.model`). ``roll_up``: then also wait until
    the account agent has consumed every member update the lead side sent (:func:`_roll_up`, ``roll_up`` in the
    result)."""
    topics = prefixed_topics(app_id, events=source)
    models = [lead_model_file(workdir)] if model_paths is None else list(model_paths)
    settings = [
        broker.settings(app_id, workdir / f"{app_id}-{n}", topics=topics, sources_path=sources_path, model_paths=models)
        for n in range(workers)
    ]
    processes = [spawn_worker(s, log_file=workdir / f"{app_id}-{n}.log") for n, s in enumerate(settings)]
    pids = [process.pid for process in processes]
    label = f"leadscore, {workers} worker{'s' if workers > 1 else ''}" + (", declared source" if sources_path else "")
    try:
        first: Mark | None = None
        last_change, last_total = time.monotonic(), -1.0
        with progress_bar() as bar:
            task = bar.add_task(label, total=events, note="starting")
            while True:
                per_worker = [worker_metrics(s.web_port) for s in settings]
                total = sum(m.get("leadscore_events_consumed_total", 0.0) for m in per_worker)
                now = time.monotonic()
                if total and first is None:
                    first = _marks(pids, broker, total)
                if total >= events:
                    last = _marks(pids, broker, total)
                    break
                if total != last_total:
                    last_change, last_total = now, total
                elif now - last_change > STALL_S:
                    raise BenchError(f"{label}: stuck at {int(total):,} of {events:,} events ({workdir})")
                for n, process in enumerate(processes):
                    if process.poll() is not None:
                        log = workdir / f"{app_id}-{n}.log"
                        raise BenchError(f"{label}: worker exited with {process.returncode}: {log_tail(log)}")
                bar.update(task, completed=total, note="" if first else "starting")
                time.sleep(_next_poll_s(first, total, events, now))
        cpu = window(first or last, last)
        changes = sum(m.get("leadscore_score_changes_total", 0.0) for m in per_worker)
        result = {
            "eps": cpu["eps"],
            "seconds": cpu["seconds"],
            "events": int(total),
            "score_changes": int(changes),
            "per_worker_events": [int(m.get("leadscore_events_consumed_total", 0)) for m in per_worker],
            "app_id": app_id,
            "cpu": cpu,
            "cpu_total_s": _round(trees_cpu_s(pids)),
        }
        ports = [s.web_port for s in settings]
        if sources_path is not None:  # what the declared source's records became: all events, or not the same work
            result["source_records"] = _source_outcomes(ports)
        if roll_up:
            logs = [workdir / f"{app_id}-{n}.log" for n in range(workers)]
            result["roll_up"] = _roll_up(processes, ports, logs, broker, first or last, last, label)
            result["cpu_total_s"] = _round(trees_cpu_s(pids))
        return result
    finally:
        for process in processes:
            stop_process(process, grace_s=20)


def _source_outcomes(ports: Sequence[int]) -> dict[str, int]:
    """``leadscore_source_records_total`` by outcome (event, profile, skipped, dead_letter), summed over workers
    and sources."""
    return _by_outcome(ports, "leadscore_source_records_total")


def _by_outcome(ports: Sequence[int], counter: str) -> dict[str, int]:
    """A counter with an ``outcome`` label, by outcome, summed over workers and the other labels."""
    outcomes: dict[str, int] = {}
    for port in ports:
        for line in metrics_text(port).splitlines():
            if line.startswith(counter + "{") and 'outcome="' in line:
                outcome = line.split('outcome="', 1)[1].split('"', 1)[0]
                outcomes[outcome] = outcomes.get(outcome, 0) + int(float(line.split()[-1]))
    return outcomes


SENT, CONSUMED = "leadscore_member_updates_sent_total", "leadscore_member_updates_consumed_total"


def _roll_up(
    processes: Sequence[Popen[bytes]],
    ports: Sequence[int],
    logs: Sequence[Path],
    broker: Broker,
    first: Mark,
    nth: Mark,
    label: str,
) -> dict[str, Any]:
    """After the N-th event (``nth``): scrape until the account agents' ``leadscore_member_updates_consumed_total``
    (every outcome) reaches the lead side's ``leadscore_member_updates_sent_total``, then read the CPU as at the
    N-th event. The window from the first event to that moment, over the N events (:func:`bench.cpu.window`):
    events/s and CPU per event with the roll-up caught up; what was consumed by the N-th event's scrape, the
    member updates by outcome and the seconds of catch-up beside it."""
    pids = [process.pid for process in processes]
    at_nth: tuple[float, float] | None = None
    last_change, last_consumed, started = time.monotonic(), -1.0, time.monotonic()
    with progress_bar() as bar:
        task = bar.add_task(f"{label}: account roll-up catching up", total=None, note="")
        while True:
            per_worker = [worker_metrics(port) for port in ports]
            sent = sum(m.get(SENT, 0.0) for m in per_worker)
            consumed = sum(m.get(CONSUMED, 0.0) for m in per_worker)
            at_nth = at_nth or (sent, consumed)
            now = time.monotonic()
            if consumed >= sent:
                caught_up = _marks(pids, broker, nth.count)
                break
            if consumed != last_consumed:
                last_change, last_consumed = now, consumed
            elif now - last_change > STALL_S:
                raise BenchError(f"{label}: the account roll-up is stuck at {int(consumed):,} of {int(sent):,}")
            for process, log in zip(processes, logs, strict=True):
                if process.poll() is not None:
                    raise BenchError(f"{label}: worker exited with {process.returncode}: {log_tail(log)}")
            bar.update(task, completed=consumed, total=sent, note="member updates")
            rate = (consumed - at_nth[1]) / (now - started) if now > started else 0.0
            time.sleep(_catch_up_poll_s(sent - consumed, rate))
    cpu = window(first, caught_up)
    return {
        "eps": cpu["eps"],
        "seconds": cpu["seconds"],
        "catch_up_s": round(caught_up.at - nth.at, 3),
        "member_updates_sent": int(sent),
        "member_updates_consumed": int(consumed),
        "consumed_by_nth_event": int(at_nth[1]),
        "sent_by_nth_event": int(at_nth[0]),
        "outcomes": _by_outcome(ports, CONSUMED),
        "cpu": cpu,
    }


def _catch_up_poll_s(left: float, rate: float) -> float:
    """Half of what the member updates left should take at the catch-up rate so far, within the final polls'
    bounds (``METRICS_POLL_S`` until a rate is known)."""
    if rate <= 0:
        return METRICS_POLL_S
    return min(max(left / rate / 2, FINAL_POLL_S), LONGEST_POLL_S)


def _next_poll_s(first: Mark | None, total: float, events: int, now: float) -> float:
    """How long to wait before the next scrape: half of what the rest should take at the rate so far, so a run
    costs the worker a dozen scrapes, not two a second, and the last reading trails the N-th event by at most
    ``FINAL_POLL_S``."""
    if first is None or total <= first.count or now <= first.at:
        return METRICS_POLL_S
    rate = (total - first.count) / (now - first.at)
    return min(max((events - total) / rate / 2, FINAL_POLL_S), LONGEST_POLL_S)


def _round(seconds: float | None) -> float | None:
    return None if seconds is None else round(seconds, 3)


def _process_contestant(
    label: str, command: list[str], progress: Path, events: int, log: Path, env: dict[str, str] | None = None
) -> dict[str, Any]:
    """A contestant process that stamps its own progress and CPU marks (:class:`bench.contestants.progress.Progress`:
    ``command`` gives it ``--events`` and the broker's pid)."""
    process = spawn(command, log, env)
    try:
        last_change, last_count = time.monotonic(), -1
        with progress_bar() as bar:
            task = bar.add_task(label, total=events, note="starting")
            while True:
                state = read_progress(progress)
                count, now = state["count"], time.monotonic()
                if count >= events:
                    break
                if count != last_count:
                    last_change, last_count = now, count
                elif now - last_change > STALL_S:
                    raise BenchError(f"{label}: stuck at {count:,} of {events:,} events (log: {log})")
                if process.poll() is not None:
                    raise BenchError(f"{label}: exited with {process.returncode}: {log_tail(log)}")
                bar.update(task, completed=count, note="" if count else "starting")
                time.sleep(POLL_S)
        state = read_progress(progress)
        seconds = state["last_at"] - state["first_at"]
        first, last = Mark.from_dict(state.get("first_mark")), Mark.from_dict(state.get("last_mark"))
        return {
            "eps": (state["count"] - 1) / seconds if seconds else 0.0,
            "seconds": seconds,
            "events": state["count"],
            "outputs": state["outputs"],
            "score_changes": state.get("score_changes"),
            "cpu": window(first, last) if first and last else None,
            "cpu_total_s": _round(tree_cpu_s(process.pid)),
        }
    finally:
        stop_process(process, grace_s=20)


def _cpu_options(broker: Broker, events: int) -> list[str]:
    """What a contestant process needs to take its CPU marks: the input's length and the broker's pid."""
    return ["--events", str(events), *(["--watch-pid", str(broker.pid)] if broker.pid is not None else [])]


def _group_timeouts(broker: Broker) -> list[str]:
    """The worker's session timeout and heartbeat on this broker, for the contestants' consumers."""
    settings = load_settings(bootstrap_servers=broker.bootstrap, **broker.SETTINGS)
    session, heartbeat = str(settings.session_timeout_s), str(settings.heartbeat_interval_s)
    return ["--session-timeout-s", session, "--heartbeat-interval-s", heartbeat]


def textbook(broker: Broker, source: str, events: int, workdir: Path) -> dict[str, Any]:
    """The per-event Faust agent (bench/contestants/textbook.py), RocksDB table."""
    cluster = broker.settings("textbook", workdir / "textbook", topics=prefixed_topics("textbook", events=source))
    progress = workdir / "textbook-progress.json"
    command = [python(), "-m", "bench.contestants.textbook", "--bootstrap", broker.bootstrap, "--app-id", "textbook"]
    command += ["--input", source, "--prefix", "textbook", "--data-dir", str(workdir / "textbook")]
    command += ["--progress", str(progress), *_group_timeouts(broker), *_cpu_options(broker, events)]
    log, env = workdir / "textbook.log", security_env(cluster)  # the contestant reads them (faust_credentials)
    return _process_contestant("textbook: per-event Faust agent", command, progress, events, log, env)


def peer(broker: Broker, source: str, events: int, workdir: Path) -> dict[str, Any]:
    """Quix Streams (bench/contestants/peer_quix.py) in its own virtualenv, State on RocksDB with changelog."""
    if not PEER_PYTHON.exists():
        raise BenchError(f"no Quix Streams virtualenv at {PEER_PYTHON.parent.parent}: run `make bench`")
    progress = workdir / "peer-progress.json"  # Quix creates its own output topic (peer-outputs)
    command = [str(PEER_PYTHON), "-m", "bench.contestants.peer_quix", "--bootstrap", broker.bootstrap]
    command += ["--input", source, "--output", "peer-outputs", "--group", "peer"]
    command += ["--state-dir", str(workdir / "peer-state"), "--progress", str(progress), *_group_timeouts(broker)]
    command += _cpu_options(broker, events)
    return _process_contestant("peer: Quix Streams", command, progress, events, workdir / "peer.log")


def changelog_layout(cluster: Settings, app_id: str, partitions: int = 4, sample: int = 2000) -> dict[str, Any]:
    """Read the changelog a real worker wrote: keys JSON strings, each on ``lead_partition(key)``, values of state
    format 2 (ADR 033) of that lead, with that partition in their envelope."""
    consumer = Consumer(librdkafka_options(cluster, {"group.id": f"{app_id}-layout", "enable.auto.commit": False}))
    topic = f"{app_id}-lead-state-changelog"
    consumer.assign([TopicPartition(topic, p, 0) for p in range(partitions)])
    checked = wrong = 0
    example: dict[str, Any] = {}
    deadline = time.monotonic() + 20
    try:
        while checked < sample and time.monotonic() < deadline:
            for record in consumer.consume(500, timeout=1.0):
                key, data = record.key(), record.value()
                if record.error() or data is None:
                    continue
                if key is None:
                    raise BenchError(f"{topic}: a changelog record without a key")
                lead_id = json.loads(key)
                try:
                    lead = decode_stored(data)
                except LeadscoreError:
                    wrong += 1
                    continue
                checked += 1
                ok = lead_partition(lead_id, partitions) == record.partition() == lead.partition
                wrong += not ok or lead.state.lead_id != lead_id
                example = example or {"key": key.decode(), "format": data[:1].hex(), "due_ms": lead.due_ms}
    finally:
        consumer.close()
    return {"records_checked": checked, "mismatched": wrong, "example": example}
