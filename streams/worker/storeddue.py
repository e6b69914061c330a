"""What the due index needs of a stored lead, read from the stored bytes without decoding the scores.

Rebuilding the due index after a recovery (ADR 009) needs, for every lead, three of the shell's fields: its
partition, its next due time (or None) and its latest event time (for the partition's clock). State format 2 keeps
the first two in the envelope, before the state, whose latest event time is its last field
(:func:`streams.worker.stored.stored_head` decodes those and skips the rest, ADR 033); a format 1 value (JSON,
written by 0.2) is decoded whole. Decoding every whole state costs seconds per million leads (ADR 030).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field

import orjson

from streams.worker.stored import stored_head

#: The shell's fields the due index reads: partition, next due (None: no crossing by decay ahead), latest event
#: time (0 when the state has none). A plain tuple: one is made per stored lead.
StoredDue = tuple[int | None, int | None, int]


def stored_due(value: bytes) -> StoredDue:
    """The due fields of one stored value (state format 2, or 1)."""
    return stored_head(value)


def stored_lead_id(key: bytes) -> str:
    """The lead id of a stored key: Faust writes table keys as JSON strings."""
    lead_id = orjson.loads(key)
    if not isinstance(lead_id, str):
        raise TypeError(f"stored key {key!r} is not a JSON string")
    return lead_id


def stored_dues(items: Iterator[tuple[bytes, bytes]]) -> Iterator[tuple[str, StoredDue]]:
    """``(lead id, due fields)`` of raw stored ``(key, value)`` pairs. The key is decoded only for a lead with a due
    time (the due index holds no other); for the others the lead id is ``""``."""
    for key, value in items:
        due = stored_due(value)
        yield (stored_lead_id(key) if due[1] is not None else ""), due


@dataclass
class PartitionDues:
    """The due fields of one partition's leads, collected while the bulk recovery loads its changelog from the first
    offset into an empty store (ADR 030), so that the due index needs no second pass over the store: each live key
    with a due time, and the latest event time of any record applied (the partition's event time did reach it,
    also where the lead was erased since)."""

    due: dict[bytes, int] = field(default_factory=dict)
    latest_ms: int = 0

    def apply(self, key: bytes, value: bytes | None) -> None:
        """One changelog record, in offset order (None: a tombstone)."""
        if value is None:
            self.due.pop(key, None)
            return
        _, due_ms, latest_ms = stored_due(value)
        if due_ms is None:
            self.due.pop(key, None)
        else:
            self.due[key] = due_ms
        if latest_ms > self.latest_ms:
            self.latest_ms = latest_ms

    def entries(self, partition: int) -> Iterator[tuple[str, StoredDue]]:
        """What :func:`stored_dues` would give for these leads: first the partition's latest event time, then each
        lead with a due time."""
        yield "", (partition, None, self.latest_ms)
        for key, due_ms in self.due.items():
            yield stored_lead_id(key), (partition, due_ms, self.latest_ms)
