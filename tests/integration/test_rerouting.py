"""Inputs keyed by something else, not keyed at all, or on another partition still reach their lead's state."""

from __future__ import annotations

import urllib.request

from kafka import KafkaProducer

from streams.devtools.processes import spawn_worker, stop_process
from streams.kafka.partitioner import lead_partition
from tests.conftest import T0, make_event
from tests.integration.conftest import read_topics


def test_misplaced_inputs_are_rerouted_to_the_lead_partition(settings, codec, tmp_path):
    names = settings.topics
    home = lead_partition("lead-R", settings.partitions)
    elsewhere = (home + 1) % settings.partitions
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers)
    sends = [
        (b"lead-R", home, "e1"),  # right
        (b"account-9", None, "e2"),  # keyed by account
        (None, elsewhere, "e3"),  # no key, another partition
        (b"lead-R", elsewhere, "e4"),  # right key, wrong partition (another partitioner)
    ]
    for n, (key, partition, event_id) in enumerate(sends):
        event = make_event("lead-R", "demo_request", T0 + n, event_id=event_id)
        producer.send(names.events, key=key, value=codec.encode_event(event), partition=partition)
    producer.send(
        names.events,
        key=b"account-9",
        value=codec.encode_event(make_event("lead-R", "demo_request", T0 + 9, event_id="e2")),
    )
    producer.flush()
    producer.close()
    worker = spawn_worker(settings, log_file=tmp_path / "worker.log")
    try:
        records = read_topics(
            settings.bootstrap_servers, [names.score_changes], lambda rs: any(v["score"] == 120.0 for _, _, v in rs), 90
        )
        metrics = urllib.request.urlopen(f"http://127.0.0.1:{settings.web_port}/metrics", timeout=5).read().decode()
    finally:
        stop_process(worker, grace_s=15)
    scores = sorted(value["score"] for _, _, value in records)
    assert scores == [30.0, 60.0, 90.0, 120.0]  # four distinct events; the re-sent e2 counted once
    assert all(key == b"lead-R" for _, key, _ in records)
    assert f'leadscore_rerouted_messages_total{{topic="{names.events}"}} 4.0' in metrics
    assert "leadscore_duplicate_events_total" in metrics
