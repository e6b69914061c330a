"""What :func:`streams.worker.app.create_app` builds and hands to the worker, the CLI and the tests."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import faust

from scoring import ScoringModel
from streams.kafka.codec import AvroCodec
from streams.kafka.topics import Routes
from streams.settings import Settings
from streams.worker.batch import BatchScorer
from streams.worker.metrics import Metrics
from streams.worker.ticks import DueIndex


@dataclass
class Leadscore:
    """The app and the parts tests and the CLI reach for."""

    app: faust.App
    settings: Settings
    models: tuple[ScoringModel, ...]
    metrics: Metrics
    codec: AvroCodec
    table: Any
    score_events: Any  # the events agent (None when the fast path scores lead-events: settings.batch_max > 0)
    apply_profiles: Any  # the profiles agent
    erase_leads: Any  # the erasures agent
    decay_ticks: Any  # the decay-ticks agent
    due_index: DueIndex
    outputs: OutputTopics
    batch_scorer: BatchScorer | None = None  # the fast path (ADR 013), when settings.batch_max > 0
    join_conversions: Any = None  # the conversions agent (None in shadow mode)


@dataclass
class OutputTopics:
    """The Faust topics outputs go to; None: not sent (see :class:`streams.kafka.topics.Routes`)."""

    score_changes: Any
    thresholds: Any
    dead_letters: Any
    scores: Any
    erasures_completed: Any
    conversion_scores: Any
    model_deployments: Any

    @classmethod
    def of(cls, app: faust.App, routes: Routes, model_deployments: str) -> OutputTopics:
        def topic(name: str | None) -> Any:
            return None if name is None else app.topic(name, key_type=bytes, value_type=bytes)

        return cls(
            topic(routes.score_changes),
            topic(routes.thresholds),
            topic(routes.dead_letters),
            topic(routes.scores),
            topic(routes.erasures_completed),
            topic(routes.conversion_scores),
            topic(model_deployments),
        )
