import copy
from pathlib import Path

import pytest
from typer.testing import CliRunner

from scoring import ModelError, example_model_path, load_model, load_models, parse_model
from scoring.durations import format_duration, parse_duration
from streams.cli.main import app

VALID = {
    "id": "m",
    "version": 2,
    "change_note": "test",
    "lists": {"free_mail": ["gmail.com"]},
    "rules": [
        {"id": "open", "event": "email_open", "points": 1},
        {"id": "demo", "event": "demo_request", "points": 30},
        {"id": "free", "dimension": "fit", "when": {"field": "email_domain", "in_list": "free_mail"}, "points": -10},
    ],
    "levels": [{"name": "MQL", "enter": 60, "leave": 50}, {"name": "SQL", "enter": 100}],
}


def with_(path: list[str | int], value: object) -> dict:
    data = copy.deepcopy(VALID)
    node = data
    for part in path[:-1]:
        node = node[part]
    node[path[-1]] = value
    return data


def test_example_models_load():
    b2b = load_model(example_model_path("b2b"))
    assert (b2b.id, b2b.version) == ("b2b", 2)
    assert [(lv.name, lv.enter, lv.leave) for lv in b2b.levels] == [("MQL", 60, 50), ("SQL", 100, 90)]
    assert b2b.by_id["whitepaper"].points == 25
    assert b2b.by_id["blog-subscription"].points == 5
    assert b2b.by_id["finance-enterprise"].points == 50
    assert b2b.by_id["free-mail-financial-advisor"].points == -50
    assert b2b.by_id["email-open"].half_life_ms == parse_duration("30d")
    assert b2b.by_id["unsubscribe"].half_life_ms == 0
    assert b2b.by_id["email-open"].cap_count == 1
    b2c = load_model(example_model_path("b2c"))
    assert b2c.segment is not None and b2c.segment({"attributes.segment": "b2c"})
    assert {"cart_add", "checkout_abandoned"} <= b2c.event_types


def test_valid_model_compiles_defaults():
    model = parse_model(VALID)
    assert model.engagement.floor == 0 and model.fit.floor is None
    assert [g.name for g in model.grades] == ["A", "B", "C", "D"]
    assert model.levels[1].leave == 100  # leave defaults to enter
    assert [rule.id for rule in model.fit_rules] == ["free"]


def test_error_names_source_rule_and_field():
    with pytest.raises(ModelError) as error:
        parse_model(with_(["rules", 1, "points"], "lots"), source="b2b.yaml")
    assert str(error.value) == "b2b.yaml: rules[1] (id 'demo').points: expected a number"


@pytest.mark.parametrize(
    ("path", "value", "expected"),
    [
        (["version"], "two", "version: expected a whole number"),
        (["version"], 0, "version: must be at least 1"),
        (["id"], "has space", "id: must be letters, digits"),
        (["rules"], [], "rules: must not be empty"),
        (["rules", 0, "colour"], "red", "rules[0] (id 'open').colour: unknown field"),
        (["rules", 0, "points"], float("nan"), "rules[0] (id 'open').points: expected a finite number"),
        (["rules", 0, "dimension"], "mood", "rules[0] (id 'open').dimension: expected one of: engagement, fit"),
        (["rules", 0, "half_life"], "a month", "rules[0] (id 'open').half_life: expected a duration such as 30d"),
        (["rules", 0, "cap"], {"points": 0.5, "per": "1d"}, "cap.points is below the rule's points"),
        (["rules", 0, "cap"], {"points": 5}, "rules[0] (id 'open').cap.per: required field is missing"),
        (["rules", 0, "once_per"], "1h", None),
        (["rules", 0, "event"], None, "an engagement rule needs 'event'"),
        (["rules", 2, "event"], "email_open", "a fit rule scores profile attributes"),
        (["rules", 0, "when"], {"field": "properties.x", "gt": "y"}, "rules[0] (id 'open').when.gt: expected a number"),
        (["rules", 2, "when"], {"field": "email_domain", "in_list": "nope"}, "rules[2] (id 'free').when.in_list"),
        (["rules", 1, "id"], "open", "duplicate rule id 'open'"),
        (["levels", 1, "enter"], 10, "strictly increasing 'enter'"),
        (["levels", 0, "leave"], 70, "leave must not be above enter"),
        (["engagement"], {"floor": 10, "ceiling": 5}, "floor must not be above ceiling"),
        (["grades"], [{"name": "A", "min": 10}, {"name": "B", "min": 20}, {"name": "C"}], "highest 'min' down"),
        (["grades"], [{"name": "A", "min": 10}], "the last catches the rest"),
        (["segment"], {"field": "x", "matches": "("}, "m.yaml: segment.matches: invalid regular expression"),
        (["combined"], {"engagement": -1}, "combined.engagement"),
    ],
)
def test_invalid_models_are_rejected_with_a_clear_message(path, value, expected):
    if expected is None:
        parse_model(with_(path, value), source="m.yaml")
        return
    with pytest.raises(ModelError) as error:
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


@pytest.mark.parametrize(
    ("text", "ms"),
    [
        ("500ms", 500),
        ("90s", 90_000),
        ("15m", 900_000),
        ("12h", 43_200_000),
        ("30d", 2_592_000_000),
        ("2w", 1_209_600_000),
        ("1.5h", 5_400_000),
        ("never", 0),
    ],
)
def test_durations(text, ms):
    assert parse_duration(text) == ms
    assert parse_duration(format_duration(ms)) == ms


def test_validate_model_command(tmp_path: Path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: bad\nversion: 1\nchange_note: x\nrules:\n  - {id: r, event: email_open, points: many}\n")
    runner = CliRunner()
    ok = runner.invoke(app, ["validate-model", str(example_model_path("b2b")), str(example_model_path("b2c"))])
    assert ok.exit_code == 0, ok.output
    assert "b2b v2, 23 rules" in ok.output and "b2c v1" in ok.output
    failed = runner.invoke(app, ["validate-model", str(example_model_path("b2b")), str(bad)])
    assert failed.exit_code == 2
    assert "bad.yaml: rules[0] (id 'r').points: expected a number" in failed.output
    assert "Traceback" not in failed.output


def test_worker_refuses_to_start_with_an_invalid_model(tmp_path: Path, monkeypatch):
    bad = tmp_path / "bad.yaml"
    bad.write_text("id: bad\nversion: 1\nchange_note: x\nrules:\n  - {id: r, event: email_open, points: 1, cap: 3}\n")
    monkeypatch.setenv("LEADSCORE_MODEL_PATHS", str(bad))
    result = CliRunner().invoke(app, ["worker", "--bootstrap", "127.0.0.1:1"])
    assert result.exit_code == 2
    assert "bad.yaml: rules[0] (id 'r').cap" in result.output
    assert "Traceback" not in result.output
