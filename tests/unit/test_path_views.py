"""The path and the drops where people read them: the query API's JSON and ``leadscore score --path-to``."""

import json

import pytest
from typer.testing import CliRunner

from scoring import Engine, example_model_path, load_model
from scoring.path import UnknownLevelError
from streams.cli.main import app
from streams.worker.api import lead_view, path_view
from tests.conftest import DAY, T0, make_event

B2B = load_model(example_model_path("b2b"))


def test_lead_view_shows_drops_in_ms_and_iso():
    engine = Engine([B2B])
    state = None
    for n, kind in enumerate(["demo_request", "trial_request"]):
        state = engine.apply_event(state, make_event("lead", kind, T0, event_id=f"e{n}")).state
    [model] = lead_view(engine, state, T0 + DAY)["models"]
    [drop] = model["drops"]
    assert drop["level"] == "MQL" and drop["drops_at"] > T0 + DAY
    assert drop["drops_at_iso"].endswith("Z") and drop["drops_at_iso"].startswith("2026-")
    later = lead_view(engine, state, T0 + 2 * DAY)["models"][0]["drops"][0]  # ?at= values the drops too
    assert later["drops_at"] == drop["drops_at"]  # the same decay curve: the same moment, asked later


def test_path_view_per_model_and_unknown_levels():
    engine = Engine([B2B])
    state = engine.apply_event(None, make_event("lead", "demo_request", T0)).state
    view = path_view(engine, state, "MQL", T0, None)
    assert (view["lead_id"], view["to"], view["at"]) == ("lead", "MQL", T0)
    [path] = view["models"]
    assert path["status"] == "reachable" and path["model_id"] == "b2b"
    assert path["score_after"] >= path["threshold"] == 60
    assert all({"rule_id", "event_type", "points", "description"} <= set(a) for a in path["actions"])
    json.dumps(view)  # plain JSON
    with pytest.raises(UnknownLevelError):
        path_view(engine, state, "VIP", T0, None)
    with pytest.raises(UnknownLevelError):
        path_view(engine, state, "MQL", T0, "b2c")


def test_score_path_to_adds_the_path_to_each_row(tmp_path):
    events = tmp_path / "events.jsonl"
    record = {"event_id": "e1", "lead_id": "a", "type": "demo_request", "occurred_at": T0, "source": "web"}
    events.write_text(json.dumps(record) + "\n")
    model = str(example_model_path("b2b"))
    result = CliRunner().invoke(app, ["score", "-m", model, "-e", str(events), "--path-to", "SQL"])
    assert result.exit_code == 0, result.output
    [row] = [json.loads(line) for line in result.stdout.splitlines()]
    assert row["path"]["status"] == "reachable" and row["path"]["level"] == "SQL"
    assert [a["rule_id"] for a in row["path"]["actions"]] == ["trial-request", "contact-form"]  # 40 + 40 + 20
    plain = CliRunner().invoke(app, ["score", "-m", model, "-e", str(events)])
    assert "path" not in json.loads(plain.stdout)
    wrong = CliRunner().invoke(app, ["score", "-m", model, "-e", str(events), "--path-to", "VIP"])
    assert wrong.exit_code == 2 and "no model has a level 'VIP'" in wrong.stderr
