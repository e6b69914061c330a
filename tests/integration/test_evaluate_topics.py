"""``leadscore evaluate --bootstrap`` reads the input topics of the real embedded broker: the same report as from
the equivalent files, and ``--follow`` serves the figures as Prometheus gauges."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

import pytest
from prometheus_client.parser import text_string_to_metric_families
from typer.testing import CliRunner

from scoring import load_models
from scoring.durations import parse_duration
from scoring.evaluation.cohort import CohortSpec
from streams.analysis.evaluate.gauges import EvaluationGauges, follow_evaluations
from streams.analysis.evaluate.runner import EvaluationRun, evaluate_history
from streams.analysis.history import history_from_files, read_history
from streams.analysis.offline import conversion_from_json, event_from_json
from streams.cli.main import app
from streams.devtools.processes import free_port
from streams.kafka.clients import EventProducer
from streams.kafka.codec import AvroCodec
from streams.kafka.registry import LocalSchemaRegistry
from streams.kafka.topics import create_topics
from streams.settings import Settings
from tests.integration.conftest import new_settings
from tests.unit.test_cli_evaluate import DATA_END, base_args, write_history


@pytest.fixture
def produced(broker, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[Settings, Path]:
    """The synthetic history of the unit tests, as files and produced to fresh input topics."""
    write_history(tmp_path)
    settings = new_settings(broker, tmp_path / "state")
    create_topics(settings)
    for field in ("events", "profiles", "conversions"):
        monkeypatch.setenv(f"LEADSCORE_TOPIC_{field.upper()}", getattr(settings.topics, field))
    codec = AvroCodec(LocalSchemaRegistry())
    events = EventProducer(broker.bootstrap, codec, settings.topics.events)
    for line in (tmp_path / "events.jsonl").read_text().splitlines():
        events.send(event_from_json(json.loads(line)))
    events.flush()
    events.close()
    conversions = EventProducer(broker.bootstrap, codec, settings.topics.conversions)
    for line in (tmp_path / "conversions.jsonl").read_text().splitlines():
        conversion = conversion_from_json(json.loads(line))
        conversions.send_raw(conversion.lead_id.encode(), codec.encode_conversion(conversion))
    conversions.flush()
    conversions.close()
    return settings, tmp_path


def test_topics_give_the_same_report_as_files(broker, produced: tuple[Settings, Path]) -> None:
    _settings, directory = produced
    from_files, from_topics = directory / "files.json", directory / "topics.json"
    runner = CliRunner()
    files_args = base_args(directory)
    result = runner.invoke(app, [*files_args, "--json", str(from_files)])
    assert result.exit_code == 0, result.output
    topic_args = _from_topics(files_args, broker.bootstrap)
    result = runner.invoke(app, [*topic_args, "--json", str(from_topics)])
    assert result.exit_code == 0, result.output
    report = json.loads(from_topics.read_text())
    assert report["cohort"]["leads"] == 200 and report["cohort"]["skipped_records"] == 0
    assert report == json.loads(from_files.read_text())


def test_follow_serves_the_figures_as_gauges(broker, produced: tuple[Settings, Path]) -> None:
    settings, directory = produced
    models = load_models([directory / "good.yaml", directory / "blind.yaml"])
    spec = CohortSpec(window_ms=parse_duration("30d"), data_end_ms=_ms(DATA_END))
    expected = evaluate_history(
        models,
        history_from_files(directory / "events.jsonl", None, directory / "conversions.jsonl"),
        spec,
    )
    port = free_port()
    scrapes: list[dict[tuple[str, tuple[tuple[str, str], ...]], float]] = []

    def scrape(number: int, run: EvaluationRun | None, gauges: EvaluationGauges) -> None:
        assert run is not None
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
            text = response.read().decode()
        scrapes.append(
            {
                (sample.name, tuple(sorted(sample.labels.items()))): sample.value
                for family in text_string_to_metric_families(text)
                for sample in family.samples
            }
        )

    follow_evaluations(lambda: evaluate_history(models, read_history(settings), spec), 0.1, port, runs=2, on_run=scrape)
    assert len(scrapes) == 2
    for samples in scrapes:
        good = expected.models[0].report
        assert samples[("leadscore_eval_roc_auc", (("model", "good"),))] == pytest.approx(good.roc_auc)
        assert samples[("leadscore_eval_roc_auc", (("model", "blind"),))] == 0.5
        assert samples[("leadscore_eval_leads", (("model", "good"),))] == 200
        assert samples[("leadscore_eval_conversions", (("model", "good"),))] == good.conversions
        assert samples[("leadscore_eval_suggested_threshold", (("model", "good"),))] == good.suggestion.threshold
        for row in good.deciles:  # with two distinct scores most deciles are empty, and have no gauge
            key = ("leadscore_eval_lift", (("decile", str(row.decile)), ("model", "good")))
            assert samples.get(key) == (pytest.approx(row.lift) if row.n else None)
        mql = next(row for row in good.levels if row.level == "MQL")
        key = ("leadscore_eval_level_conversion_rate", (("level", "MQL"), ("model", "good")))
        assert samples[key] == pytest.approx(mql.conversion_rate)
        assert samples[("leadscore_eval_last_run_timestamp_seconds", ())] > 0
    assert (
        scrapes[1][("leadscore_eval_last_run_timestamp_seconds", ())]
        >= scrapes[0][("leadscore_eval_last_run_timestamp_seconds", ())]
    )


def test_follow_command_runs_the_given_number_of_times(broker, produced: tuple[Settings, Path]) -> None:
    _settings, directory = produced
    topic_args = _from_topics(base_args(directory), broker.bootstrap)
    out = directory / "followed.json"
    follow = ["--follow", "1", "--runs", "2", "--metrics-port", str(free_port()), "--json", str(out)]
    result = CliRunner().invoke(app, [*topic_args, *follow])
    assert result.exit_code == 0, result.output
    assert json.loads(out.read_text())["cohort"]["leads"] == 200  # each run rewrites --json
    assert "run 1: 200 leads" in result.stdout and "run 2: 200 leads" in result.stdout
    assert "serving gauges on http://127.0.0.1:" in result.stderr


def _from_topics(args: list[str], bootstrap: str) -> list[str]:
    """The same command with --bootstrap in place of --events and --conversions."""
    for option in ("--events", "--conversions"):
        at = args.index(option)
        args = args[:at] + args[at + 2 :]
    return [*args, "--bootstrap", bootstrap]


def _ms(day: str) -> int:
    from datetime import UTC, datetime

    return int(datetime.fromisoformat(day).replace(tzinfo=UTC).timestamp() * 1000)
