"""The oracle: the pure engine applied to the exact input log, compared with what the workers wrote.

The input log is read back from the broker (every partition, in offset order), so retries and duplicates of the
producer are part of it. Each record is classified independently of the worker (reference Avro decoder plus the
domain's ``check_event``); valid events are folded per lead with ``scoring.Engine`` in log order, as a worker does,
and every change, crossing and latest ``lead-scores`` record is derived from that. Decay-driven crossings are added
by advancing each lead to its partition's clock (the latest event time on the partition), as the decay ticks do.
"""

from __future__ import annotations

import io
import math
import struct
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

import avro.io
from kafka import KafkaConsumer, TopicPartition

from scoring import Engine, LeadscoreError, LeadState, Update, check_event
from streams.kafka.codec import AvroCodec, event_from_record, to_millis
from streams.kafka.partitioner import lead_partition
from tests.avro_reference import _schema

LEAD_EVENT_ID = 1

Record = tuple[int, int, bytes | None, bytes | None]  # partition, offset, key, value


def read_log(bootstrap: str, topic: str, partitions: int, at_least: int, timeout_s: float = 120.0) -> list[Record]:
    """Every record of ``topic`` from the start, until ``at_least`` were read and two polls in a row bring nothing
    (Tansu's high watermark is wrong, so end offsets cannot say when the log is complete)."""
    consumer = KafkaConsumer(
        bootstrap_servers=bootstrap, group_id=None, enable_auto_commit=False, max_partition_fetch_bytes=8 << 20
    )
    consumer.assign([TopicPartition(topic, p) for p in range(partitions)])
    consumer.seek_to_beginning()
    records: list[Record] = []
    quiet = 0
    deadline = time.monotonic() + timeout_s
    try:
        while time.monotonic() < deadline and (len(records) < at_least or quiet < 2):
            polled = consumer.poll(timeout_ms=500, max_records=50_000)
            quiet = 0 if polled else quiet + 1
            for tp, batch in polled.items():
                records.extend((tp.partition, r.offset, r.key, r.value) for r in batch)
    finally:
        consumer.close()
    records.sort(key=lambda r: (r[0], r[1]))
    return records


def classify(engine: Engine, key: bytes | None, value: bytes | None) -> Any:
    """The event a record holds, or None when it cannot be scored. Independent of the worker's codec: the Apache
    reference decoder, and the body must be consumed exactly."""
    try:
        if value is None or len(value) < 5:
            return None
        magic, schema_id = struct.unpack(">bI", value[:5])
        if magic != 0 or schema_id != LEAD_EVENT_ID:
            return None
        body = io.BytesIO(value[5:])
        record = avro.io.DatumReader(_schema(schema_id)).read(avro.io.BinaryDecoder(body))
        if body.tell() != len(value) - 5:
            return None  # trailing bytes
        event = event_from_record(record)
        check_event(event, engine.known_event_types)
        if key != event.lead_id.encode():
            return None  # would be rerouted; the reliability inputs are always keyed by lead id
        return event
    except (AssertionError, LeadscoreError, KeyError, ValueError, TypeError, EOFError, UnicodeDecodeError):
        return None
    except Exception:  # the reference decoder raises many kinds on corrupt input
        return None


@dataclass
class Expected:
    changes: dict[str, dict[str, Any]] = field(default_factory=dict)  # change_id -> essentials
    crossings: dict[str, dict[str, Any]] = field(default_factory=dict)
    scores: dict[str, dict[str, Any]] = field(default_factory=dict)  # lead -> latest LeadScore record
    invalid: set[tuple[int, int]] = field(default_factory=set)  # (partition, offset) of unscorable inputs
    events: int = 0  # valid input records (duplicates included)


def _essentials(output: Any) -> dict[str, Any]:
    keep = ("lead_id", "model_id", "cause_event_id", "occurred_at_ms", "score", "level", "direction")
    return {name: getattr(output, name) for name in keep if hasattr(output, name)}


def expected_outputs(engine: Engine, log: Iterable[Record], partitions: int, decay: bool) -> Expected:
    """``decay``: the workers ran decay ticks, so add the crossings time alone makes up to each partition's clock."""
    expected = Expected()
    states: dict[str, LeadState] = {}
    clocks: dict[int, int] = {}

    def record(update: Update) -> None:
        for change in update.changes:
            expected.changes[change.change_id] = _essentials(change)
        for crossing in update.crossings:
            expected.crossings[crossing.crossing_id] = _essentials(crossing)
        if update.changes or update.crossings:
            at_ms = max((m.levels_at_ms for m in update.state.models.values()), default=0)
            models = [
                {"model_id": s.model_id, "score": s.score, "levels": list(s.levels), "grade": s.grade}
                for s in engine.snapshot(update.state, at_ms, top=0)
                if s.applies
            ]
            expected.scores[update.state.lead_id] = {"updated_at": at_ms, "models": models}

    for partition, offset, key, value in log:
        event = classify(engine, key, value)
        if event is None:
            expected.invalid.add((partition, offset))
            continue
        expected.events += 1
        clocks[partition] = max(clocks.get(partition, 0), event.occurred_at_ms)
        update = engine.apply_event(states.get(event.lead_id), event)
        states[event.lead_id] = update.state
        record(update)
    for lead_id, state in states.items() if decay else ():
        update = engine.advance(state, clocks[lead_partition(lead_id, partitions)])
        states[lead_id] = update.state
        record(update)
    return expected


@dataclass
class Observed:
    """What the workers wrote, accumulated by an :class:`OutputReader`."""

    changes: dict[str, dict[str, Any]] = field(default_factory=dict)
    crossings: dict[str, dict[str, Any]] = field(default_factory=dict)
    scores: dict[str, dict[str, Any]] = field(default_factory=dict)
    dead_letters: dict[tuple[int, int], str] = field(default_factory=dict)  # (partition, offset) -> reason
    change_records: int = 0
    crossing_records: int = 0
    conflicting: int = 0  # records sharing an id with different content (must be 0)


class OutputReader:
    """Keeps one consumer on the output topics and folds what arrives into an :class:`Observed`."""

    def __init__(self, bootstrap: str, topics: Any, codec: AvroCodec, isolation: str = "read_uncommitted") -> None:
        self.names = topics
        self.codec = codec
        self.observed = Observed()
        wanted = [topics.score_changes, topics.thresholds, topics.scores, topics.dead_letters]
        self.consumer = KafkaConsumer(
            *wanted, bootstrap_servers=bootstrap, group_id=None, auto_offset_reset="earliest", isolation_level=isolation
        )

    def poll(self, seconds: float = 1.0) -> None:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for tp, batch in self.consumer.poll(timeout_ms=200, max_records=50_000).items():
                for r in batch:
                    self._fold(tp.topic, r.value)

    def _fold(self, topic: str, value: bytes | None) -> None:
        seen = self.observed
        if value is None:
            return
        _, rec = self.codec.decode(value)
        if topic == self.names.score_changes:
            seen.change_records += 1
            self._keep(seen.changes, rec["change_id"], _wire_essentials(rec))
        elif topic == self.names.thresholds:
            seen.crossing_records += 1
            self._keep(seen.crossings, rec["crossing_id"], _wire_essentials(rec))
        elif topic == self.names.scores:
            models = [
                {"model_id": m["model_id"], "score": m["score"], "levels": m["levels"], "grade": m["grade"]}
                for m in rec["models"]
            ]
            seen.scores[rec["lead_id"]] = {"updated_at": to_millis(rec["updated_at"]), "models": models}
        else:
            seen.dead_letters[(rec["partition"], rec["offset"])] = rec["reason"]

    def _keep(self, outputs: dict[str, dict[str, Any]], output_id: str, essentials: dict[str, Any]) -> None:
        if outputs.setdefault(output_id, essentials) != essentials:
            self.observed.conflicting += 1

    def close(self) -> None:
        self.consumer.close()


def _wire_essentials(rec: dict[str, Any]) -> dict[str, Any]:
    out = {"lead_id": rec["lead_id"], "model_id": rec["model_id"], "cause_event_id": rec["cause_event_id"]}
    out["occurred_at_ms"] = to_millis(rec["occurred_at"])
    out["score"] = rec["score"]
    if "direction" in rec:
        out["level"], out["direction"] = rec["level"], rec["direction"]
    else:
        out["level"] = rec["level"]
    return out


def _same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def compare(expected: Expected, observed: Observed) -> dict[str, Any]:
    """Figures of one run; every one but ``duplicate_outputs`` must be 0 for an exact run."""
    missing = (expected.changes.keys() - observed.changes.keys()) | (
        expected.crossings.keys() - observed.crossings.keys()
    )
    unexpected = (observed.changes.keys() - expected.changes.keys()) | (
        observed.crossings.keys() - expected.crossings.keys()
    )
    wrong_content = sum(
        not _same({k: str(v) if k == "direction" else v for k, v in want.items()}, observed_map[i])
        for wanted_map, observed_map in ((expected.changes, observed.changes), (expected.crossings, observed.crossings))
        for i, want in wanted_map.items()
        if i in observed_map
    )
    wrong_state = sorted(
        lead
        for lead in expected.scores.keys() | observed.scores.keys()
        if not _same(expected.scores.get(lead), observed.scores.get(lead))
    )
    return {
        "lost": len(missing),
        "double_counted": len(unexpected) + len(wrong_state),
        "wrong_output_content": wrong_content + observed.conflicting,
        "leads_with_wrong_final_state": len(wrong_state),
        "wrong_state_examples": [
            {"lead": lead, "expected": expected.scores.get(lead), "observed": observed.scores.get(lead)}
            for lead in wrong_state[:3]
        ],
        "unexpected_examples": [observed.changes.get(i) or observed.crossings.get(i) for i in sorted(unexpected)[:5]],
        "duplicate_outputs": observed.change_records
        - len(observed.changes)
        + observed.crossing_records
        - len(observed.crossings),
        "expected_changes": len(expected.changes),
        "expected_crossings": len(expected.crossings),
        "leads": len(expected.scores),
    }


def exact(figures: dict[str, Any]) -> bool:
    return figures["lost"] == 0 and figures["double_counted"] == 0 and figures["wrong_output_content"] == 0
