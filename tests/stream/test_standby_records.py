"""Changelog records Faust has fetched survive a resume of flow (ADR 026), on the real app's queue and flow control.

Faust empties its changelog queue on every ``flow_control.resume()``; after it has started the standby partitions
that drops records the consumer has already moved past, and a standby keeps the hole for good. The app keeps them,
and leaves out only the records of changelog partitions it no longer holds.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace
from typing import Any

from faust.types import TP

from scoring import example_model_path
from streams.devtools.testing import build_app
from streams.worker.standbys import keep_standby_records
from streams.worker.table import table_recovery

B2B = example_model_path("b2b")


def changelog_event(topic: str, partition: int, offset: int) -> Any:
    message = SimpleNamespace(tp=TP(topic, partition), topic=topic, partition=partition, offset=offset)
    return SimpleNamespace(key=f"lead-{offset}", value={}, message=message)


async def taken(queue: Any) -> list[int]:
    """The offsets of what the queue hands out until it is empty."""
    offsets = []
    while True:
        try:
            event = await asyncio.wait_for(queue.get(), 0.05)
        except TimeoutError:
            return offsets
        offsets.append(event.message.offset)


async def test_faust_alone_drops_fetched_changelog_records_when_flow_resumes(tmp_path):
    """The defect the app works around: if this starts failing, Faust keeps them itself and ADR 026 can go."""
    app = build_app(B2B, tmp_path / "state").app
    queue = app.tables.changelog_queue
    topic = app.tables["lead-state"].changelog_topic.get_topic_name()
    for offset in range(3):
        queue.put_nowait(changelog_event(topic, 0, offset))
    app.flow_control.resume()
    assert await taken(queue) == []


async def test_fetched_changelog_records_of_held_partitions_survive_a_resume(tmp_path):
    app = build_app(B2B, tmp_path / "state").app
    delivered: dict[TP, int] = {}
    keep_standby_records(app, delivered)
    recovery = table_recovery(app)
    topic = app.tables["lead-state"].changelog_topic.get_topic_name()
    recovery.standby_tps.add(TP(topic, 0))  # a standby partition, as Recovery.on_rebalance adds them
    recovery.active_tps.add(TP(topic, 1))
    queue = app.tables.changelog_queue
    for partition, offset in [(0, 10), (2, 20), (1, 30), (0, 11), (3, 40)]:
        queue.put_nowait(changelog_event(topic, partition, offset))
    app.flow_control.resume()  # what Recovery.on_recovery_completed does after the standbys have started
    app.flow_control.clear()  # and App._on_partitions_revoked
    assert await taken(queue) == [10, 30, 11]  # held partitions, in order; 2 and 3 are no longer held
    assert delivered == {TP(topic, 0): 11, TP(topic, 1): 30, TP(topic, 2): 20, TP(topic, 3): 40}  # what arrived


async def test_changelog_records_faust_marked_read_but_never_queued_are_fetched_again(tmp_path, monkeypatch):
    """Faust sets its read offset even when the callback that was to hand a record on was cancelled; for changelog
    partitions the consumer goes by what the recovery's queue received, so a new standby's first fetch, lost that
    way, is fetched again (ADR 026). Input partitions still go by Faust's read offsets (ADR 023)."""
    from aiokafka.structs import ConsumerRecord
    from faust.transport.drivers.aiokafka import Consumer

    built = build_app(B2B, tmp_path / "state")
    changelog = built.table.changelog_topic.get_topic_name()
    standby, events = TP(changelog, 0), TP("lead-events", 0)

    def records(tp: TP) -> list[ConsumerRecord]:
        return [ConsumerRecord(tp.topic, 0, offset, 0, 0, b"k", b"v", None, 1, 1, ()) for offset in range(5)]

    async def fetch(self, timeout):
        return {standby: records(standby), events: records(events)}, {standby, events}

    monkeypatch.setattr(Consumer, "_wait_next_records", fetch)
    consumer = built.app._new_consumer()
    seeks: list[tuple[TP, int]] = []
    state = SimpleNamespace(has_valid_position=True, position=5)
    assignment = SimpleNamespace(state_value=lambda tp: state)
    kafka = SimpleNamespace(
        _subscription=SimpleNamespace(subscription=SimpleNamespace(assignment=assignment)),
        seek=lambda tp, offset: seeks.append((tp, offset)),
        highwater=lambda tp: 5,
    )
    consumer._thread._ensure_consumer = lambda: kafka
    [message async for _, message in consumer.getmany(timeout=0.1)]
    consumer._read_offset.update({standby: 4, events: 4})  # Faust marked both read to the end
    [message async for _, message in consumer.getmany(timeout=0.1)]
    assert seeks == [(standby, 0)]  # nothing reached the queue: from the start again; the events were delivered
