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

from collections.abc import Mapping

from streams.worker.stored import StoredLead, decode_stored


class LiveStates:
    """Decoded stored leads by lead id, in front of ``store`` (the table's: lead id -> encoded value)."""

    def __init__(self, store: Mapping[str, bytes], max_leads: int) -> None:
        self.store = store
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
        try:
            value = self.store[lead_id]
        except KeyError:
            return None
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
