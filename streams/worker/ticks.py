"""Decay-driven crossings in the stream: which leads are due when, and each partition's event-time clock.

Each worker keeps, for the partitions it owns, an index of the next time each lead would cross a level through
time alone (``Engine.next_due``). A timer pops only the leads that are due, so the work per tick is proportional to
those leads, not to all leads; it sends each a tick through an internal topic on the lead's own partition, so that
the state is read and written inside a normal agent (ADR 009).
"""

from __future__ import annotations

import heapq
from collections.abc import Iterable
from dataclasses import dataclass, field

from streams.worker.storeddue import StoredDue, stored_due
from streams.worker.table import StoredState


@dataclass
class DueIndex:
    """Per partition, a heap of ``(due_ms, lead_id)``; an entry is live while it matches the lead's latest due."""

    _heaps: dict[int, list[tuple[int, str]]] = field(default_factory=dict)
    _due: dict[str, int] = field(default_factory=dict)

    def set(self, partition: int, lead_id: str, due_ms: int | None) -> None:
        if due_ms is None:
            self._due.pop(lead_id, None)
            return
        if self._due.get(lead_id) == due_ms:
            return
        self._due[lead_id] = due_ms
        heapq.heappush(self._heaps.setdefault(partition, []), (due_ms, lead_id))

    def pop_due(self, partition: int, until_ms: int, limit: int = 10_000) -> list[str]:
        """Leads of ``partition`` due at or before ``until_ms`` (at most ``limit``), removed from the index."""
        heap = self._heaps.get(partition, [])
        due: list[str] = []
        while heap and heap[0][0] <= until_ms and len(due) < limit:
            due_ms, lead_id = heapq.heappop(heap)
            if self._due.get(lead_id) == due_ms:  # otherwise a newer due replaced this entry
                del self._due[lead_id]
                due.append(lead_id)
        return due

    def clear(self) -> None:
        self._heaps.clear()
        self._due.clear()

    def replace_all(self, entries: Iterable[tuple[int, str, int]]) -> None:
        """Replace the whole index with ``(partition, lead_id, due_ms)`` entries: each partition's heap built at
        once (``heapify``), not pushed lead by lead."""
        self.clear()
        for partition, lead_id, due_ms in entries:
            self._due[lead_id] = due_ms
            self._heaps.setdefault(partition, []).append((due_ms, lead_id))
        for heap in self._heaps.values():
            heapq.heapify(heap)

    def __len__(self) -> int:
        return len(self._due)


@dataclass
class PartitionClocks:
    """Event time per partition: the highest event time seen, and, once the partition has been idle for
    ``idle_after_ms`` of wall time, that time advanced by the wall time elapsed since its last event. Replaying
    history therefore gives the same crossings as live traffic, and a quiet partition still sees time pass."""

    idle_after_ms: int
    _event_ms: dict[int, int] = field(default_factory=dict)
    _wall_ms: dict[int, int] = field(default_factory=dict)
    _given_ms: dict[int, int] = field(default_factory=dict)

    def observe(self, partition: int, event_ms: int, wall_ms: int) -> None:
        if event_ms >= self._event_ms.get(partition, 0):
            self._event_ms[partition] = event_ms
        self._wall_ms[partition] = wall_ms

    def now(self, partition: int, wall_ms: int) -> int | None:
        """The partition's clock, never going backwards; None for a partition that has seen no event."""
        if partition not in self._event_ms:
            return None
        clock = self._event_ms[partition]
        idle = wall_ms - self._wall_ms[partition]
        if idle >= self.idle_after_ms:
            clock += idle
        clock = max(clock, self._given_ms.get(partition, 0))
        self._given_ms[partition] = clock
        return clock


def rebuild_due_index(
    states: Iterable[tuple[str, StoredState]],
    owned: set[int],
    due_index: DueIndex,
    clocks: PartitionClocks,
    wall_ms: int,
) -> None:
    """:func:`index_due` of stored values by lead id (the memory store's)."""
    index_due(((lead_id, stored_due(value)) for lead_id, value in states), owned, due_index, clocks, wall_ms)


def index_due(
    dues: Iterable[tuple[str, StoredDue]],
    owned: set[int],
    due_index: DueIndex,
    clocks: PartitionClocks,
    wall_ms: int,
) -> None:
    """After a recovery: index the owned leads with a crossing by decay ahead, and start each partition's clock at
    its latest event time, observed now (``wall_ms``): a restarted partition is not idle since 1970."""
    entries: list[tuple[int, str, int]] = []
    latest: dict[int, int] = {}
    for lead_id, (partition, due_ms, latest_ms) in dues:
        if partition is None or partition not in owned:
            continue
        if due_ms is not None:
            entries.append((partition, lead_id, due_ms))
        known = latest.get(partition)
        if known is None or latest_ms > known:
            latest[partition] = latest_ms
    due_index.replace_all(entries)
    for partition, event_ms in latest.items():
        clocks.observe(partition, event_ms, wall_ms)
