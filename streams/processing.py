"""What the events agent does with one message, as a plain object the agent calls: decode, check, score.

The agent keeps only the I/O (table read/write, sends); all decisions happen here, so they are testable without
a broker and the agent loop stays free of arithmetic.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

from scoring import LeadscoreError, LeadState, ScoringModel, check_event, score_lead
from scoring.events import KNOWN_EVENT_TYPES
from streams.codec import AvroCodec
from streams.errors import KeyMismatchError
from streams.metrics import Metrics


@dataclass(frozen=True)
class Message:
    """Where an input message came from, for dead letters."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None


@dataclass
class Result:
    """What to write and send for one input message. ``state`` is None when nothing is written."""

    lead_id: str | None = None
    state: dict[str, Any] | None = None
    changes: list[bytes] = field(default_factory=list)
    crossings: list[bytes] = field(default_factory=list)
    dead_letter: bytes | None = None


class EventProcessor:
    def __init__(self, models: Sequence[ScoringModel], codec: AvroCodec, metrics: Metrics) -> None:
        self.models = tuple(models)
        self.codec = codec
        self.metrics = metrics
        self.known_types = KNOWN_EVENT_TYPES.union(*(model.event_types for model in self.models))

    def process(self, message: Message, load_state: Callable[[str], dict[str, Any] | None]) -> Result:
        """Score one ``lead-events`` message; bad input comes back as a dead letter, never as an exception."""
        self.metrics.events_consumed.labels(message.topic).inc()
        try:
            event = self.codec.decode_event(message.value)
            check_event(event, self.known_types)
            if message.key != event.lead_id.encode():
                raise KeyMismatchError(f"message key {message.key!r:.80} is not the lead_id {event.lead_id!r:.80}")
            stored = load_state(event.lead_id)
            state = LeadState.from_dict(stored) if stored is not None else None
            new_state, outcomes = score_lead(self.models, state, event)
        except LeadscoreError as exc:
            return Result(dead_letter=self.dead_letter(message, exc))
        result = Result(lead_id=event.lead_id, state=new_state.to_dict())
        for outcome in outcomes:
            if outcome.change is not None:
                result.changes.append(self.codec.encode_change(outcome.change))
                self.metrics.score_changes.labels(outcome.change.model_id).inc()
            for crossing in outcome.crossings:
                result.crossings.append(self.codec.encode_crossing(crossing))
                self.metrics.crossings.labels(crossing.model_id, crossing.level, crossing.direction.value).inc()
        return result

    def dead_letter(self, message: Message, error: Exception) -> bytes:
        error_type = type(error).__name__
        self.metrics.dead_letters.labels(message.topic, error_type).inc()
        return self.codec.encode(
            "DeadLetter",
            {
                "topic": message.topic,
                "partition": message.partition,
                "offset": message.offset,
                "key": message.key,
                "value": message.value,
                "reason": str(error)[:1000],
                "error_type": error_type,
                "failed_at": int(time.time() * 1000),  # wall time: when the worker rejected it, not scoring
            },
        )
