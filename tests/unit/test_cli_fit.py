"""``leadscore fit`` on the command line: files in, a valid model file and a JSON report out, one-line errors."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
import typer
import yaml
from typer.testing import CliRunner

from scoring import load_model
from streams.cli.main import app
from tests.unit.synthetic_history import synthetic_history

BASE = """\
id: small
version: 1
change_note: "starting point"
rules:
  - {id: demo-request, event: demo_request, points: 40}
  - {id: email-open, event: email_open, points: 1}
"""


@pytest.fixture(scope="module")
def files(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path, Path, Path]:
    directory = tmp_path_factory.mktemp("fit")
    events, profiles, conversions = synthetic_history(leads=600, days=120, seed=3).write(directory)
    base = directory / "small.yaml"
    base.write_text(BASE, encoding="utf-8")
    return events, profiles, conversions, base


def _args(files: tuple[Path, Path, Path, Path], out: Path, *extra: str) -> list[str]:
    events, profiles, conversions, base = files
    return [
        "fit",
        "--events",
        str(events),
        "--profiles",
        str(profiles),
        "--conversions",
        str(conversions),
        "--base-model",
        str(base),
        "--window",
        "60d",
        "--observe-after",
        "14d",
        "--min-support",
        "50",
        "--out",
        str(out),
        *extra,
    ]


def test_fit_writes_a_valid_model_and_a_report(files: tuple[Path, Path, Path, Path], tmp_path: Path) -> None:
    out, report = tmp_path / "fitted.yaml", tmp_path / "fit.json"
    extra = ["--first-seen-until", "2026-03-15", "--test-from", "2026-03-15", "--report", str(report)]
    result = CliRunner().invoke(app, _args(files, out, *extra))
    assert result.exit_code == 0, result.output
    model = load_model(out)
    assert model.id == "small-fitted" and model.rules
    figures = json.loads(report.read_text(encoding="utf-8"))
    assert [s["name"] for s in figures["slices"]] == ["training", "hold-out", "test"]
    test = figures["slices"][2]
    assert test["leads"] > 0 and set(test["auc"]) == {"base", "fitted", "regression", "boosting"}
    assert set(test["brier"]) == {"base", "fitted", "regression", "boosting"}
    assert [r["id"] for r in figures["rules"]] == [r.id for r in model.rules]
    assert "ROC AUC" in result.stdout and "demo-request" in result.stdout and "warning:" not in result.output
    validated = CliRunner().invoke(app, ["validate-model", str(out)])
    assert validated.exit_code == 0 and "small-fitted v1" in validated.output
    assert yaml.safe_load(out.read_text(encoding="utf-8"))["author"] == "leadscore fit"


def _one_line_error(result: object) -> str:
    output = result.output  # type: ignore[attr-defined]
    assert result.exit_code == 2, output  # type: ignore[attr-defined]
    assert "Traceback" not in output and output.count("\n") <= 2
    return str(output)


def test_missing_file_is_a_one_line_error(files: tuple[Path, Path, Path, Path], tmp_path: Path) -> None:
    _events, profiles, conversions, base = files
    args = _args((tmp_path / "nope.jsonl", profiles, conversions, base), tmp_path / "out.yaml")
    output = _one_line_error(CliRunner().invoke(app, args))
    assert "nope.jsonl" in output and "cannot read" in output
    assert not (tmp_path / "out.yaml").exists()


def test_no_conversions_in_the_slice_is_a_one_line_error(files: tuple[Path, Path, Path, Path], tmp_path: Path) -> None:
    args = _args(files, tmp_path / "out.yaml", "--first-seen-from", "2026-01-01", "--first-seen-until", "2026-01-02")
    empty = tmp_path / "none.jsonl"
    empty.write_text("", encoding="utf-8")
    args[args.index("--conversions") + 1] = str(empty)
    output = _one_line_error(CliRunner().invoke(app, args))
    assert "no conversions" in output


def test_bad_window_is_a_one_line_error(files: tuple[Path, Path, Path, Path], tmp_path: Path) -> None:
    args = _args(files, tmp_path / "out.yaml")
    args[args.index("--window") + 1] = "soon"
    output = _one_line_error(CliRunner().invoke(app, args))
    assert "--window 'soon'" in output


def test_without_the_analysis_extra_fit_says_what_to_install(monkeypatch, tmp_path):
    import sys

    from typer.testing import CliRunner

    from streams.cli.main import app

    monkeypatch.setitem(sys.modules, "sklearn", None)  # as in the worker image, which leaves the extra out
    result = CliRunner().invoke(app, ["fit", "--base-model", "x.yaml", "-w", "30d", "--out", str(tmp_path / "f.yaml")])
    assert result.exit_code == 2
    assert "leadscore fit needs sklearn: install leadscore with its 'analysis' extra" in result.output
    assert "Traceback" not in result.output


@pytest.mark.parametrize("command", ["fit", "evaluate", "score"])
def test_help_keeps_every_option_name_whole_at_80_columns(command: str) -> None:
    result = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "80"}, terminal_width=80)
    assert result.exit_code == 0, result.output
    assert max(len(line) for line in result.output.splitlines()) <= 80
    for param in typer.main.get_group(app).commands[command].params:
        for name in (*param.opts, *param.secondary_opts):
            if name.startswith("--"):
                assert re.search(rf"{re.escape(name)}\b(?!-)", result.output), f"{command} --help cuts {name}"


def test_fit_evaluate_and_score_give_shared_options_the_same_names_short_forms_and_types() -> None:
    commands = typer.main.get_group(app).commands
    options = {
        command: {param.name: param for param in commands[command].params if param.param_type_name == "option"}
        for command in ("fit", "evaluate", "score")
    }
    shared = 0
    for name in set(options["fit"]) | set(options["evaluate"]) | set(options["score"]):
        having = [params[name] for params in options.values() if name in params]
        if len(having) > 1:
            shared += 1
            assert len({tuple(p.opts) for p in having}) == 1, f"{name}: {[p.opts for p in having]}"
            assert len({p.metavar for p in having}) == 1, f"{name}: {[p.metavar for p in having]}"
    assert shared >= 11  # events, profiles, conversions, bootstrap, window, observe_after, outcome, dates, ...
    dates = [p for params in options.values() for p in params.values() if p.metavar == "DATE"]
    assert {p.name for p in dates} >= {"first_seen_from", "first_seen_until", "data_end", "at", "test_from"}


def test_fit_takes_c_for_conversions_data_end_and_needs_a_window(
    files: tuple[Path, Path, Path, Path], tmp_path: Path
) -> None:
    args = _args(files, tmp_path / "out.yaml", "--data-end", "2026-06-01", "--first-seen-until", "2026-03-01")
    args[args.index("--conversions")] = "-c"
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    window = args.index("--window")
    missing = CliRunner().invoke(app, args[:window] + args[window + 2 :])
    assert missing.exit_code == 2 and "--window" in missing.output
    bad = _args(files, tmp_path / "out.yaml", "--data-end", "June")
    assert "--data-end 'June': expected a date" in _one_line_error(CliRunner().invoke(app, bad))


def test_fit_warns_when_leads_are_scored_before_their_behaviour(
    files: tuple[Path, Path, Path, Path], tmp_path: Path
) -> None:
    args = _args(files, tmp_path / "out.yaml")
    args[args.index("--observe-after") + 1] = "0d"
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 0, result.output
    assert "warning:" in result.output and "--observe-after 0d" in result.output  # 14d: no warning (first test)
