"""What the Quix peer does per input, without Quix: leadscore's Processor, its state in leadscore's own state codec.

The peer (:mod:`bench.contestants.peer_quix`) keeps each lead's stored state in Quix's ``State`` as bytes it
encodes and decodes itself, with ``State.set_bytes`` / ``State.get_bytes``: the way Quix's documentation
("Stateful Applications", Serialization) teaches for a codec of one's own. The codec is leadscore's: a stored state
(``Result.state``) is written to the worker's changelog as the orjson bytes of its dict
(``streams/worker/batch.py``), so :func:`encode_state` and :func:`decode_state` do the same. When the state format
changes (issue 15, item 1), these two change with it; ``tests/unit/test_bench_peer.py`` fails until they
round-trip what the Processor returns and reads back.

Imported in the peer's virtualenv (Python 3.11, its own pins): only what leadscore's per-event path needs.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import orjson

from streams.worker.processor import Message, Processor, Result

#: Reads a stored state's bytes by lead id (Quix: ``state.get_bytes``), writes them (``state.set_bytes``).
GetBytes = Callable[[str], bytes | None]
SetBytes = Callable[[str, bytes], None]


def encode_state(state: Any) -> bytes:
    """A stored state as the worker's changelog holds it."""
    return orjson.dumps(state)


def decode_state(data: bytes) -> Any:
    return orjson.loads(data)


def outputs(result: Result) -> list[bytes]:
    """Every record the worker would emit for ``result``, in one list (the peer sends them to one topic)."""
    records: list[bytes] = [*result.changes, *result.crossings]
    if result.scores is not None:
        records.append(result.scores)
    if result.dead_letter is not None:
        records.append(result.dead_letter)
    return records


def score(processor: Processor, message: Message, get_bytes: GetBytes, set_bytes: SetBytes) -> Result:
    """One input through the Processor, the lead's state read and written as bytes in leadscore's codec."""

    def load(lead_id: str) -> Any:
        data = get_bytes(lead_id)
        return None if data is None else decode_state(data)

    result = processor.process_event(message, load)
    if result.state is not None:
        set_bytes(result.lead_id, encode_state(result.state))
    return result
