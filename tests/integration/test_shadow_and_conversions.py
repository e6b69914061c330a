"""Model lifecycle on the real broker: a live and a shadow worker on the same inputs, conversions joined to scores,
and the audit trail of deployed model versions (issue 8). Read back with an independent client and decoder."""

from __future__ import annotations

from pathlib import Path

from kafka import KafkaProducer

from scoring.conversions import Conversion, Outcome
from streams.devtools.processes import spawn_worker, stop_process
from tests.conftest import SIMPLE_MODEL, T0, make_event
from tests.integration.conftest import read_topics

JOURNEYS = {"lead-A": ["demo_request", "trial_request", "email_open"], "lead-B": ["email_open", "page_view"]}


def doubled_model(path: Path) -> Path:
    """The simple model's next version: every rule worth twice as much (the shadow candidate)."""
    text = SIMPLE_MODEL.read_text()
    for points in ("30", "15", "10", "8", "3", "2", "1"):
        text = text.replace(f"points: {points}}}", f"points: {int(points) * 2}}}")
    text = text.replace("version: 1", "version: 2\nauthor: ops@example.com\nreason: try doubled points")
    path.write_text(text)
    return path


def test_shadow_scores_beside_live_without_crossings_and_conversions_are_joined(broker, settings, codec, tmp_path):
    shadow = broker.settings(
        f"{settings.app_id}-shadow",
        tmp_path / "shadow-state",
        topics=settings.topics,
        model_paths=[doubled_model(tmp_path / "doubled.yaml")],
        shadow=True,
    )
    names = settings.topics
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers)
    step = 0
    for lead_id, types in JOURNEYS.items():
        for event_type in types:
            step += 1
            event = make_event(lead_id, event_type, at_ms=T0 + step * 1000, event_id=f"{lead_id}-{step}")
            producer.send(names.events, key=lead_id.encode(), value=codec.encode_event(event))
    producer.flush()
    live_worker = spawn_worker(settings, log_file=tmp_path / "live.log")
    shadow_worker = spawn_worker(shadow, log_file=tmp_path / "shadow.log")
    outputs = [
        names.score_changes,
        names.thresholds,
        names.shadow_score_changes,
        names.shadow_scores,
        names.model_deployments,
        names.conversion_scores,
    ]

    def count(records, topic):
        return sum(1 for r in records if r[0] == topic)

    try:
        scored = read_topics(
            settings.bootstrap_servers,
            outputs,
            lambda records: (
                count(records, names.score_changes) == 5 and count(records, names.shadow_score_changes) == 5
            ),
            120,
        )
        # both workers scored every event before the conversion is sent (else it would join an incomplete state)
        assert (count(scored, names.score_changes), count(scored, names.shadow_score_changes)) == (5, 5)
        conversion = Conversion("won-A", "lead-A", Outcome.WON, T0 + 60_000, 5000.0, "EUR")
        producer.send(names.conversions, key=b"lead-A", value=codec.encode_conversion(conversion))
        producer.flush()
        records = read_topics(
            settings.bootstrap_servers,
            outputs,
            lambda records: (
                count(records, names.conversion_scores) == 1 and count(records, names.model_deployments) == 2
            ),
            60,
        )
        assert live_worker.poll() is None, (tmp_path / "live.log").read_text()
        assert shadow_worker.poll() is None, (tmp_path / "shadow.log").read_text()
    finally:
        producer.close()
        stop_process(live_worker, grace_s=15)
        stop_process(shadow_worker, grace_s=15)

    def values(topic):
        return [value for name, _, value in records if name == topic]

    live = {(c["lead_id"], c["cause_event_id"]): c["score"] for c in values(names.score_changes)}
    shadowed = {(c["lead_id"], c["cause_event_id"]): c["score"] for c in values(names.shadow_score_changes)}
    assert shadowed == {key: score * 2 for key, score in live.items()}  # same stream, the candidate's points
    assert {c["model_version"] for c in values(names.shadow_score_changes)} == {2}
    # lead-A crosses MQL under both models (and SQL in the shadow); only live crossings reach the sales topic
    assert [(c["lead_id"], c["level"], c["model_version"]) for c in values(names.thresholds)] == [("lead-A", "MQL", 1)]
    latest_shadow = {s["lead_id"]: s["models"][0] for s in values(names.shadow_scores)}
    assert latest_shadow["lead-A"]["levels"] == ["MQL", "SQL"] and latest_shadow["lead-A"]["score"] == 122.0
    (joined,) = values(names.conversion_scores)
    assert (joined["lead_id"], joined["outcome"], joined["value"], joined["known_lead"]) == (
        "lead-A",
        "WON",
        5000.0,
        True,
    )
    assert [(m["model_version"], m["score"], m["levels"], m["exact"]) for m in joined["models"]] == [
        (1, 61.0, ["MQL"], True)
    ]
    deployments = {d["mode"]: d for d in values(names.model_deployments)}
    assert (deployments["LIVE"]["model_version"], deployments["SHADOW"]["model_version"]) == (1, 2)
    assert deployments["SHADOW"]["author"] == "ops@example.com"
    assert deployments["SHADOW"]["reason"] == "try doubled points"
    assert deployments["SHADOW"]["rules"]["demo-request"] == 60.0
    assert len(deployments["LIVE"]["content_sha256"]) == 64
    assert_history_lists_both_deployments(settings)


def assert_history_lists_both_deployments(settings) -> None:
    """`leadscore models history` reads the audit topic back: one row per deployment, with who and why."""
    import json

    from typer.testing import CliRunner

    from streams.cli.main import app

    result = CliRunner().invoke(app, ["models", "history", "--json"], env=settings.to_env())
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert sorted((row["mode"], row["model_version"], row["reason"]) for row in rows) == [
        ("LIVE", 1, ""),
        ("SHADOW", 2, "try doubled points"),
    ]
    assert all(row["changes"] == [] for row in rows)  # each is the first of its app and mode
