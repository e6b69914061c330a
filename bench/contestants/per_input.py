"""What the textbook and peer contestants do per input, whatever holds their state: leadscore's Processor, the
lead's stored state read and written as bytes in leadscore's own state codec.

The peer (:mod:`bench.contestants.peer_quix`) keeps each lead's stored state in Quix's ``State`` as bytes it
encodes and decodes itself, with ``State.set_bytes`` / ``State.get_bytes``: the way Quix's documentation
("Stateful Applications", Serialization) teaches for a codec of one's own. The textbook agent
(:mod:`bench.contestants.textbook`) does the same with a Faust table of raw bytes, as leadscore's own table.

The codec is leadscore's own: a stored lead (``Result.state``, a :class:`streams.worker.stored.StoredLead`) goes
to the worker's table and changelog as state format 2 (``encode_stored``, ADR 033) and is read back with
``decode_stored``; :func:`encode_state` and :func:`decode_state` are those two. When the state format changes
again, ``tests/unit/test_bench_peer.py`` fails until they round-trip what the Processor returns and reads back.

Imported in the peer's virtualenv too (its own pins, bench/peer-requirements.txt): only what leadscore's
per-event path needs.
"""

from __future__ import annotations

from collections.abc import Callable

from streams.worker.processor import Message, Processor, Result
from streams.worker.stored import StoredLead, decode_stored, encode_stored

#: Reads a stored state's bytes by lead id (Quix: ``state.get_bytes``; Faust: ``table.get``), writes them.
GetBytes = Callable[[str], bytes | None]
SetBytes = Callable[[str, bytes], None]


def encode_state(lead: StoredLead) -> bytes:
    """A stored lead as the worker's table and changelog hold it."""
    return encode_stored(lead)


def decode_state(data: bytes) -> StoredLead:
    return decode_stored(data)


def outputs(result: Result) -> list[bytes]:
    """Every record the worker would emit for ``result``, in one list (the peer sends them all to one topic)."""
    records: list[bytes] = [*result.changes, *result.crossings]
    if result.scores is not None:
        records.append(result.scores)
    if result.dead_letter is not None:
        records.append(result.dead_letter)
    return records


def score(processor: Processor, message: Message, get_bytes: GetBytes, set_bytes: SetBytes) -> Result:
    """One input through the Processor, the lead's state read and written as bytes in leadscore's codec."""

    def load(lead_id: str) -> StoredLead | None:
        data = get_bytes(lead_id)
        return None if data is None else decode_state(data)

    result = processor.process_event(message, load)
    if result.state is not None:
        set_bytes(result.lead_id, encode_state(result.state))
    return result
