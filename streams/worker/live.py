"""One live state per lead on the hot path: decoded stored leads kept between batches (ADR 033).

The table's store holds each lead's encoded value (state format 2, :mod:`streams.worker.stored`). Decoding it
for every event and encoding it again cost more than scoring; the fast path instead keeps the decoded
:class:`~streams.worker.stored.StoredLead` of the leads it touched, hands that object to the engine (which
changes it in place), and encodes each lead once per batch for the changelog and the store. A lead is read from
the store only on a miss. The cache is bounded (least recently used leads go first), and emptied whenever the
partitions move (a rebalance) or a batch fails: what it holds is then read again from the store, which only ever
has states whose changelog records the broker acknowledged.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import orjson

from streams.kafka.partitioner import lead_partition
from streams.worker.stored import StoredLead, decode_stored

#: Reads a lead's encoded value from the table's store (None: not there).
StoreRead = Callable[[str], bytes | None]


def store_reader(store: Mapping[str, bytes] | Any, partitions: int) -> StoreRead:
    """How a miss reads the store. Faust's RocksDB store looks a key up in the partition of the current event and,
    outside an event (the fast path has none), in every partition's database (its key index is empty after a
    recovery, and the changelog batches the fast path applies never fill it): the lead's partition is known here,
    so its database is read directly (``_db_for_partition``, the store's own accessor; a test fails if a Faust
    upgrade removes it). The memory store is read through the mapping."""
    database_of = getattr(store, "_db_for_partition", None)
    if database_of is None:

        def read_mapping(lead_id: str) -> bytes | None:
            try:
                value: bytes | None = store[lead_id]
            except KeyError:
                return None
            return value

        return read_mapping

    def read_partition(lead_id: str) -> bytes | None:
        value: bytes | None = database_of(lead_partition(lead_id, partitions)).get(orjson.dumps(lead_id))
        return value

    return read_partition


class LiveStates:
    """Decoded stored leads by lead id, in front of the table's store (``read``: lead id -> encoded value)."""

    def __init__(self, read: StoreRead, max_leads: int) -> None:
        self.read = read
        self.max_leads = max_leads
        self._leads: dict[str, StoredLead] = {}
        self.hits = 0
        self.misses = 0

    def get(self, lead_id: str) -> StoredLead | None:
        """The lead's live state: the cached object, else decoded from the store (None: no state)."""
        leads = self._leads
        lead = leads.pop(lead_id, None)
        if lead is not None:
            leads[lead_id] = lead  # the most recently used last
            self.hits += 1
            return lead
        self.misses += 1
        value = self.read(lead_id)
        if value is None:
            return None
        lead = decode_stored(value)
        self._keep(lead_id, lead)
        return lead

    def put(self, lead_id: str, lead: StoredLead | None) -> None:
        """After a write reached the store: keep ``lead`` live (None: erased, forget it)."""
        if lead is None:
            self._leads.pop(lead_id, None)
        else:
            self._leads.pop(lead_id, None)
            self._keep(lead_id, lead)

    def clear(self) -> None:
        """Forget every live state (partitions moved, or a batch failed and its changes are not in the store)."""
        self._leads.clear()

    def _keep(self, lead_id: str, lead: StoredLead) -> None:
        leads = self._leads
        leads[lead_id] = lead
        while len(leads) > self.max_leads:
            del leads[next(iter(leads))]  # the least recently used

    def __len__(self) -> int:
        return len(self._leads)

    def __contains__(self, lead_id: object) -> bool:
        return lead_id in self._leads
