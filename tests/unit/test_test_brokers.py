"""Choosing the broker of a test run, and the Apache Kafka launcher's configuration (no broker started here)."""

from __future__ import annotations

from pathlib import Path

import pytest

from streams.devtools import apache_kafka
from streams.devtools.apache_kafka import ApacheKafkaBroker, server_properties
from streams.devtools.broker import EmbeddedBroker
from streams.devtools.brokers import broker_kind, new_broker
from streams.devtools.secured_kafka import SecuredKafkaBroker, ServerTls
from streams.errors import EmbeddedBrokerError
from tests.certificates import make_certificates


def test_the_broker_is_apache_kafka_unless_the_setting_says_tansu(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("LEADSCORE_TEST_BROKER", raising=False)
    assert broker_kind() == "kafka" and isinstance(new_broker(), ApacheKafkaBroker)
    monkeypatch.setenv("LEADSCORE_TEST_BROKER", " Tansu ")
    assert broker_kind() == "tansu" and isinstance(new_broker(), EmbeddedBroker)
    assert isinstance(new_broker(kind="kafka"), ApacheKafkaBroker)


def test_an_unknown_broker_kind_is_one_line_naming_the_choices(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADSCORE_TEST_BROKER", "redpanda")
    with pytest.raises(
        EmbeddedBrokerError, match=r"^LEADSCORE_TEST_BROKER='redpanda': expected one of kafka, tansu, external$"
    ):
        broker_kind()


def test_server_properties_are_a_single_test_node_with_overrides(tmp_path: Path) -> None:
    text = server_properties(9092, 9093, tmp_path, {"log.segment.bytes": "65536", "num.partitions": "4"})
    values = dict(line.split("=", 1) for line in text.splitlines())
    assert values["process.roles"] == "broker,controller"
    assert values["listeners"] == "PLAINTEXT://127.0.0.1:9092,CONTROLLER://127.0.0.1:9093"
    assert values["group.initial.rebalance.delay.ms"] == "0"
    assert values["offsets.topic.replication.factor"] == values["transaction.state.log.replication.factor"] == "1"
    assert values["log.dirs"] == str(tmp_path)
    assert (values["log.segment.bytes"], values["num.partitions"]) == ("65536", "4")  # a test's own settings win


def test_missing_java_or_maven_is_one_line_naming_the_package(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LEADSCORE_KAFKA_CACHE", str(tmp_path))  # nothing cached: it must fetch, so it needs both
    monkeypatch.setattr(apache_kafka.shutil, "which", lambda command: None if command == "mvn" else "/usr/bin/java")
    with pytest.raises(EmbeddedBrokerError, match=r"`mvn` is not installed: .*apt-get install maven\)$"):
        apache_kafka.kafka_jars()


def test_the_secured_broker_offers_clients_sasl_ssl_only_and_settings_to_match(tmp_path: Path) -> None:
    certificates = make_certificates(tmp_path)
    tls = ServerTls(certificates.ca, certificates.server_cert, certificates.server_key)
    broker = SecuredKafkaBroker(tls, {"alice": "pw-alice", "bob": "pw-bob"}, log_file=tmp_path / "kafka.log")
    try:
        text = server_properties(broker.port, broker.controller_port, tmp_path, broker.extra_config)
        values = dict(line.split("=", 1) for line in text.splitlines())  # one line each: the PEM values too
        assert values["listeners"].startswith(f"SASL_SSL://127.0.0.1:{broker.port},INTERNAL://127.0.0.1:")
        assert values["listener.security.protocol.map"] == "SASL_SSL:SASL_SSL,INTERNAL:PLAINTEXT,CONTROLLER:PLAINTEXT"
        assert (
            values["inter.broker.listener.name"] == "INTERNAL" and values["sasl.enabled.mechanisms"] == "SCRAM-SHA-512"
        )
        assert values["ssl.keystore.key"].startswith("-----BEGIN PRIVATE KEY-----\\n")  # \n: a newline in .properties
        assert values["ssl.keystore.certificate.chain"].endswith("\\n-----END CERTIFICATE-----")
        assert broker._format_options() == [
            "--add-scram",
            "SCRAM-SHA-512=[name=alice,password=pw-alice]",
            "--add-scram",
            "SCRAM-SHA-512=[name=bob,password=pw-bob]",
        ]
        settings = broker.client_settings()
        assert (settings.bootstrap_servers, settings.security_protocol, settings.sasl_mechanism) == (
            broker.bootstrap,
            "SASL_SSL",
            "SCRAM-SHA-512",
        )
        assert (settings.sasl_username, settings.ssl_cafile) == ("alice", certificates.ca)
        assert settings.sasl_password is not None and settings.sasl_password.get_secret_value() == "pw-alice"
        assert (
            broker._redacted("format failed: name=alice,password=pw-alice]")
            == "format failed: name=alice,password=**********]"
        )
    finally:
        broker.stop()  # not started: removes the directory it made
    with pytest.raises(EmbeddedBrokerError, match="without , = \\[ \\] or"):
        SecuredKafkaBroker(tls, {"alice": "a,b"})


def test_an_existing_cluster_starts_nothing_and_needs_its_bootstrap(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("LEADSCORE_TEST_BROKER", "external")
    monkeypatch.delenv("LEADSCORE_TEST_BOOTSTRAP", raising=False)
    with pytest.raises(EmbeddedBrokerError, match=r"^LEADSCORE_TEST_BROKER=external needs LEADSCORE_TEST_BOOTSTRAP"):
        new_broker()
    monkeypatch.setenv("LEADSCORE_TEST_BOOTSTRAP", "kafka-1.internal:9094")
    with new_broker() as cluster:
        assert cluster.bootstrap == "kafka-1.internal:9094" and cluster.pid is None
