"""How the per-event agents write what they computed when the fast path is off (``LEADSCORE_BATCH_MAX=0``).

The textbook Faust way: ``topic.send`` per output, ``table[key] = state`` per state change. Kept as the reference
the fast path is tested against (tests/stream/test_fast_path.py) and as a fallback. What goes where is decided by
the fast path's own :func:`streams.worker.outbox.collect`: one set of routing rules for both.
"""

from __future__ import annotations

import time
from collections.abc import Mapping

from faust.types import TopicT

from streams.kafka.topics import Routes
from streams.worker.outbox import Outbox, collect
from streams.worker.processor import Message, Result
from streams.worker.stored import encode_stored
from streams.worker.table import LeadTable
from streams.worker.ticks import DueIndex, PartitionClocks


class PerEventWriter:
    """Outputs first, then the state: a crash in between re-delivers the input, which is then applied again (its
    outputs carry the same ids), rather than recorded as applied with its outputs lost (ADR 008)."""

    def __init__(
        self,
        table: LeadTable,
        topics: Mapping[str, TopicT],
        routes: Routes,
        rerouted_topic: str,
        due_index: DueIndex,
        clocks: PartitionClocks,
    ) -> None:
        self.table = table
        self.topics = topics  # Faust topics by name: every output topic of ``routes`` and the rerouting topic
        self.routes = routes
        self.rerouted_topic = rerouted_topic
        self.due_index = due_index
        self.clocks = clocks

    async def emit(self, message: Message, result: Result) -> None:
        outbox = Outbox()
        collect(message, result, self.routes, self.rerouted_topic, outbox)
        for topic, key, value, partition in outbox.records:
            await self.topics[topic].send(key=key, value=value, partition=partition)
        for lead_id, (partition, state, due_ms) in outbox.states.items():
            if state is None:
                self.table.pop(lead_id, None)  # erased: a tombstone in the changelog
            else:
                self.table[lead_id] = encode_stored(state)
            self.due_index.set(partition, lead_id, due_ms)
        wall_ms = int(time.time() * 1000)
        for partition, event_ms in outbox.latest_event_ms.items():
            self.clocks.observe(partition, event_ms, wall_ms)
