"""Reading what the workers say now: the latest LeadScore per lead of a compacted scores topic (live or shadow),
WON conversions, and writing keyed records back (for ``leadscore models rescore`` and ``models compare``)."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable
from dataclasses import dataclass, field

from kafka import KafkaProducer
from kafka.errors import KafkaError

from scoring import LeadscoreError
from scoring.conversions import Outcome
from scoring.evaluation.comparison import ScorePoint
from streams.analysis.client_types import SendFuture, SyncProducer
from streams.analysis.history import Progress, read_topics
from streams.analysis.jsontypes import JsonRecord
from streams.errors import BrokerError
from streams.kafka.access import check_access
from streams.kafka.codec import AvroCodec
from streams.kafka.security import kafka_python_config
from streams.settings import Settings


@dataclass
class ModelScores:
    """One model's latest score per lead, and the model versions seen (a topic mid-rollout has two)."""

    points: dict[str, ScorePoint] = field(default_factory=dict)
    versions: set[int] = field(default_factory=set)


@dataclass
class LatestScores:
    """The latest LeadScore of each lead on a topic, per model. ``erased``: leads whose latest record is a
    tombstone (erased on request: never score or publish them again). ``skipped``: records that did not decode."""

    models: dict[str, ModelScores] = field(default_factory=dict)
    erased: set[str] = field(default_factory=set)
    skipped: list[str] = field(default_factory=list)

    def of(self, model_id: str) -> dict[str, ScorePoint]:
        return self.models[model_id].points if model_id in self.models else {}


def latest_scores(settings: Settings, topic: str, codec: AvroCodec, progress: Progress | None = None) -> LatestScores:
    """Read ``topic`` (LeadScore records keyed by lead id) from the start to its end offsets; keep each lead's
    latest record. Records of one key share a partition, so offset order is the order they were written."""
    raw = asyncio.run(read_topics(settings, [topic], progress))
    latest: dict[str, JsonRecord | None] = {}
    result = LatestScores()
    for _topic, partition, offset, key, value in raw:
        if value is None:
            if key is not None:
                latest[key.decode("utf-8", "replace")] = None
            continue
        try:
            _, record = codec.decode(value, "LeadScore")
        except LeadscoreError as exc:
            result.skipped.append(f"{topic}:{partition}@{offset}: {exc}")
            continue
        latest[str(record["lead_id"])] = record
    for lead_id, latest_record in latest.items():
        if latest_record is None:
            result.erased.add(lead_id)
            continue
        for model in latest_record["models"]:
            scores = result.models.setdefault(str(model["model_id"]), ModelScores())
            scores.points[lead_id] = ScorePoint(float(model["score"]), tuple(model["levels"]))
            scores.versions.add(int(model["model_version"]))
    return result


def erased_leads(settings: Settings, codec: AvroCodec) -> set[str]:
    """Every lead with an ErasureCompleted receipt (kept forever, unlike the scores topic's tombstones, which
    compaction removes after ``delete.retention.ms``): rescoring must never bring them back."""
    erased: set[str] = set()
    for *_, value in asyncio.run(read_topics(settings, [settings.topics.erasures_completed])):
        try:
            erased.add(str(codec.decode(value, "ErasureCompleted")[1]["lead_id"]))
        except LeadscoreError:
            continue
    return erased


def won_conversions(settings: Settings, codec: AvroCodec, progress: Progress | None = None) -> dict[str, int]:
    """Each lead's latest WON conversion time (ms) on the conversions topic; undecodable records are ignored."""
    won: dict[str, int] = {}
    for *_, value in asyncio.run(read_topics(settings, [settings.topics.conversions], progress)):
        try:
            conversion = codec.decode_conversion(value)
        except LeadscoreError:
            continue
        if conversion.outcome is Outcome.WON:
            won[conversion.lead_id] = max(conversion.occurred_at_ms, won.get(conversion.lead_id, 0))
    return won


def produce(settings: Settings, topic: str, records: Iterable[tuple[str, bytes]], timeout_s: float = 60.0) -> int:
    """Send ``(lead id, value)`` records keyed by lead id (the worker's partitioning: murmur2 of the key) and wait
    until every one is acknowledged by all in-sync replicas. Returns how many were sent."""
    check_access(settings)
    try:
        producer: SyncProducer = KafkaProducer(
            bootstrap_servers=settings.bootstrap_servers, acks="all", linger_ms=20, **kafka_python_config(settings)
        )
    except KafkaError as exc:
        raise BrokerError(f"cannot reach {settings.bootstrap_servers}: {exc}") from None
    sent = 0
    try:
        futures: list[SendFuture] = []
        for lead_id, value in records:
            futures.append(producer.send(topic, key=lead_id.encode(), value=value))
            sent += 1
        producer.flush(timeout=timeout_s)
        for future in futures:
            future.get(timeout=timeout_s)  # raises if a record was not delivered
    except KafkaError as exc:
        raise BrokerError(f"writing to {topic} on {settings.bootstrap_servers} failed: {exc}") from None
    finally:
        producer.close(timeout=5)
    return sent
