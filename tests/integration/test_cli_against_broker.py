"""The CLI's broker-facing commands, against the embedded broker, checked with plain kafka-python clients."""

from __future__ import annotations

from confluent_kafka.admin import AdminClient, ConfigResource
from typer.testing import CliRunner

from streams.cli.main import app
from tests.integration.conftest import read_topics


def test_topics_create_makes_every_topic_with_its_config_once(broker, monkeypatch):
    monkeypatch.setenv("LEADSCORE_TOPIC_PROFILES", "cli-lead-profiles")
    monkeypatch.setenv("LEADSCORE_TOPIC_EVENTS", "cli-lead-events")
    monkeypatch.setenv("LEADSCORE_PARTITIONS", "3")
    runner = CliRunner()
    first = runner.invoke(app, ["topics", "create", "-b", broker.bootstrap])
    assert first.exit_code == 0, first.output
    assert "created  cli-lead-events" in first.output and "created  cli-lead-profiles" in first.output
    again = runner.invoke(app, ["topics", "create", "-b", broker.bootstrap])
    assert again.exit_code == 0 and "exists   cli-lead-profiles" in again.output and "created" not in again.output

    # confluent-kafka (librdkafka) as an independent client: kafka-python 3 parses Tansu's DescribeConfigs as empty.
    admin = AdminClient({"bootstrap.servers": broker.bootstrap, "log_level": 3})
    metadata = admin.list_topics(timeout=10).topics
    assert len(metadata["cli-lead-events"].partitions) == 3
    configs = {}
    for name in ("cli-lead-profiles", "cli-lead-events"):
        [future] = admin.describe_configs([ConfigResource("topic", name)]).values()
        configs[name] = {key: entry.value for key, entry in future.result(timeout=10).items()}
    assert configs["cli-lead-profiles"]["cleanup.policy"] == "compact"
    assert configs["cli-lead-events"]["cleanup.policy"] == "delete"
    assert configs["cli-lead-events"]["retention.ms"] == str(7 * 24 * 3600 * 1000)


def test_generate_produces_avro_events_to_the_broker(broker, monkeypatch):
    monkeypatch.setenv("LEADSCORE_TOPIC_EVENTS", "cli-generated-events")
    result = CliRunner().invoke(
        app, ["generate", "--leads", "10", "--events", "60", "--seed", "9", "-b", broker.bootstrap]
    )
    assert result.exit_code == 0, result.output
    records = read_topics(broker.bootstrap, ["cli-generated-events"], lambda r: len(r) >= 60, timeout_s=30)
    assert len(records) == 60
    assert all(key == value["lead_id"].encode() for _, key, value in records)
    assert len({value["event_id"] for _, _, value in records}) == 60


def test_unreachable_broker_is_a_one_line_error():
    result = CliRunner().invoke(app, ["topics", "create", "-b", "127.0.0.1:1", "--timeout", "2"])
    assert result.exit_code == 2
    assert "error:" in result.output and "Traceback" not in result.output
