"""Two workers share the partitions; one is killed; the other takes its partitions over with exact state."""

from __future__ import annotations

import json
import os
import signal
import time
import urllib.request

from kafka import KafkaProducer

from streams.devtools.processes import free_port, spawn_worker, stop_process
from tests.conftest import T0, make_event
from tests.integration.conftest import read_topics

POINTS = {"email_open": 1, "page_view": 2, "demo_request": 30}


def served_by(url: str, lead: str) -> str | None:
    try:
        with urllib.request.urlopen(f"{url}/leads/{lead}", timeout=5) as response:
            json.loads(response.read())
            return response.headers["X-Leadscore-Served-By"]
    except OSError:
        return None


def test_killed_worker_partitions_move_to_the_survivor_with_exact_scores(settings, codec, tmp_path):
    leads = [f"lead-{n}" for n in range(20)]
    types = list(POINTS)
    batch1 = [make_event(lead, types[k % 3], T0 + k, event_id=f"{lead}-a{k}") for lead in leads for k in range(3)]
    batch2 = [make_event(lead, types[k % 3], T0 + 100 + k, event_id=f"{lead}-b{k}") for lead in leads for k in range(3)]
    expected = {lead: 0.0 for lead in leads}
    for event in batch1 + batch2:
        expected[event.lead_id] += POINTS[event.type]
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers)

    def produce(events):
        for event in events:
            producer.send(settings.topics.events, key=event.lead_id.encode(), value=codec.encode_event(event))
        producer.flush()

    ports = [settings.web_port, free_port()]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    workers = [
        spawn_worker(
            settings.model_copy(update={"web_port": port, "data_dir": tmp_path / str(port), "standby_replicas": 1}),
            log_file=tmp_path / f"{port}.log",
        )
        for port in ports
    ]
    try:
        produce(batch1)
        changes = settings.topics.score_changes
        read_topics(settings.bootstrap_servers, [changes], lambda rs: len(rs) >= len(batch1), 90)
        deadline = time.monotonic() + 60
        owners: dict[str, str | None] = {}
        while time.monotonic() < deadline:  # both workers own partitions
            owners = {lead: served_by(urls[0], lead) for lead in leads}
            if set(owners.values()) == set(urls):
                break
            time.sleep(1)
        assert set(owners.values()) == set(urls), owners
        os.kill(workers[1].pid, signal.SIGKILL)
        workers[1].wait(timeout=10)
        killed_at = time.monotonic()
        produce(batch2)

        def settled(records):
            latest: dict[str, tuple] = {}
            for _, _, value in records:
                if value["lead_id"] not in latest or value["occurred_at"] >= latest[value["lead_id"]][0]:
                    latest[value["lead_id"]] = (value["occurred_at"], value["score"])
            return {lead: score for lead, (_, score) in latest.items()} == expected

        records = read_topics(settings.bootstrap_servers, [changes], settled, 120)
        takeover_s = time.monotonic() - killed_at
    finally:
        producer.close()
        for worker in workers:
            stop_process(worker, grace_s=15)
    assert settled(records), "scores after the takeover must be exact"
    distinct = {value["change_id"] for _, _, value in records}
    assert len(distinct) == len(batch1) + len(batch2), "no event lost, none counted twice"
    assert takeover_s < 90
    assert all(served_by(url, leads[0]) is None for url in urls)  # both stopped
