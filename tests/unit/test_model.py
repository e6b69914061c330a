from pathlib import Path

import pytest
from typer.testing import CliRunner

from scoring import ModelError, example_model_path, load_model, load_models, parse_model
from streams.cli import app

VALID = {
    "id": "m",
    "version": 2,
    "change_note": "test",
    "rules": [
        {"id": "open", "event": "email_open", "points": 1},
        {"id": "demo", "event": "demo_request", "points": 30},
    ],
    "levels": [{"name": "MQL", "enter": 60}, {"name": "SQL", "enter": 100}],
}


def with_(path: list[str | int], value: object) -> dict:
    import copy

    data = copy.deepcopy(VALID)
    node = data
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return data


def test_example_model_loads(b2b_model):
    assert b2b_model.id == "b2b"
    assert b2b_model.version == 1
    assert [level.name for level in b2b_model.levels] == ["MQL", "SQL"]
    assert {rule.event: rule.points for rule in b2b_model.rules}["demo_request"] == 30


def test_error_names_source_rule_and_field():
    with pytest.raises(ModelError) as error:
        parse_model(with_(["rules", 1, "points"], "lots"), source="b2b.yaml")
    assert str(error.value) == "b2b.yaml: rules[1] (id 'demo').points: expected a number"


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (["version"], "two", "version: expected a whole number"),
        (["rules"], [], "rules: must not be empty"),
        (["rules", 0, "colour"], "red", "rules[0] (id 'open').colour: unknown field"),
        (["levels", 1, "enter"], 10, "levels must be listed with strictly increasing 'enter' scores"),
        (["rules", 1, "id"], "open", "duplicate rule id 'open'"),
        (["rules", 0, "points"], float("nan"), "rules[0] (id 'open').points: expected a finite number"),
    ],
)
def test_invalid_models_are_rejected_with_a_clear_message(path, value, expected):
    with pytest.raises(ModelError, match=None) as error:
        parse_model(with_(path, value), source="m.yaml")
    assert str(error.value).startswith("m.yaml: ")
    assert expected in str(error.value)


def test_missing_field_is_named():
    data = dict(VALID)
    del data["change_note"]
    with pytest.raises(ModelError, match=r"m.yaml: change_note: required field is missing"):
        parse_model(data, source="m.yaml")


def test_yaml_syntax_error_names_line(tmp_path: Path):
    path = tmp_path / "broken.yaml"
    path.write_text("id: x\nrules: [\n  - {id: a\n")
    with pytest.raises(ModelError, match=r"broken.yaml: not valid YAML at line \d+"):
        load_model(path)


def test_duplicate_model_ids_across_files():
    with pytest.raises(ModelError, match="duplicate model id 'b2b'"):
        load_models([example_model_path("b2b"), example_model_path("b2b")])


def test_validate_model_command(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: bad\nversion: 1\nchange_note: x\nrules:\n  - {id: r, event: email_open, points: many}\n")
    runner = CliRunner()
    ok = runner.invoke(app, ["validate-model", str(example_model_path("b2b"))])
    assert ok.exit_code == 0, ok.output
    assert "b2b v1, 11 rules, MQL>=60, SQL>=100" in ok.output
    failed = runner.invoke(app, ["validate-model", str(example_model_path("b2b")), str(bad)])
    assert failed.exit_code == 2
    assert "bad.yaml: rules[0] (id 'r').points: expected a number" in failed.output
    assert "Traceback" not in failed.output
