"""How the per-event agents write what they computed when the fast path is off (``LEADSCORE_BATCH_MAX=0``).

The textbook Faust way: ``topic.send`` per output, ``table[key] = state`` per state change. Kept as the reference
the fast path is tested against (tests/stream/test_fast_path.py) and as a fallback.
"""

from __future__ import annotations

import time
from typing import Any

from streams.decay import DueIndex, PartitionClocks
from streams.processing import Message, Result


class PerEventWriter:
    """Outputs first, then the state: a crash in between re-delivers the input, which is then applied again (its
    outputs carry the same ids), rather than recorded as applied with its outputs lost (ADR 008)."""

    def __init__(
        self, table: Any, outputs: Any, rerouted_topic: Any, due_index: DueIndex, clocks: PartitionClocks
    ) -> None:
        self.table = table
        self.outputs = outputs
        self.rerouted_topic = rerouted_topic
        self.due_index = due_index
        self.clocks = clocks

    async def emit(self, message: Message, result: Result) -> None:
        outputs = self.outputs
        if result.dead_letter is not None:
            if outputs.dead_letters is not None:
                await outputs.dead_letters.send(key=message.key, value=result.dead_letter)
            return
        if result.forward is not None:
            partition, key = result.forward
            await self.rerouted_topic.send(key=key, value=message.value, partition=partition)
            return
        for change in result.changes:
            await outputs.score_changes.send(key=message.key, value=change)
        if outputs.thresholds is not None:
            for crossing in result.crossings:
                await outputs.thresholds.send(key=message.key, value=crossing)
        if result.scores is not None:
            await outputs.scores.send(key=message.key, value=result.scores)
        if result.conversion is not None and outputs.conversion_scores is not None:
            await outputs.conversion_scores.send(key=message.key, value=result.conversion)
        if result.state is not None:
            self.table[result.lead_id] = result.state
            self.due_index.set(message.partition, result.lead_id, result.due_ms)
        if result.event_ms is not None:
            self.clocks.observe(message.partition, result.event_ms, int(time.time() * 1000))
        if result.erased is not None:
            self.table.pop(result.lead_id, None)  # a tombstone in the changelog
            self.due_index.set(message.partition, result.lead_id, None)
            await outputs.scores.send(key=message.key, value=None)  # and in the compacted lead-scores
            if outputs.erasures_completed is not None:
                await outputs.erasures_completed.send(key=message.key, value=result.erased)
