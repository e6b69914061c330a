"""Shared fixtures: the example model, a codec, and event factories (now in streams.devtools.testing)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from scoring import ScoringModel, example_model_path, load_model
from streams.devtools.broker import EmbeddedBroker
from streams.devtools.testing import T0, make_event
from streams.kafka.codec import AvroCodec
from streams.kafka.registry import LocalSchemaRegistry

__all__ = ["DAY", "SIMPLE_MODEL", "T0", "make_event"]  # make_event and T0 live in streams.devtools.testing now

DAY = 86_400_000
SIMPLE_MODEL = Path(__file__).parent / "fixtures" / "simple.yaml"


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
