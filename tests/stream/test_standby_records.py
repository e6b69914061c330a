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
    keep_standby_records(app)
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
