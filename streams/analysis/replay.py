"""Producing a history directory (``events.jsonl``, ``profiles.jsonl``, ``conversions.jsonl``, as the adapters
and ``leadscore generate`` write them) to leadscore's input topics: ``leadscore data replay``.

Records go out merged in event-time order (at the same time: profile, then event, then conversion, so a worker
knows the lead before it scores the event and has the score before the outcome), Avro-encoded, keyed by lead
id, to ``settings.topics.profiles`` / ``events`` / ``conversions``. ``speed`` 0 sends as fast as the broker
takes them; ``speed`` N waits 1/N of each event-time gap, but never more than ``max_gap_ms`` of wall time (a
year of Olist data would otherwise take a year), so N x real time with long quiet spells compressed.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path

from kafka import KafkaProducer
from kafka.errors import KafkaError

from scoring import LeadEvent, LeadProfile, LeadscoreError
from scoring.conversions import Conversion
from streams.analysis.client_types import SyncProducer
from streams.analysis.history import CONVERSIONS_FILE, EVENTS_FILE, PROFILES_FILE, History, history_from_files
from streams.errors import BrokerError, ProduceError
from streams.kafka.access import check_access
from streams.kafka.codec import AvroCodec
from streams.kafka.security import kafka_python_config
from streams.kafka.topics import schema_registry
from streams.settings import Settings

PROFILE, EVENT, CONVERSION = 0, 1, 2  # order of records at the same event time
ReplayRecord = tuple[int, int, str, LeadEvent | LeadProfile | Conversion]  # (time ms, kind, id, record)


class ReplayInputError(LeadscoreError):
    """The directory to replay is missing or has no ``events.jsonl``. Write one with ``leadscore data olist``
    (or ``bank``, or ``leadscore generate``) first."""


@dataclass
class ReplayCounts:
    events: int = 0
    profiles: int = 0
    conversions: int = 0


def load_directory(directory: Path) -> History:
    """The history in ``directory``; ``profiles.jsonl`` and ``conversions.jsonl`` are optional."""
    if not directory.is_dir():
        raise ReplayInputError(f"{directory}: no such directory")
    events = directory / EVENTS_FILE
    if not events.is_file():
        raise ReplayInputError(f"{directory}: no {EVENTS_FILE} in it")
    profiles, conversions = directory / PROFILES_FILE, directory / CONVERSIONS_FILE
    return history_from_files(
        events, profiles if profiles.is_file() else None, conversions if conversions.is_file() else None
    )


def merged(history: History, limit: int | None = None) -> list[ReplayRecord]:
    """Every record in replay order: event time, then profile < event < conversion, then id."""
    records: list[ReplayRecord] = [(p.updated_at_ms, PROFILE, p.lead_id, p) for p in history.profiles]
    records += [(e.occurred_at_ms, EVENT, e.event_id, e) for e in history.events]
    records += [(c.occurred_at_ms, CONVERSION, c.conversion_id, c) for c in history.conversions]
    records.sort(key=lambda record: record[:3])
    return records[:limit] if limit is not None else records


def wall_delays(records: list[ReplayRecord], speed: float, max_gap_ms: int) -> Iterator[float]:
    """Seconds to wait before each record: 0 at speed 0, else the event-time gap / speed, capped."""
    previous: int | None = None
    for at_ms, *_ in records:
        gap = 0 if previous is None or speed <= 0 else max(0, at_ms - previous)
        previous = at_ms
        yield min(gap / speed, max_gap_ms) / 1000 if gap else 0.0


class InputProducer:
    """Sends profiles, events and conversions to the input topics; failures surface at :meth:`flush`."""

    def __init__(self, settings: Settings, timeout_s: float = 10.0, **client_config: object) -> None:
        self.topics = settings.topics
        self.codec = AvroCodec(schema_registry(settings))
        self._failure: str | None = None
        check_access(settings, timeout_s)
        try:
            self._producer: SyncProducer = KafkaProducer(
                bootstrap_servers=settings.bootstrap_servers,
                acks="all",
                linger_ms=20,
                batch_size=256 * 1024,
                bootstrap_timeout_ms=int(timeout_s * 1000),
                max_block_ms=int(timeout_s * 1000),
                **kafka_python_config(settings),
                **client_config,
            )
        except KafkaError as exc:
            raise BrokerError(f"cannot reach {settings.bootstrap_servers}: {exc}") from None

    def send(self, record: LeadEvent | LeadProfile | Conversion) -> None:
        if isinstance(record, LeadEvent):
            topic, value = self.topics.events, self.codec.encode_event(record)
        elif isinstance(record, LeadProfile):
            topic, value = self.topics.profiles, self.codec.encode_profile(record)
        else:
            topic, value = self.topics.conversions, self.codec.encode_conversion(record)
        try:
            future = self._producer.send(topic, key=record.lead_id.encode(), value=value)
        except KafkaError as exc:
            hint = "does it exist? `leadscore topics create` makes it"
            raise ProduceError(f"cannot produce to {topic} ({hint}): {type(exc).__name__}: {exc}") from None
        future.add_errback(self._failed)

    def _failed(self, exc: BaseException) -> None:
        self._failure = self._failure or f"{type(exc).__name__}: {exc}"

    def flush(self, timeout_s: float = 60.0) -> None:
        try:
            self._producer.flush(timeout=timeout_s)
        except KafkaError as exc:
            raise BrokerError(f"could not deliver every record within {timeout_s:.0f} s: {exc}") from None
        if self._failure is not None:
            raise ProduceError(f"a record was not delivered: {self._failure}")

    def close(self, timeout_s: float = 5.0) -> None:
        self._producer.close(timeout=timeout_s)


def replay(
    producer: InputProducer,
    records: list[ReplayRecord],
    speed: float = 0.0,
    max_gap_ms: int = 1000,
    progress: Callable[[int], None] | None = None,
    sleep: Callable[[float], None] = time.sleep,
) -> ReplayCounts:
    """Send ``records`` in order, paced by ``speed``; flushes at the end. ``progress`` gets records sent so far."""
    counts = ReplayCounts()
    for sent, (record, delay) in enumerate(zip(records, wall_delays(records, speed, max_gap_ms), strict=True), 1):
        if delay:
            producer.flush()  # what is due now is on the broker before we wait for the next
            sleep(delay)
        _, kind, _, value = record
        producer.send(value)
        counts.events += kind == EVENT
        counts.profiles += kind == PROFILE
        counts.conversions += kind == CONVERSION
        if progress is not None and (sent % 500 == 0 or sent == len(records)):
            progress(sent)
    producer.flush()
    return counts
