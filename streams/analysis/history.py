"""Reading leadscore's input topics back from the beginning, as a history (``evaluate``, ``fit``, ``rescore``).

Each partition is read from its first offset to its end offset as of the start of the read (exact even on a broker
that reports a wrong high watermark: see :func:`streams.kafka.endoffsets.exact_end_offsets`), so records produced while
the read runs are not waited for. Records that do not decode or check are skipped and listed, never fatal.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from pathlib import Path

from aiokafka import TopicPartition

from scoring import LeadEvent, LeadProfile, LeadscoreError, check_event, check_profile
from scoring.conversions import Conversion, check_conversion
from streams.analysis.client_types import AsyncConsumer, Partition
from streams.errors import BrokerError
from streams.kafka.access import verify_access
from streams.kafka.codec import AvroCodec
from streams.kafka.endoffsets import exact_end_offsets, read_committed_consumer
from streams.kafka.topics import schema_registry
from streams.settings import Settings

#: The files of a history directory (``leadscore data olist|bank --out DIR`` writes them, ``data replay`` reads them).
EVENTS_FILE = "events.jsonl"
PROFILES_FILE = "profiles.jsonl"
CONVERSIONS_FILE = "conversions.jsonl"

RawRecord = tuple[str, int, int, bytes | None, bytes | None]  # topic, partition, offset, key, value
Progress = Callable[[int, int], None]  # (records read so far, records in all)


@dataclass
class History:
    """Decoded inputs, each list in event-time order, and what was skipped (``topic:partition@offset: reason``)."""

    events: list[LeadEvent] = field(default_factory=list)
    profiles: list[LeadProfile] = field(default_factory=list)
    conversions: list[Conversion] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)

    def sort(self) -> None:
        """Each list in event-time order, ties by id: the order every replay of a history uses."""
        self.events.sort(key=lambda e: (e.occurred_at_ms, e.event_id))
        self.profiles.sort(key=lambda p: (p.updated_at_ms, p.lead_id))
        self.conversions.sort(key=lambda c: (c.occurred_at_ms, c.conversion_id))


async def read_topics(settings: Settings, topics: Iterable[str], progress: Progress | None = None) -> list[RawRecord]:
    """Every record of ``topics`` from the beginning to the end offsets seen when the read starts."""
    await verify_access(settings)
    # as the worker reads (ADR 024): no aborted upstream transaction
    consumer: AsyncConsumer = read_committed_consumer(settings, max_partition_fetch_bytes=8 << 20)
    try:
        await consumer.start()
    except Exception as exc:  # aiokafka raises KafkaConnectionError and friends
        raise BrokerError(f"cannot reach {settings.bootstrap_servers}: {exc}") from None
    records: list[RawRecord] = []
    try:
        partitions: list[Partition] = [
            TopicPartition(topic, partition)
            for topic in topics
            for partition in sorted(consumer.partitions_for_topic(topic) or await _partitions(consumer, topic))
        ]
        if not partitions:
            return records
        consumer.assign(partitions)
        starts = await consumer.beginning_offsets(partitions)
        ends = await exact_end_offsets(settings, await consumer.end_offsets(partitions))
        total = sum(max(0, ends[tp] - starts[tp]) for tp in partitions)
        waiting = {tp for tp in partitions if ends[tp] > starts[tp]}
        for tp in partitions:
            consumer.seek(tp, starts[tp])
        while waiting:
            batches = await consumer.getmany(*waiting, timeout_ms=1000, max_records=50_000)
            for tp, batch in batches.items():
                for record in batch:
                    if record.offset < ends[tp]:
                        records.append((tp.topic, tp.partition, record.offset, record.key, record.value))
                if batch and batch[-1].offset + 1 >= ends[tp]:
                    waiting.discard(tp)
            if progress is not None:
                progress(len(records), total)
    finally:
        await consumer.stop()
    return records


async def _partitions(consumer: AsyncConsumer, topic: str) -> set[int]:
    await consumer._client.force_metadata_update()  # aiokafka has no public "refresh metadata" call
    return consumer.partitions_for_topic(topic) or set()


def decode_history(records: Iterable[RawRecord], codec: AvroCodec, settings: Settings) -> History:
    """Sort raw records into events, profiles and conversions by their topic; bad ones are listed as skipped."""
    names = settings.topics
    history = History()
    for topic, partition, offset, _key, value in records:
        try:
            if topic == names.events:
                event = codec.decode_event(value)
                check_event(event, _ANY_TYPE)
                history.events.append(event)
            elif topic == names.profiles:
                if value is None:
                    continue  # a tombstone of the compacted profiles topic
                profile = codec.decode_profile(value)
                check_profile(profile)
                history.profiles.append(profile)
            elif topic == names.conversions:
                conversion = codec.decode_conversion(value)
                check_conversion(conversion)
                history.conversions.append(conversion)
        except LeadscoreError as exc:
            history.skipped.append(f"{topic}:{partition}@{offset}: {exc}")
    history.sort()
    return history


class _AnyType(frozenset[str]):
    """Every event type: a history keeps events no model scores yet (a new model may)."""

    def __contains__(self, item: object) -> bool:
        return True


_ANY_TYPE = _AnyType()


def read_history(settings: Settings, progress: Progress | None = None, conversions: bool = True) -> History:
    """Events, profiles and (unless ``conversions`` is False) conversions from the input topics in ``settings``."""
    names = settings.topics
    topics = [names.events, names.profiles, *([names.conversions] if conversions else [])]
    records = asyncio.run(read_topics(settings, topics, progress))
    return decode_history(records, AvroCodec(schema_registry(settings)), settings)


def history_from_files(
    events: Path | None, profiles: Path | None = None, conversions: Path | None = None, skip_invalid: bool = False
) -> History:
    """The same history from JSON-lines files (paths or None), as ``leadscore score`` reads them."""
    from streams.analysis.offline import (
        OfflineRun,
        conversion_from_json,
        event_from_json,
        profile_from_json,
        read_jsonl,
    )

    run = OfflineRun()
    history = History()
    if events is not None:
        history.events = list(read_jsonl(events, event_from_json, run, skip_invalid))
    if profiles is not None:
        history.profiles = list(read_jsonl(profiles, profile_from_json, run, skip_invalid))
    if conversions is not None:
        history.conversions = list(read_jsonl(conversions, conversion_from_json, run, skip_invalid))
    history.skipped = run.skipped
    history.sort()
    return history
