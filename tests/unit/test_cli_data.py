"""``leadscore data``: the adapters from the command line, and one-line errors."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from scoring import Engine, load_model
from scoring.conversions import Outcome
from scoring.examples import example_model_path
from streams.analysis.history import history_from_files
from streams.analysis.offline import score_history
from streams.cli.main import app

runner = CliRunner()
BANK_EXCERPT = Path(__file__).parent.parent / "fixtures" / "bank-additional-excerpt.csv.gz"


def _one_line_error(result) -> str:  # type: ignore[no-untyped-def]
    assert result.exit_code == 2, result.output
    lines = result.output.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:"), result.output
    assert "Traceback" not in result.output
    return lines[0]


def test_olist_writes_files_history_from_files_reads(tmp_path: Path) -> None:
    result = runner.invoke(app, ["data", "olist", "--out", str(tmp_path / "olist")])
    assert result.exit_code == 0, result.output
    assert "events       8000" in result.output and "won          842" in result.output
    out = tmp_path / "olist"
    assert not (out / "profiles.jsonl").exists()
    history = history_from_files(out / "events.jsonl", None, out / "conversions.jsonl")
    assert (len(history.events), len(history.conversions), history.skipped) == (8000, 842, [])
    assert {c.lead_id for c in history.conversions} <= {e.lead_id for e in history.events}
    run = score_history(Engine([load_model(example_model_path("olist"))]), history.events)
    assert run.events == 8000 and len(run.states) == 8000  # the example model scores every event


def test_olist_lost_after_adds_lost_conversions(tmp_path: Path) -> None:
    result = runner.invoke(app, ["data", "olist", "--out", str(tmp_path), "--lost-after", "165d"])
    assert result.exit_code == 0, result.output
    history = history_from_files(tmp_path / "events.jsonl", None, tmp_path / "conversions.jsonl")
    outcomes = [c.outcome for c in history.conversions]
    assert outcomes.count(Outcome.WON) == 842 and outcomes.count(Outcome.LOST) > 0


def test_bank_writes_profiles_the_bank_model_scores(tmp_path: Path) -> None:
    result = runner.invoke(app, ["data", "bank", str(BANK_EXCERPT), "--out", str(tmp_path)])
    assert result.exit_code == 0, result.output
    history = history_from_files(tmp_path / "events.jsonl", tmp_path / "profiles.jsonl", tmp_path / "conversions.jsonl")
    assert len(history.events) == len(history.profiles) == 400 and history.conversions
    run = score_history(Engine([load_model(example_model_path("bank"))]), history.events, history.profiles)
    assert run.events == 400 and run.profiles == 400


def test_one_line_errors(tmp_path: Path) -> None:
    missing = _one_line_error(runner.invoke(app, ["data", "olist", "--out", str(tmp_path), "--mqls", "/no/mqls.csv"]))
    assert "/no/mqls.csv" in missing
    duration = _one_line_error(runner.invoke(app, ["data", "olist", "--out", str(tmp_path), "--lost-after", "soon"]))
    assert "--lost-after" in duration
    assert "/no/bank.csv" in _one_line_error(
        runner.invoke(app, ["data", "bank", "/no/bank.csv", "--out", str(tmp_path)])
    )
    assert "no such directory" in _one_line_error(runner.invoke(app, ["data", "replay", str(tmp_path / "nothing")]))
    assert "events.jsonl" in _one_line_error(runner.invoke(app, ["data", "replay", str(tmp_path)]))


def test_replay_to_an_unreachable_broker_is_a_one_line_error(tmp_path: Path) -> None:
    runner.invoke(app, ["data", "bank", str(BANK_EXCERPT), "--out", str(tmp_path)])
    result = runner.invoke(app, ["data", "replay", str(tmp_path), "--bootstrap", "127.0.0.1:1", "--timeout", "1"])
    assert "cannot reach 127.0.0.1:1" in _one_line_error(result)


def test_help_of_every_data_command() -> None:
    for command in ("olist", "bank", "replay"):
        result = runner.invoke(app, ["data", command, "--help"])
        assert result.exit_code == 0 and "Usage" in result.output
