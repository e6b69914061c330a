"""Apache Kafka's own broker for the tests (streams.devtools.apache_kafka): it starts on a free port, answers a
real client, and leaves no process and no directory behind."""

from __future__ import annotations

import subprocess

from kafka import KafkaAdminClient

from streams.devtools.apache_kafka import ApacheKafkaBroker


def test_apache_kafka_starts_answers_and_leaves_nothing_behind(tmp_path) -> None:
    with ApacheKafkaBroker(log_file=tmp_path / "kafka.log") as broker:
        settings = broker.settings("kafka-launcher-test", tmp_path / "state")
        admin = KafkaAdminClient(bootstrap_servers=broker.bootstrap)
        try:
            assert settings.topics.events in admin.list_topics()  # the worker's topics, created through Kafka
        finally:
            admin.close()
        pid, log_dir = broker.pid, broker.log_dir
        assert pid is not None and log_dir.exists()
    assert not log_dir.exists()
    assert subprocess.run(["ps", "-p", str(pid)], capture_output=True).returncode != 0  # no such process
