"""`leadscore models diff` and the history's de-duplication and per-version changes."""

from __future__ import annotations

from typer.testing import CliRunner

from scoring import example_model_path
from streams.cli.audit import _first_of_each, _with_changes
from streams.cli.main import app


def record(app_id: str, version: int, at: int, rules: dict[str, float], deployment: str | None = None) -> dict:
    return {
        "deployment_id": deployment or f"{app_id}-{version}",
        "app_id": app_id,
        "mode": "LIVE",
        "model_id": "b2b",
        "model_version": version,
        "rules": rules,
        "levels": {"MQL": 60.0},
        "deployed_at": at,
    }


def test_history_keeps_the_first_report_of_each_deployment_and_lists_point_changes():
    records = [
        record("a", 1, 100, {"demo": 40.0, "blog": 5.0}),
        record("a", 1, 300, {"demo": 40.0, "blog": 5.0}),  # a second worker or a restart: same deployment id
        record("a", 2, 500, {"demo": 30.0, "pricing": 10.0}),
        record("b", 1, 200, {"demo": 40.0}),  # another application has its own history
    ]
    rows = _with_changes(_first_of_each(records), None)
    assert [(r["app_id"], r["model_version"], r["deployed_at"]) for r in rows] == [
        ("a", 1, 100),
        ("b", 1, 200),
        ("a", 2, 500),
    ]
    assert rows[2]["changes"] == ["- rule blog: was 5", "~ rule demo: 40 -> 30", "+ rule pricing: 10"]
    assert rows[0]["changes"] == rows[1]["changes"] == []
    assert _with_changes(_first_of_each(records), "other") == []
    rolled_back = _with_changes(_first_of_each([*records, record("a", 1, 700, {"demo": 40.0, "blog": 5.0})]), None)
    assert [(r["model_version"], r["deployed_at"]) for r in rolled_back if r["app_id"] == "a"] == [
        (1, 100),
        (2, 500),
        (1, 700),  # the rollback shows: v1 runs again
    ]
    assert rolled_back[-1]["changes"] == ["+ rule blog: 5", "~ rule demo: 30 -> 40", "- rule pricing: was 10"]


def test_models_diff_prints_what_a_new_version_changes(tmp_path):
    old = example_model_path("b2b")
    text = old.read_text().replace("points: 25", "points: 30").replace("version: 2", "version: 3")
    new = tmp_path / "b2b-v3.yaml"
    new.write_text(text.replace("author: ", 'reason: "whitepapers convert twice as well (evaluate, Q3)"\nauthor: ', 1))
    result = CliRunner().invoke(app, ["models", "diff", str(old), str(new)])
    assert result.exit_code == 0, result.output
    assert "b2b v2 -> b2b v3" in result.output
    assert "~ rule whitepaper: 25 -> 30" in result.output
    assert "reason: whitepapers convert twice as well (evaluate, Q3)" in result.output
    broken = CliRunner().invoke(app, ["models", "diff", str(old), str(tmp_path / "missing.yaml")])
    assert broken.exit_code == 2 and "cannot read model file" in broken.output and "Traceback" not in broken.output


def test_every_command_is_registered_once():
    names = [command.name or command.callback.__name__ for command in app.registered_commands]
    assert len(names) == len(set(names)), names
    groups = [group.name for group in app.registered_groups]
    assert sorted(groups) == ["data", "models", "sources", "topics"]
