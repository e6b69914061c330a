"""The rebalance scenario (issue 6): three workers; one joins mid-stream, one leaves cleanly, one is killed.

Each membership change is timed from the change until every input partition is being consumed again by a live,
ready worker (Faust's per-partition received counter moved on some live worker, and every live worker's /readyz is
200): the rebalance and the state recovery of the partitions that moved, together.
"""

from __future__ import annotations

import time
import urllib.request
from pathlib import Path
from typing import Any

from streams.devtools.processes import free_port, stop_process
from tests.reliability.harness import (
    BackgroundProducer,
    Workers,
    check_against_oracle,
    oracle,
    scenario,
    valid_messages,
    wait_for,
)
from tests.reliability.scenarios import guarantee, produced_count

RECEIVED = "faust_messages_received_per_topics_partition"


def _get(port: int, path: str) -> tuple[int, str]:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as response:
            return response.status, response.read().decode()
    except urllib.error.HTTPError as error:
        return error.code, ""
    except OSError:
        return 0, ""


def _received(port: int, topic: str) -> dict[int, float]:
    """Messages received per partition of ``topic`` by one worker (Faust's own sensor)."""
    counts: dict[int, float] = {}
    for line in _get(port, "/metrics")[1].splitlines():
        if line.startswith(RECEIVED) and f'topic="{topic}"' in line:
            partition = int(line.split('partition="', 1)[1].split('"', 1)[0])
            counts[partition] = float(line.split()[-1])
    return counts


def _settle_time(ports: dict[str, int], live: set[str], topic: str, partitions: int, timeout_s: float) -> float:
    """Seconds until every partition moved on a live worker and every live worker is ready."""
    started = time.monotonic()
    before = {name: _received(ports[name], topic) for name in live}
    while time.monotonic() - started < timeout_s:
        now = {name: _received(ports[name], topic) for name in live}
        moved = {p for name in live for p, n in now[name].items() if n > before[name].get(p, 0)}
        ready = all(_get(ports[name], "/readyz")[0] == 200 for name in live)
        if ready and moved >= set(range(partitions)):
            return round(time.monotonic() - started, 1)
        time.sleep(0.25)
    raise AssertionError(f"the group did not settle within {timeout_s} s after the change (live: {sorted(live)})")


def _spawn(workers: Workers, name: str, port: int, tmp_path: Path) -> None:
    workers.spawn(name, web_port=port, data_dir=tmp_path / f"state-{name}")


def run_rebalance(
    tmp_path: Path, leads: int, events: int, rate: float, seed: int = 9, processing_guarantee: str = "at_least_once"
) -> dict[str, Any]:
    """With exactly_once, each change lands while transactions are open (the load never pauses): the leaver's
    pending batches commit before its partitions are revoked, the killed worker's open transactions are aborted
    when the new owner's producers fence its transactional ids."""
    messages = valid_messages(leads, events, seed)
    started = time.monotonic()
    options = guarantee(processing_guarantee)
    with scenario(tmp_path, standby_replicas=1, **options) as (_, settings, workers):
        topic, partitions = settings.topics.events, settings.partitions
        ports = {name: free_port() for name in ("a", "b", "c")}
        for name in ("a", "b"):
            _spawn(workers, name, ports[name], tmp_path)
        assert wait_for(lambda: all(_get(ports[n], "/readyz")[0] == 200 for n in ("a", "b")), 120)
        producer = BackgroundProducer(settings.bootstrap_servers, topic, messages, rate)
        producer.start()
        step_s = 10.0  # between changes; the load must outlast all three (a partition with no input cannot move)
        changes: list[dict[str, Any]] = []
        time.sleep(step_s)
        _spawn(workers, "c", ports["c"], tmp_path)  # joins
        changes.append({"change": "c joins", "seconds": _settle_time(ports, {"a", "b", "c"}, topic, partitions, 180)})
        time.sleep(step_s)
        stop_process(workers.processes["a"], grace_s=20)  # leaves cleanly
        changes.append({"change": "a leaves", "seconds": _settle_time(ports, {"b", "c"}, topic, partitions, 180)})
        time.sleep(step_s)
        workers.kill("b")  # killed: its partitions wait for the session timeout
        changes.append({"change": "b killed", "seconds": _settle_time(ports, {"c"}, topic, partitions, 180)})
        assert producer.is_alive(), "the load ended before the last change settled: produce more events"
        expected = oracle(settings, produced_count(producer, timeout_s=events / rate * 3 + 120))
        figures, _ = check_against_oracle(settings, expected, timeout_s=300)
        alive = workers.processes["c"].poll() is None
    return {
        **figures,
        "processing_guarantee": processing_guarantee,
        "events": expected.events,
        "changes": changes,
        "rebalance_seconds": [change["seconds"] for change in changes],
        "last_worker_alive": alive,
        "session_timeout_s": settings.session_timeout_s,
        "seconds": round(time.monotonic() - started, 1),
    }
