"""``leadscore models rescore`` on files: scores under a new model, the same lines as ``leadscore score``."""

from __future__ import annotations

import json
from collections import Counter, defaultdict
from datetime import UTC, datetime

import pytest
import yaml
from typer.testing import CliRunner

from streams.cli.main import app
from tests.conftest import SIMPLE_MODEL


@pytest.fixture(scope="module")
def history(tmp_path_factory):
    path = tmp_path_factory.mktemp("history") / "events.jsonl"
    result = CliRunner().invoke(app, ["generate", "--leads", "40", "--events", "800", "--seed", "3"])
    assert result.exit_code == 0, result.output
    path.write_text(result.stdout)
    return path


def doubled_model(tmp_path):
    """The simple model (points per event type, no decay) with every rule's points doubled, as version 2."""
    spec = yaml.safe_load(SIMPLE_MODEL.read_text())
    spec["version"] = 2
    spec["change_note"] = "Every rule's points doubled."
    for rule in spec["rules"]:
        rule["points"] *= 2
    path = tmp_path / "doubled.yaml"
    path.write_text(yaml.safe_dump(spec))
    return path, {rule["event"]: rule["points"] for rule in spec["rules"]}


def rows(text):
    return [json.loads(line) for line in text.splitlines()]


def test_doubled_points_give_the_sums_of_doubled_points(history, tmp_path):
    model, points = doubled_model(tmp_path)
    out = tmp_path / "rescored.jsonl"
    result = CliRunner().invoke(app, ["models", "rescore", "-m", str(model), "-e", str(history), "--out", str(out)])
    assert result.exit_code == 0, result.output
    expected: dict[str, float] = defaultdict(float)
    types: Counter[str] = Counter()
    for event in rows(history.read_text()):
        expected[event["lead_id"]] += points.get(event["type"], 0)
        types[event["type"]] += 1
    assert len(types) > 3  # the history exercises several rules
    rescored = rows(out.read_text())
    assert {row["lead_id"]: row["score"] for row in rescored} == pytest.approx(dict(expected))
    assert all(row["model_version"] == 2 for row in rescored)
    for row in rescored:
        score = row["score"]
        assert row["levels"] == [name for name, enter in (("MQL", 60), ("SQL", 100)) if score >= enter]
    assert f"rescored {len(expected)} leads from 800 events" in result.stderr


def test_out_lines_equal_score_output_for_the_same_model(history, tmp_path):
    model, _ = doubled_model(tmp_path)
    out = tmp_path / "rescored.jsonl"
    runner = CliRunner()
    rescored = runner.invoke(app, ["models", "rescore", "-m", str(model), "-e", str(history), "--out", str(out)])
    scored = runner.invoke(app, ["score", "-m", str(model), "-e", str(history)])
    assert rescored.exit_code == 0 and scored.exit_code == 0, rescored.output + scored.output
    assert out.read_text() == scored.stdout and len(scored.stdout.splitlines()) == 40


def test_at_leaves_later_events_out(history, tmp_path):
    model, points = doubled_model(tmp_path)
    events = rows(history.read_text())
    cut = sorted(event["occurred_at"] for event in events)[len(events) // 2]
    out = tmp_path / "early.jsonl"
    at = datetime.fromtimestamp(cut / 1000, UTC).strftime("%Y-%m-%dT%H:%M:%S")
    result = CliRunner().invoke(
        app, ["models", "rescore", "-m", str(model), "-e", str(history), "--at", at, "--out", str(out)]
    )
    assert result.exit_code == 0, result.output
    at_ms = int(datetime.fromisoformat(at).replace(tzinfo=UTC).timestamp() * 1000)
    expected: dict[str, float] = defaultdict(float)
    for event in events:
        if event["occurred_at"] <= at_ms:
            expected[event["lead_id"]] += points.get(event["type"], 0)
    early = rows(out.read_text())
    assert {row["lead_id"]: row["score"] for row in early} == pytest.approx(dict(expected))
    assert {row["at"] for row in early} == {at_ms}
    later = sum(1 for event in events if event["occurred_at"] > at_ms)
    assert later > 0 and f"left out {later} records after that time" in result.stderr


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ([], "give the history"),
        (["-e", "EVENTS", "--emit-crossings"], "need --bootstrap"),
        (["-e", "EVENTS", "--publish", "staging"], "need --bootstrap"),
        (["-e", "missing.jsonl"], "cannot read"),
        (["-b", "127.0.0.1:1", "--publish", "lead-scores"], "add --publish-live"),
        (["-b", "127.0.0.1:1", "--publish", "lead-events"], "another record type"),
    ],
)
def test_bad_input_is_a_one_line_error(history, args, message):
    args = [str(history) if arg == "EVENTS" else arg for arg in args]
    result = CliRunner().invoke(app, ["models", "rescore", "-m", str(SIMPLE_MODEL), *args])
    assert result.exit_code == 2
    assert message in result.output and "Traceback" not in result.output


def test_invalid_line_names_file_and_line_unless_skipped(tmp_path, history):
    broken = tmp_path / "broken.jsonl"
    broken.write_text(history.read_text() + '{"lead_id": "x"}\n')
    result = CliRunner().invoke(app, ["models", "rescore", "-m", str(SIMPLE_MODEL), "-e", str(broken)])
    assert result.exit_code == 2 and "broken.jsonl:801: missing field" in result.output
    skipped = CliRunner().invoke(
        app, ["models", "rescore", "-m", str(SIMPLE_MODEL), "-e", str(broken), "--skip-invalid"]
    )
    assert skipped.exit_code == 0 and "skipped 1 invalid" in skipped.stderr


def test_help_says_nothing_is_sent_to_live_topics_unless_asked():
    result = CliRunner().invoke(app, ["models", "rescore", "--help"])
    assert result.exit_code == 0
    assert "NOTHING IS SENT TO LIVE TOPICS UNLESS ASKED" in " ".join(result.output.split())
