"""What the engine emits: score changes, threshold crossings, snapshots, and the ids that make them idempotent."""

from __future__ import annotations

import hashlib
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from enum import StrEnum

from scoring.modelstate import Scores
from scoring.state import LeadState

#: Namespace of every id leadscore derives (uuid5), fixed forever so ids stay stable across versions.
ID_NAMESPACE = uuid.UUID("6f1d3c1e-8a4b-5d2e-9c7f-1a2b3c4d5e6f")


class Direction(StrEnum):
    UP = "UP"
    DOWN = "DOWN"


class Cause(StrEnum):
    EVENT = "EVENT"
    DECAY = "DECAY"
    PROFILE = "PROFILE"


@dataclass(frozen=True, slots=True)
class Contribution:
    """One rule's part in a change: ``points`` it added (or took) now, and its whole decayed ``value_now``."""

    rule_id: str
    points: float
    value_now: float


@dataclass(frozen=True, slots=True)
class ScoreChange:
    change_id: str
    lead_id: str
    model_id: str
    model_version: int
    previous_score: float
    score: float
    engagement: float
    fit: float
    grade: str
    level: str | None
    cause: Cause
    cause_event_id: str | None
    occurred_at_ms: int
    contributions: tuple[Contribution, ...]

    @property
    def delta(self) -> float:
        return self.score - self.previous_score


@dataclass(frozen=True, slots=True)
class ThresholdCrossing:
    crossing_id: str
    lead_id: str
    model_id: str
    model_version: int
    level: str
    direction: Direction
    threshold: float
    score: float
    cause: Cause
    cause_event_id: str | None
    occurred_at_ms: int


@dataclass(frozen=True, slots=True)
class ModelSnapshot:
    model_id: str
    model_version: int
    applies: bool
    score: float
    engagement: float
    fit: float
    grade: str
    levels: tuple[str, ...]
    top_contributors: tuple[tuple[str, float], ...]
    trend: TrendReading | None = None  # None: the model has no trend
    #: per level held: when time alone takes the lead out of it if nothing else happens (None: never)
    drops: tuple[tuple[str, int | None], ...] = ()


@dataclass(frozen=True, slots=True)
class Ignored:
    """An event a model's filters ignore (ADR 036); ``reason``: ``scanner_click``, ``burst`` or ``user_agent``.
    Reported once, by the update that disqualified it: its own, or that of a later event (a send that arrived
    after the click, the event that made a burst) which took back what it had counted."""

    model_id: str
    event_id: str
    reason: str


_NAMESPACE_BYTES = ID_NAMESPACE.bytes


def derived_id(*parts: object) -> str:
    """A stable UUID (v5) for an output, from the parts that identify its cause: ``uuid.uuid5(ID_NAMESPACE,
    "|".join(parts))``, computed without the UUID object (an output id per score change is on the hot path)."""
    digest = hashlib.sha1(_NAMESPACE_BYTES + "|".join([str(part) for part in parts]).encode()).digest()
    uuid_bytes = bytearray(digest[:16])
    uuid_bytes[6] = (uuid_bytes[6] & 0x0F) | 0x50  # version 5
    uuid_bytes[8] = (uuid_bytes[8] & 0x3F) | 0x80  # RFC 4122 variant
    h = uuid_bytes.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def event_digest(event_id: str) -> str:
    """A short, stable digest of an event id (48 bits), for recognising re-deliveries."""
    return hashlib.blake2b(event_id.encode(), digest_size=6).hexdigest()


@dataclass(frozen=True, slots=True)
class Update:
    """The lead's new state and what to emit. ``duplicate``: the event was applied before; nothing changed."""

    state: LeadState
    changes: tuple[ScoreChange, ...] = ()
    crossings: tuple[ThresholdCrossing, ...] = ()
    duplicate: bool = False
    #: per model the input scored: the time it was scored at and its scores then, for :meth:`Engine.next_due` and
    #: :meth:`Engine.snapshot` to reuse instead of computing them again
    scores: Mapping[str, tuple[int, Scores]] = field(default_factory=dict)
    #: events the models' filters ignore, this one or earlier ones this update took back (ADR 036)
    ignored: tuple[Ignored, ...] = ()


@dataclass(frozen=True, slots=True)
class TrendReading:
    """A lead's engagement trend under one model at one time (ADR 037): the points it gained in the trend's window
    ending then (``recent``), its average gain per window over the baseline before that, and the surging flag."""

    recent: float
    baseline: float
    surging: bool
