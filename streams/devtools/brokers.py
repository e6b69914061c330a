"""Which broker a test run or a reliability scenario uses: Tansu (the default for now) or Apache Kafka.

``LEADSCORE_TEST_BROKER=tansu`` (default) starts the embedded Tansu broker (:mod:`streams.devtools.broker`), which
``make demo`` and ``leadscore broker`` always use, so that trying leadscore needs no Java; ``kafka`` starts Apache
Kafka's own broker (:mod:`streams.devtools.apache_kafka`, Java 17 and Maven: ``make kafka-tools``). Kafka becomes
the default once the suites pass on it (ADR 022 lists what does not yet).
"""

from __future__ import annotations

import os
from pathlib import Path

from streams.devtools.apache_kafka import ApacheKafkaBroker
from streams.devtools.broker import EmbeddedBroker
from streams.devtools.processes import BrokerProcess
from streams.errors import EmbeddedBrokerError

KINDS = ("kafka", "tansu")
DEFAULT = "tansu"  # Kafka once the suites pass on it (ADR 022)


#: What tests, scenarios and the benchmark need of a broker they start (both kinds share it).
Broker = BrokerProcess


def broker_kind() -> str:
    """``$LEADSCORE_TEST_BROKER``, checked: ``tansu`` unless set (ADR 022)."""
    kind = os.environ.get("LEADSCORE_TEST_BROKER", DEFAULT).strip().lower() or DEFAULT
    if kind not in KINDS:
        raise EmbeddedBrokerError(f"LEADSCORE_TEST_BROKER={kind!r}: expected one of {', '.join(KINDS)}")
    return kind


def new_broker(log_file: Path | None = None, kind: str | None = None) -> Broker:
    """A broker of ``kind`` (default: :func:`broker_kind`), not started yet."""
    if (kind or broker_kind()) == "tansu":
        return EmbeddedBroker(log_file=log_file)
    return ApacheKafkaBroker(log_file=log_file)
