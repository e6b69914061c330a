"""What the processor decides, as plain data: the input :class:`Message`, the :class:`Result` to write and send,
and the hooks identities add (:class:`IdentityHooks`). :mod:`streams.worker.processor` makes them; the agents, the
fast path and the outbox read them."""

from __future__ import annotations

import struct
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol, cast

from faust.types import EventT

from scoring import LeadEvent, LeadProfile
from streams.worker.members import MemberRecords
from streams.worker.stored import StoredLead

#: The lead's stored value, decoded (None: never scored, or erased). The fast path hands out its live object:
#: the engine changes it in place (a working copy that a failed batch discards, ADR 033).
LoadState = Callable[[str], StoredLead | None]
TICK = struct.Struct(">q")  # a decay tick's value: the partition clock in Unix ms


@dataclass(frozen=True)
class Message:
    """Where an input message came from, for dead letters."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: Sequence[tuple[str, bytes | None]] = ()  # read for declared sources only (CloudEvents binary mode)


def message_headers(headers: object) -> tuple[tuple[str, bytes | None], ...]:
    """A Kafka record's headers as ``(name, value)`` pairs, whether the client gave a list or a mapping."""
    if not headers:
        return ()
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    return tuple((str(name), value) for name, value in cast("Iterable[tuple[str, bytes | None]]", pairs))


@dataclass
class Result:
    """What to write and send for one input message. ``state`` is None when nothing is written."""

    lead_id: str = ""
    state: StoredLead | None = None
    changes: list[bytes] = field(default_factory=list)
    crossings: list[bytes] = field(default_factory=list)
    scores: bytes | None = None  # the lead's latest scores, for the compacted lead-scores topic
    dead_letter: bytes | None = None
    erased: bytes | None = None  # an ErasureCompleted: delete the state, tombstone lead-scores
    forward: tuple[int, bytes] | None = None  # (partition, key): send the input there, keyed by its lead id
    forward_value: bytes | None = None  # what to forward instead of the input (a source's record, as a LeadEvent)
    due_ms: int | None = None  # when time alone would next move the lead across a level
    conversion: bytes | None = None  # a ConversionScored: an outcome joined to the lead's scores
    event_ms: int | None = None  # event time of the input, for the partition's clock
    route_requests: list[bytes] = field(default_factory=list)  # level crossings to route (ADR 039)
    member_updates: MemberRecords = field(default_factory=list)  # (account id, MemberUpdate) to the accounts (ADR 043)
    #: identities (ADR 044): records addressed by the decision, (topic, key, value, partition), sent after the rest
    sends: list[tuple[str, bytes | None, bytes | None, int | None]] = field(default_factory=list)
    dropped: bool = False  # the lead was merged into another: its state goes, lead-scores gets a tombstone
    alias: bytes | None = None  # an alias to keep under lead_id once the rest is written (ADR 044)


class IdentityHooks(Protocol):
    """What identities add to the processor's paths (:class:`streams.worker.identities.Identities`, ADR 044)."""

    def event(self, message: Message, event: LeadEvent) -> Result | None: ...
    def profile(self, message: Message, profile: LeadProfile) -> Result | None: ...
    def identity(self, message: Message, load_state: LoadState) -> Result: ...
    def erased(self, message: Message, result: Result) -> None: ...
    def written(self, result: Result) -> None: ...


def event_message(event: EventT[bytes], headers: bool = False) -> Message:
    """Where a Faust event came from, with its key and value: raw bytes (every input topic is declared with
    ``key_type=bytes, value_type=bytes`` and the app's serializers are ``raw``), None for an empty one; and its
    headers when asked (a declared source's CloudEvents in binary mode)."""
    source = event.message
    key, value = event.key, event.value
    kept = message_headers(source.headers) if headers else ()
    return Message(
        source.topic,
        source.partition,
        source.offset,
        key if isinstance(key, bytes) else None,
        value if isinstance(value, bytes) else None,
        kept,
    )
