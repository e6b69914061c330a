"""``leadscore data replay`` against the real embedded broker: what goes in comes back from the input topics."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from streams.analysis.history import history_from_files, read_history
from streams.cli.main import app
from streams.devtools.brokers import Broker
from streams.kafka.topics import create_topics
from tests.integration.conftest import new_settings

BANK_EXCERPT = Path(__file__).parent.parent / "fixtures" / "bank-additional-excerpt.csv.gz"
runner = CliRunner()


def test_replay_of_a_directory_reads_back_as_the_same_history(broker: Broker, tmp_path: Path) -> None:
    settings = new_settings(broker, tmp_path / "state")
    create_topics(settings)
    data = tmp_path / "bank"
    assert runner.invoke(app, ["data", "bank", str(BANK_EXCERPT), "--out", str(data)]).exit_code == 0
    expected = history_from_files(data / "events.jsonl", data / "profiles.jsonl", data / "conversions.jsonl")

    result = runner.invoke(app, ["data", "replay", str(data), "--bootstrap", broker.bootstrap], env=settings.to_env())
    assert result.exit_code == 0, result.output
    assert f"produced 400 events to {settings.topics.events}" in result.output

    history = read_history(settings)
    assert history.skipped == []
    assert sorted(e.event_id for e in history.events) == sorted(e.event_id for e in expected.events)
    assert sorted(c.conversion_id for c in history.conversions) == sorted(c.conversion_id for c in expected.conversions)
    assert sorted(p.lead_id for p in history.profiles) == sorted(p.lead_id for p in expected.profiles)
    assert history.events == expected.events  # decoded field by field, in the same (time, id) order
    assert history.conversions == expected.conversions


def test_replay_limit_sends_the_first_records_in_time_order(broker: Broker, tmp_path: Path) -> None:
    settings = new_settings(broker, tmp_path / "state")
    data = tmp_path / "olist"
    assert runner.invoke(app, ["data", "olist", "--out", str(data)]).exit_code == 0
    args = ["data", "replay", str(data), "--bootstrap", broker.bootstrap, "--limit", "50"]
    result = runner.invoke(app, args, env=settings.to_env())
    assert result.exit_code == 0, result.output
    history = read_history(settings)
    expected = history_from_files(data / "events.jsonl").events[:50]
    assert history.events == expected and history.conversions == []
