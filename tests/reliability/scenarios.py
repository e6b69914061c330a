"""The reliability scenarios (issue 6), each parameterised by size: the fast subset and ``make reliability`` run the
same code. Each returns its figures; the tests assert on them and the long runs write them into the report."""

from __future__ import annotations

import os
import random
import signal
import time
from pathlib import Path
from typing import Any

import pytest

from tests.reliability.harness import (
    BackgroundProducer,
    check_against_oracle,
    engine_for,
    oracle,
    scenario,
    valid_messages,
)
from tests.reliability.hostile import HostileFuzzer


def produced_count(producer: BackgroundProducer, timeout_s: float) -> int:
    producer.join(timeout_s)
    assert not producer.is_alive(), "the producer did not finish"
    assert producer.error is None, producer.error
    assert producer.failed == 0, f"{producer.failed} sends failed"
    return producer.acked


DECAYING_GAP_MS = 30 * 60_000.0  # 30 minutes of event time per event: weeks per run, a 30-day half-life bites


def run_crash(
    tmp_path: Path, leads: int, events: int, kills: int, rate: float, seed: int = 6, settle_s: float = 300
) -> dict[str, Any]:
    """One worker at a time under a paced load; SIGKILL at random moments, restarted on the same data dir."""
    rng = random.Random(seed)
    messages = valid_messages(leads, events, seed, mean_gap_ms=DECAYING_GAP_MS)  # decay crossings across kills
    started = time.monotonic()
    with scenario(tmp_path) as (_, settings, workers):
        workers.spawn("w")
        producer = BackgroundProducer(settings.bootstrap_servers, settings.topics.events, messages, rate)
        producer.start()
        kill_times = []
        load_s = events / rate
        for _ in range(kills):  # spread over the load, at least a couple of seconds apart
            time.sleep(rng.uniform(0.5, 1.5) * max(2.0, load_s / (kills + 1)))
            workers.kill("w")
            kill_times.append(round(time.monotonic() - started, 1))
            workers.spawn("w")
        produced = produced_count(producer, timeout_s=load_s * 3 + 120)
        expected = oracle(settings, produced)
        figures, _ = check_against_oracle(settings, expected, timeout_s=settle_s)
        alive = workers.processes["w"].poll() is None
    return {
        **figures,
        "events": expected.events,
        "kills": len(kill_times),
        "kill_times_s": kill_times,
        "worker_alive_at_end": alive,
        "seconds": round(time.monotonic() - started, 1),
    }


def run_hostile(tmp_path: Path, leads: int, events: int, hostile: int, rate: float, seed: int = 7) -> dict[str, Any]:
    """Malformed messages mixed at random into a valid stream; one worker that must never restart."""
    rng = random.Random(seed)
    valid = valid_messages(leads, events, seed)
    started = time.monotonic()
    with scenario(tmp_path) as (_, settings, workers):
        fuzzer = HostileFuzzer(engine_for(settings), seed)
        bad = fuzzer.messages(hostile)
        mixed: list[Any] = list(valid)
        for message in bad:
            mixed.insert(rng.randrange(len(mixed) + 1), message)
        worker = workers.spawn("w")
        producer = BackgroundProducer(settings.bootstrap_servers, settings.topics.events, mixed, rate)
        producer.start()
        produced = produced_count(producer, timeout_s=len(mixed) / rate * 3 + 120)
        expected = oracle(settings, produced)
        figures, observed = check_against_oracle(settings, expected, timeout_s=180)
        in_dlq = [observed.dead_letters.get(at) for at in expected.invalid]
        same_process = worker.poll() is None and workers.starts == 1
    return {
        **figures,
        "events": expected.events,
        "hostile_messages": len(bad),
        "hostile_classified_invalid": len(expected.invalid),
        "hostile_in_dlq": sum(1 for reason in in_dlq if reason and reason.strip()),
        "valid_in_dlq": len(observed.dead_letters.keys() - expected.invalid),
        "hostile_kinds": fuzzer.counts,
        "worker_restarts_from_hostile": 0 if same_process else 1,
        "seconds": round(time.monotonic() - started, 1),
    }


def run_stall(tmp_path: Path, leads: int, events: int, stall_s: float, rate: float, seed: int = 8) -> dict[str, Any]:
    """SIGSTOP the broker for ``stall_s`` under load, SIGCONT; the worker must carry on by itself, exactly."""
    messages = valid_messages(leads, events, seed)
    started = time.monotonic()
    with scenario(tmp_path) as (broker, settings, workers):
        worker = workers.spawn("w")
        producer = BackgroundProducer(settings.bootstrap_servers, settings.topics.events, messages, rate)
        producer.start()
        time.sleep(min(15.0, events / rate / 3))
        if broker.pid is None:
            pytest.skip("stopping the broker needs a broker process of its own (not an external cluster)")
        os.kill(broker.pid, signal.SIGSTOP)
        try:
            time.sleep(stall_s)
        finally:
            os.kill(broker.pid, signal.SIGCONT)
        resumed = time.monotonic()
        produced = produced_count(producer, timeout_s=events / rate * 3 + 180)
        expected = oracle(settings, produced)
        figures, _ = check_against_oracle(settings, expected, timeout_s=300)
        caught_up_s = time.monotonic() - resumed
        alive = worker.poll() is None and workers.starts == 1
    return {
        **figures,
        "events": expected.events,
        "stall_seconds": stall_s,
        "stall_worker_alive": alive,
        "stall_caught_up_seconds": round(caught_up_s, 1),
        "seconds": round(time.monotonic() - started, 1),
    }
