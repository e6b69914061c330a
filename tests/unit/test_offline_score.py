import json
import random

from typer.testing import CliRunner

from scoring import example_model_path
from streams.cli.main import app


def generate(tmp_path, leads=60, events=1500, seed=4):
    result = CliRunner().invoke(app, ["generate", "--leads", str(leads), "--events", str(events), "--seed", str(seed)])
    assert result.exit_code == 0
    return result.stdout.splitlines()


def score(path, *extra):
    return CliRunner().invoke(app, ["score", "-m", str(example_model_path("b2b")), "-e", str(path), *extra])


def test_shuffled_history_prints_identical_scores(tmp_path):
    lines = generate(tmp_path)
    ordered, shuffled = tmp_path / "ordered.jsonl", tmp_path / "shuffled.jsonl"
    ordered.write_text("\n".join(lines) + "\n")
    random.Random(1).shuffle(lines)
    shuffled.write_text("\n".join(lines) + "\n")
    first, second = score(ordered), score(shuffled)
    assert first.exit_code == 0, first.output
    assert first.stdout == second.stdout
    rows = [json.loads(line) for line in first.stdout.splitlines()]
    assert len(rows) == len({row["lead_id"] for row in rows}) > 10
    assert all(row["model_id"] == "b2b" and row["top_contributors"] for row in rows)
    assert "scored 1500 events" in first.stderr


def test_profiles_feed_fit(tmp_path):
    events = tmp_path / "events.jsonl"
    events.write_text(
        json.dumps(
            {
                "event_id": "e1",
                "lead_id": "a",
                "type": "demo_request",
                "occurred_at": "2026-01-05T09:00:00Z",
                "source": "web",
            }
        )
        + "\n"
    )
    profiles = tmp_path / "profiles.jsonl"
    profiles.write_text(
        json.dumps({"lead_id": "a", "updated_at": 1767603600000, "email": "a@gmail.com", "title": "Financial Advisor"})
        + "\n"
    )
    result = score(events, "-p", str(profiles), "--top", "2")
    [row] = [json.loads(line) for line in result.stdout.splitlines()]
    assert (row["score"], row["engagement"], row["fit"], row["grade"]) == (-20.0, 40.0, -60.0, "D")
    assert row["top_contributors"] == [
        {"rule_id": "free-mail-financial-advisor", "value": -50.0},
        {"rule_id": "demo-request", "value": 40.0},
    ]


def test_bad_line_is_a_one_line_error_or_skipped(tmp_path):
    events = tmp_path / "events.jsonl"
    good = {"event_id": "e1", "lead_id": "a", "type": "email_open", "occurred_at": 1767603600000, "source": "x"}
    events.write_text(json.dumps(good) + "\n{not json\n" + json.dumps({**good, "type": "teleport"}) + "\n")
    failed = score(events)
    assert failed.exit_code == 2
    assert f"{events}:2:" in failed.stderr and "Traceback" not in failed.stderr
    skipped = score(events, "--skip-invalid")
    assert skipped.exit_code == 0
    assert "skipped 2 invalid" in skipped.stderr
    assert len(skipped.stdout.splitlines()) == 1


def test_levels_left_through_decay_are_gone_at_a_later_time(tmp_path):
    from pathlib import Path

    from tests.conftest import T0

    model = Path(__file__).parents[1] / "fixtures" / "fast-decay.yaml"
    events = tmp_path / "events.jsonl"
    lines = [
        {"event_id": f"e{i}", "lead_id": "l", "type": "demo_request", "occurred_at": T0, "source": "t"}
        for i in range(2)
    ]
    events.write_text("".join(json.dumps(line) + "\n" for line in lines))
    runner = CliRunner()
    now = runner.invoke(app, ["score", "-m", str(model), "-e", str(events)])
    later = runner.invoke(app, ["score", "-m", str(model), "-e", str(events), "--at", "2026-01-05T09:01:00"])
    assert json.loads(now.stdout)["levels"] == ["MQL"]
    row = json.loads(later.stdout)  # 60 s = 6 half-lives later: below the leave line of 50
    assert row["score"] < 50 and row["levels"] == []
