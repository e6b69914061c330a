"""Crossings caused by time alone: emitted without new events, at most a tick after the exact time."""

from __future__ import annotations

import time
from pathlib import Path

from kafka import KafkaProducer

from scoring import Engine, load_model
from streams.devtools.processes import spawn_worker, stop_process
from tests.conftest import DAY, T0, make_event
from tests.integration.conftest import new_settings, read_topics

FAST = Path(__file__).parents[1] / "fixtures" / "fast-decay.yaml"


def fast_settings(broker, tmp_path, name):
    return new_settings(broker, tmp_path / "state", name, model_paths=[FAST], partitions=1, decay_tick_s=1.0)


def produce(settings, codec, events):
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers)
    for event in events:
        producer.send(settings.topics.events, key=event.lead_id.encode(), value=codec.encode_event(event))
    producer.flush()
    producer.close()


def expected_due(events):
    engine = Engine([load_model(FAST)])
    state = None
    for event in events:
        state = engine.apply_event(state, event).state
    return engine.next_due(state, max(e.occurred_at_ms for e in events))


def test_live_lead_drops_below_mql_by_decay_alone(broker, codec, tmp_path):
    settings = fast_settings(broker, tmp_path, "decay-live")
    now = int(time.time() * 1000)
    events = [make_event("quiet", "demo_request", now, event_id=f"q-{n}") for n in range(2)]
    produce(settings, codec, events)
    due = expected_due(events)
    worker = spawn_worker(settings, log_file=tmp_path / "worker.log")
    try:
        records = read_topics(
            settings.bootstrap_servers, [settings.topics.thresholds], lambda rs: len(rs) >= 2, timeout_s=60
        )
        arrived = int(time.time() * 1000)
    finally:
        stop_process(worker, grace_s=15)
    up, down = (value for _, _, value in records)
    assert (up["direction"], up["cause"]) == ("UP", "EVENT")
    assert (down["direction"], down["cause"], down["level"]) == ("DOWN", "DECAY", "MQL")
    occurred = int(down["occurred_at"].timestamp() * 1000 + 0.5)
    assert occurred == due  # the exact time, not the tick's
    assert arrived - due < 15_000  # a tick (1 s) after the exact time, plus start-up and polling slack


def test_replayed_history_gives_the_same_decay_crossing(broker, codec, tmp_path):
    """Old event times: the partition clock follows event time, so a later event of another lead on the same
    partition moves time on and the first lead's decay crossing comes out with its exact historical time."""
    settings = fast_settings(broker, tmp_path, "decay-replay")
    history = [make_event("old", "demo_request", T0, event_id=f"o-{n}") for n in range(2)]
    history.append(make_event("other", "email_open", T0 + DAY, event_id="later"))
    produce(settings, codec, history)
    due = expected_due(history[:2])
    worker = spawn_worker(settings, log_file=tmp_path / "worker.log")
    try:
        records = read_topics(
            settings.bootstrap_servers, [settings.topics.thresholds], lambda rs: len(rs) >= 2, timeout_s=60
        )
    finally:
        stop_process(worker, grace_s=15)
    down = records[1][2]
    assert (down["lead_id"], down["direction"], down["cause"]) == ("old", "DOWN", "DECAY")
    assert int(down["occurred_at"].timestamp() * 1000 + 0.5) == due
