"""``leadscore models rescore --bootstrap`` and ``models compare`` against the embedded broker. Inputs and "live"
scores are produced as a worker under the old model would have written them; outputs are read back with
kafka-python and the Apache avro reference decoder."""

from __future__ import annotations

import asyncio
import json

import pytest
import yaml
from scipy.stats import spearmanr
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner

from scoring import Engine, derived_id, load_model
from scoring.conversions import Conversion, Outcome
from streams.analysis.history import read_topics as read_back
from streams.analysis.livescores import produce
from streams.cli.main import app
from tests.conftest import SIMPLE_MODEL, T0, make_event
from tests.integration.conftest import new_settings, read_topics

HOUR = 3_600_000
# Old model (tests/fixtures/simple.yaml, b2b v1): form_fill 10, demo_request 30, page_view 2; MQL >= 60, SQL >= 100.
# New model (b2b v2): form_fill 20, demo_request 15.
JOURNEYS = {
    "enters-mql": ["form_fill"] * 4,  # 40 -> 80
    "enters-sql": ["form_fill"] * 6,  # 60 (MQL) -> 120 (MQL, SQL)
    "leaves-mql": ["demo_request"] * 2,  # 60 (MQL) -> 30
    "stays": ["page_view"],  # 2 -> 2
    "erased": ["form_fill"] * 6,  # 60 (MQL) -> 120, but its live score is a tombstone: left alone
}
# Erased long ago: compaction removed its tombstone from lead-scores; its receipt on lead-erasures-completed stays.
COMPACTED = [make_event("compacted", "form_fill", T0 + i * HOUR, event_id=f"compacted-{i}") for i in range(6)]
NO_HISTORY = "no-history"  # has a live score, but its events are gone from the input topic: not rescored
EXPECTED_CROSSINGS = {
    ("enters-mql", "MQL", "UP", 60.0, 80.0),
    ("enters-sql", "SQL", "UP", 100.0, 120.0),
    ("leaves-mql", "MQL", "DOWN", 60.0, 30.0),
}
NEW_SCORES = {"enters-mql": 80.0, "enters-sql": 120.0, "leaves-mql": 30.0, "stays": 2.0}


def new_model(tmp_path):
    spec = yaml.safe_load(SIMPLE_MODEL.read_text())
    spec.update(version=2, change_note="Forms count double, demo requests half.")
    for rule in spec["rules"]:
        rule["points"] = {"form_fill": 20, "demo_request": 15}.get(rule["event"], rule["points"])
    path = tmp_path / "new.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path


def history_events():
    return [
        make_event(lead, kind, T0 + (n * 10 + i) * HOUR, event_id=f"{lead}-{i}")
        for n, (lead, kinds) in enumerate(JOURNEYS.items())
        for i, kind in enumerate(kinds)
    ]


def scores_under(model_path, events, codec, at_ms):
    """What a worker under ``model_path`` would have on lead-scores at ``at_ms``: one LeadScore per lead."""
    engine = Engine([load_model(model_path)])
    states = {}
    for event in sorted(events, key=lambda e: e.occurred_at_ms):
        states[event.lead_id] = engine.apply_event(states.get(event.lead_id), event).state
    return {
        lead: codec.encode_scores(lead, at_ms, engine.snapshot(state, at_ms, top=0)) for lead, state in states.items()
    }


@pytest.fixture
def live(broker, tmp_path, monkeypatch, codec):
    """Topics with the history on lead-events and the old model's scores on lead-scores (one erased)."""
    settings = new_settings(broker, tmp_path / "state")
    for name, value in settings.to_env().items():
        monkeypatch.setenv(name, value)
    events = history_events()
    at_ms = max(event.occurred_at_ms for event in events)
    produce(settings, settings.topics.events, [(e.lead_id, codec.encode_event(e)) for e in [*events, *COMPACTED]])
    old_scores = scores_under(SIMPLE_MODEL, [*events, make_event(NO_HISTORY, "demo_request", T0)], codec, at_ms)
    produce(settings, settings.topics.scores, sorted(old_scores.items()))
    produce(settings, settings.topics.scores, [("erased", None)])  # type: ignore[list-item]
    receipt = codec.encode_erasure_completed("req-1", "compacted", True, T0)
    produce(settings, settings.topics.erasures_completed, [("compacted", receipt)])
    return settings


def rescore(tmp_path, *extra):
    report = tmp_path / "rescore.json"
    result = CliRunner().invoke(
        app, ["models", "rescore", "-m", str(new_model(tmp_path)), "--report", str(report), *extra]
    )
    assert result.exit_code == 0, result.output
    return result, json.loads(report.read_text())


def records_on(settings, topic):
    """How many records ``topic`` holds, read back (not the end offsets: Tansu's are off by up to a batch, ADR 011)."""
    return len(asyncio.run(read_back(settings, [topic])))


def test_rescore_without_emit_sends_nothing_and_counts_level_changes(broker, live, tmp_path):
    result, report = rescore(tmp_path, "-b", broker.bootstrap)
    model = report["models"]["b2b"]
    assert model["version"] == 2
    assert model["entering"] == {"MQL": 1, "SQL": 1} and model["leaving"] == {"MQL": 1}
    assert model["leads_changing_levels"] == 3 and model["crossings"] == 3
    assert model["leads_compared"] == 4  # the erased lead is left out, NO_HISTORY was not rescored
    assert model["leads_before_only"] == 1
    assert [(m["lead_id"], m["delta"]) for m in model["top_movers"]] == [
        ("enters-sql", 60.0),
        ("enters-mql", 40.0),
        ("leaves-mql", -30.0),
    ]
    assert report["erased_leads_left_out"] == 2 and report["crossings_sent"] is False  # tombstone and receipt
    assert "would send 3 crossings" in result.stderr
    assert records_on(live, live.topics.thresholds) == 0
    assert records_on(live, live.topics.scores) == 7  # 6 scores + 1 tombstone: nothing added


def test_emit_crossings_sends_exactly_the_level_changes_with_stable_ids(broker, live, tmp_path):
    rescore(tmp_path, "-b", broker.bootstrap, "--emit-crossings")
    first = read_topics(broker.bootstrap, [live.topics.thresholds], lambda r: len(r) >= 3, timeout_s=30)
    crossings = [value for _, _, value in first]
    assert {(c["lead_id"], c["level"], c["direction"], c["threshold"], c["score"]) for c in crossings} == (
        EXPECTED_CROSSINGS
    )
    assert len(crossings) == 3
    assert all(key == value["lead_id"].encode() for _, key, value in first)
    assert {(c["model_id"], c["model_version"], c["cause"], c["cause_event_id"]) for c in crossings} == {
        ("b2b", 2, "EVENT", "rescore:b2b@v2")
    }
    at = max(e.occurred_at_ms for e in history_events())
    assert {c["occurred_at"].timestamp() * 1000 for c in crossings} == {at}
    for c in crossings:
        assert c["crossing_id"] == derived_id(c["lead_id"], "b2b", 2, c["level"], c["direction"], "rescore")

    rescore(tmp_path, "-b", broker.bootstrap, "--emit-crossings")
    both = read_topics(broker.bootstrap, [live.topics.thresholds], lambda r: len(r) >= 6, timeout_s=30)
    ids = [value["crossing_id"] for _, _, value in both]
    assert len(ids) == 6 and len(set(ids)) == 3  # the second run repeats the same ids: no new crossings downstream


def test_publish_writes_one_score_per_rescored_lead(broker, live, tmp_path):
    staging = f"{live.topics.scores}-staging"
    result, _ = rescore(tmp_path, "-b", broker.bootstrap, "--publish", staging, "--no-compare")  # erased stay out
    assert "published 4 LeadScore records" in result.stderr
    records = read_topics(broker.bootstrap, [staging], lambda r: len(r) >= 4, timeout_s=30)
    scores = {value["lead_id"]: value["models"] for _, _, value in records}
    assert len(records) == 4 and all(key == value["lead_id"].encode() for _, key, value in records)
    assert {lead: models[0]["score"] for lead, models in scores.items()} == NEW_SCORES
    assert {models[0]["model_version"] for models in scores.values()} == {2}
    assert records_on(live, live.topics.scores) == 7  # live scores untouched


def test_publishing_to_live_scores_needs_publish_live(broker, live, tmp_path):
    result = CliRunner().invoke(
        app,
        ["models", "rescore", "-m", str(new_model(tmp_path)), "-b", broker.bootstrap, "--publish", live.topics.scores],
    )
    assert result.exit_code == 2 and "--publish-live" in result.output
    assert records_on(live, live.topics.scores) == 7


def test_compare_reports_agreement_deltas_rank_correlation_and_quick_auc(broker, tmp_path, monkeypatch, codec):
    settings = new_settings(broker, tmp_path / "state")
    for name, value in settings.to_env().items():
        monkeypatch.setenv(name, value)
    events = history_events()
    at_ms = max(event.occurred_at_ms for event in events)
    live_scores = scores_under(SIMPLE_MODEL, events, codec, at_ms)
    shadow_scores = scores_under(new_model(tmp_path), events, codec, at_ms)
    produce(settings, settings.topics.scores, sorted(live_scores.items()))
    produce(settings, settings.topics.shadow_scores, sorted(shadow_scores.items()))
    won = ["enters-sql", "leaves-mql"]
    conversions = [Conversion(f"c-{lead}", lead, Outcome.WON, at_ms + HOUR, 100.0, "EUR") for lead in won]
    conversions.append(Conversion("c-lost", "stays", Outcome.LOST, at_ms + HOUR, None, None))
    produce(settings, settings.topics.conversions, [(c.lead_id, codec.encode_conversion(c)) for c in conversions])

    report_path = tmp_path / "compare.json"
    result = CliRunner().invoke(app, ["models", "compare", "-b", broker.bootstrap, "--report", str(report_path)])
    assert result.exit_code == 0, result.output
    [pair] = json.loads(report_path.read_text())["pairs"]
    assert (pair["live_model"], pair["shadow_model"], pair["live_versions"], pair["shadow_versions"]) == (
        "b2b",
        "b2b",
        [1],
        [2],
    )
    assert pair["leads_compared"] == 5
    matrix = {(cell["live"], cell["shadow"]): cell["leads"] for cell in pair["level_agreement"]}
    assert matrix == {("none", "MQL"): 1, ("MQL", "SQL"): 2, ("MQL", "none"): 1, ("none", "none"): 1}
    assert pair["shadow_would_enter"] == {"MQL": 1, "SQL": 2} and pair["shadow_would_leave"] == {"MQL": 1}
    leads = sorted(JOURNEYS)
    old = {"enters-mql": 40, "enters-sql": 60, "leaves-mql": 60, "stays": 2, "erased": 60}
    new = {"enters-mql": 80, "enters-sql": 120, "leaves-mql": 30, "stays": 2, "erased": 120}
    expected_rho = spearmanr([old[lead] for lead in leads], [new[lead] for lead in leads]).statistic
    assert pair["spearman"] == pytest.approx(expected_rho)
    labels = [lead in won for lead in leads]
    auc = pair["quick_auc_current_scores"]
    assert auc["live"] == pytest.approx(roc_auc_score(labels, [old[lead] for lead in leads]))
    assert auc["shadow"] == pytest.approx(roc_auc_score(labels, [new[lead] for lead in leads]))
    assert (auc["converted"], auc["others"]) == (2, 3)
    assert "CURRENT scores" in " ".join(result.stdout.split())


def test_compare_without_a_common_model_id_asks_for_the_pair(broker, tmp_path, monkeypatch, codec):
    settings = new_settings(broker, tmp_path / "state")
    for name, value in settings.to_env().items():
        monkeypatch.setenv(name, value)
    result = CliRunner().invoke(app, ["models", "compare", "-b", broker.bootstrap])
    assert result.exit_code == 2 and "--live-model ID --shadow-model ID" in result.output
