"""Which broker a test run, a reliability scenario or the benchmark uses: Apache Kafka (the default) or Tansu.

``LEADSCORE_TEST_BROKER=kafka`` (default) starts Apache Kafka's own broker (:mod:`streams.devtools.apache_kafka`,
Java 17 and Maven: ``make kafka-tools``, which ``make test`` runs); ``tansu`` starts the embedded Tansu broker
(:mod:`streams.devtools.broker`), which ``make demo`` and ``leadscore broker`` always use, so that trying
leadscore needs no Java (ADR 022); ``external`` starts nothing and runs on an existing cluster:
``LEADSCORE_TEST_BOOTSTRAP``, with the worker's own ``LEADSCORE_*`` security settings from the environment (tests
that stop or restart the broker itself skip there).
"""

from __future__ import annotations

import os
from pathlib import Path

from streams.devtools.apache_kafka import ApacheKafkaBroker
from streams.devtools.broker import EmbeddedBroker
from streams.devtools.processes import BrokerProcess
from streams.errors import EmbeddedBrokerError

KINDS = ("kafka", "tansu", "external")
DEFAULT = "kafka"  # ADR 022: what platform teams run; Tansu stays the demo's broker


#: What tests, scenarios and the benchmark need of a broker they start (both kinds share it).
Broker = BrokerProcess


def broker_kind() -> str:
    """``$LEADSCORE_TEST_BROKER``, checked: ``kafka`` unless set (ADR 022)."""
    kind = os.environ.get("LEADSCORE_TEST_BROKER", DEFAULT).strip().lower() or DEFAULT
    if kind not in KINDS:
        raise EmbeddedBrokerError(f"LEADSCORE_TEST_BROKER={kind!r}: expected one of {', '.join(KINDS)}")
    return kind


class ExternalCluster(BrokerProcess):
    """An existing cluster the suites run on (``LEADSCORE_TEST_BROKER=external``): nothing to start or stop, no
    process id. Every test uses topics and a group of its own (a fresh ``app_id``), so a shared cluster is safe;
    the security settings (``LEADSCORE_SECURITY_PROTOCOL`` and the rest) come from the environment as for a worker."""

    def __init__(self, bootstrap: str, log_file: Path | None = None) -> None:
        super().__init__(port=int(bootstrap.rsplit(":", 1)[-1]) if ":" in bootstrap else 9092, log_file=log_file)
        self._bootstrap = bootstrap

    @property
    def bootstrap(self) -> str:
        return self._bootstrap

    def start(self, timeout_s: float = 30.0) -> ExternalCluster:
        return self

    def stop(self) -> None:
        return None


def new_broker(log_file: Path | None = None, kind: str | None = None) -> Broker:
    """A broker of ``kind`` (default: :func:`broker_kind`), not started yet."""
    chosen = kind or broker_kind()
    if chosen == "tansu":
        return EmbeddedBroker(log_file=log_file)
    if chosen == "external":
        bootstrap = os.environ.get("LEADSCORE_TEST_BOOTSTRAP", "").strip()
        if not bootstrap:
            raise EmbeddedBrokerError("LEADSCORE_TEST_BROKER=external needs LEADSCORE_TEST_BOOTSTRAP=host:port")
        return ExternalCluster(bootstrap, log_file=log_file)
    return ApacheKafkaBroker(log_file=log_file)
