"""Shared fixtures: the example model, a codec, and event factories."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from pathlib import Path

import pytest

from scoring import LeadEvent, ScoringModel, example_model_path, load_model
from streams.devtools.broker import EmbeddedBroker
from streams.kafka.codec import AvroCodec
from streams.kafka.registry import LocalSchemaRegistry

T0 = 1_767_603_600_000  # 2026-01-05T09:00:00Z
DAY = 86_400_000
SIMPLE_MODEL = Path(__file__).parent / "fixtures" / "simple.yaml"
_counter = itertools.count()


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[EmbeddedBroker]:
    """One embedded Tansu broker for the whole session (integration, ops and reliability tests), started only when
    a test asks for it."""
    with EmbeddedBroker(log_file=tmp_path_factory.mktemp("broker") / "tansu.log") as running:
        yield running


@pytest.fixture(scope="session")
def b2b_model() -> ScoringModel:
    """The shipped example B2B model (decay, caps, fit, hysteresis)."""
    return load_model(example_model_path("b2b"))


@pytest.fixture(scope="session")
def simple_model() -> ScoringModel:
    """Points per event type, no decay: exact scores by hand."""
    return load_model(SIMPLE_MODEL)


@pytest.fixture(scope="session")
def codec() -> AvroCodec:
    return AvroCodec(LocalSchemaRegistry())


def make_event(lead_id: str, type_: str, at_ms: int = T0, event_id: str | None = None, **props: str) -> LeadEvent:
    return LeadEvent(
        event_id=event_id or f"e-{next(_counter)}",
        lead_id=lead_id,
        type=type_,
        occurred_at_ms=at_ms,
        source="test",
        properties=props,
    )
