"""``leadscore evaluate`` on files: a small synthetic history where one model's score tells converters apart."""

from __future__ import annotations

import json
import random
from pathlib import Path

import pytest
from sklearn.metrics import roc_auc_score
from typer.testing import CliRunner

from streams.cli.main import app
from tests.conftest import DAY, T0

GOOD_MODEL = """\
id: good
version: 3
change_note: "demo requests weigh most"
rules:
  - {id: page-view, event: page_view, points: 1}
  - {id: demo-request, event: demo_request, points: 30}
engagement: {floor: null}
levels:
  - {name: MQL, enter: 20}
  - {name: SQL, enter: 60}
"""
BLIND_MODEL = """\
id: blind
version: 1
change_note: "every page view the same"
rules:
  - {id: page-view, event: page_view, points: 5}
engagement: {floor: null}
"""
LEADS = 200
LATE_LEADS = 7  # first seen too late for their window to be over by --data-end
DATA_END = "2026-04-25"  # T0 + 110 days


def write_history(directory: Path, seed: int = 11) -> dict[str, bool]:
    """Events and conversions as JSON lines; returns each scoreable lead's demo-request flag, and label."""
    rng = random.Random(seed)
    events, conversions = [], []
    truth: dict[str, tuple[bool, bool]] = {}
    for i in range(LEADS + LATE_LEADS):
        lead = f"lead-{i:03d}"
        seen = T0 + (i % 60) * DAY if i < LEADS else T0 + 100 * DAY
        converts = rng.random() < 0.25
        demo = rng.random() < (0.8 if converts else 0.1)
        events.append({"event_id": f"{lead}-pv", "lead_id": lead, "type": "page_view", "occurred_at": seen})
        if demo:
            events.append({"event_id": f"{lead}-demo", "lead_id": lead, "type": "demo_request", "occurred_at": seen})
        if converts:
            conversions.append(
                {"conversion_id": f"c-{lead}", "lead_id": lead, "outcome": "WON", "occurred_at": seen + 10 * DAY}
            )
        if i < LEADS:
            truth[lead] = (demo, converts)
    (directory / "events.jsonl").write_text("".join(json.dumps(e) + "\n" for e in events))
    (directory / "conversions.jsonl").write_text("".join(json.dumps(c) + "\n" for c in conversions))
    (directory / "good.yaml").write_text(GOOD_MODEL)
    (directory / "blind.yaml").write_text(BLIND_MODEL)
    return {lead: demo for lead, (demo, _) in truth.items()} | {f"label:{k}": v for k, (_, v) in truth.items()}


def base_args(directory: Path) -> list[str]:
    return [
        "evaluate",
        "--model",
        str(directory / "good.yaml"),
        "--model",
        str(directory / "blind.yaml"),
        "--events",
        str(directory / "events.jsonl"),
        "--conversions",
        str(directory / "conversions.jsonl"),
        "--window",
        "30d",
        "--data-end",
        DATA_END,
    ]


@pytest.fixture
def history(tmp_path: Path) -> dict[str, bool]:
    return write_history(tmp_path)


def test_reports_auc_deciles_levels_and_suggestion(tmp_path: Path, history: dict[str, bool]) -> None:
    out_json, out_html = tmp_path / "report.json", tmp_path / "report.html"
    result = CliRunner().invoke(app, [*base_args(tmp_path), "--json", str(out_json), "--html", str(out_html)])
    assert result.exit_code == 0, result.output
    report = json.loads(out_json.read_text())
    leads = sorted(k for k in history if not k.startswith("label:"))
    demo = [history[lead] for lead in leads]
    labels = [history[f"label:{lead}"] for lead in leads]
    cohort = report["cohort"]
    assert report["format"] == "leadscore.evaluation/1"
    assert (cohort["leads"], cohort["conversions"]) == (LEADS, sum(labels))
    assert cohort["excluded"] == {"window not over by the end of the data": LATE_LEADS}
    assert cohort["window"] == "30d" and cohort["outcomes"] == ["WON"] and cohort["data_end"].startswith(DATA_END)
    good, blind = report["models"]
    assert (good["model_id"], good["model_version"], blind["model_id"]) == ("good", 3, "blind")
    # good scores 31 with a demo request and 1 without: its AUC is that of the demo flag
    assert good["roc_auc"] == pytest.approx(roc_auc_score(labels, demo), abs=1e-12)
    assert good["roc_auc"] > 0.8
    assert blind["roc_auc"] == 0.5  # every lead scores the same
    assert good["suggested_threshold"]["threshold"] == 31.0 and good["suggested_threshold"]["method"] == "youden"
    assert good["suggested_threshold"]["share_passed"] == pytest.approx(sum(demo) / LEADS)
    assert sum(row["n"] for row in good["deciles"]) == LEADS == sum(row["n"] for row in blind["deciles"])
    assert [row["decile"] for row in good["deciles"]] == list(range(1, 11))
    levels = {row["level"]: row for row in good["levels"]}
    assert set(levels) == {"MQL", "none"}
    assert levels["MQL"]["n"] == sum(demo)
    assert levels["MQL"]["conversions"] == sum(1 for d, y in zip(demo, labels, strict=True) if d and y)
    assert set(good["calibration"]) >= {"method", "intercept", "slope", "brier_score", "buckets"}
    assert "Platt" in good["calibration"]["method"]
    assert good["roc_curve"][0] == {"threshold": None, "false_positive_rate": 0.0, "true_positive_rate": 0.0}
    page = out_html.read_text()
    assert page.count("src='data:image/png;base64,iVBOR") == 1 + 4 * 2  # ROC overlay + 4 plots per model
    assert "Model good v3" in page and "Model blind v1" in page
    assert "good v3" in result.stdout and f"{good['roc_auc']:.3f}" in result.stdout
    assert f"{LATE_LEADS} leads excluded: window not over" in result.stdout


def test_target_capture_suggests_a_threshold_that_captures_that_share(tmp_path: Path, history: dict[str, bool]) -> None:
    out_json = tmp_path / "report.json"
    result = CliRunner().invoke(app, [*base_args(tmp_path), "--target-capture", "1.0", "--json", str(out_json)])
    assert result.exit_code == 0, result.output
    good = json.loads(out_json.read_text())["models"][0]["suggested_threshold"]
    assert good["method"] == "target_capture" and good["target_capture"] == 1.0
    assert good["share_captured"] == 1.0 and good["threshold"] == 1.0  # every lead must pass to capture all


def test_the_same_history_gives_the_same_json(tmp_path: Path, history: dict[str, bool]) -> None:
    """Two processes with different string hashing (set and dict orders differ between them) write the same bytes."""
    import os
    import subprocess
    import sys

    outputs = []
    for seed in ("1", "2"):
        out = tmp_path / f"seed-{seed}.json"
        command = [sys.executable, "-m", "streams.cli", *base_args(tmp_path), "--json", str(out)]
        done = subprocess.run(command, env={**os.environ, "PYTHONHASHSEED": seed}, capture_output=True, check=False)
        assert done.returncode == 0, done.stderr.decode()
        outputs.append(out.read_bytes())
    assert outputs[0] == outputs[1]


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (["--events", "missing.jsonl"], "missing.jsonl: no such file"),
        (["--data-end", "2026-13-01"], "--data-end '2026-13-01': expected a date"),
        (["--window", "soon"], "--window 'soon'"),
        (["--outcome", "LOST"], "no conversions in the cohort of 200 leads"),
        (["--outcome", "MAYBE"], "--outcome 'MAYBE': expected one of"),
        (["--target-capture", "1.5"], "--target-capture 1.5"),
        (["--follow", "1"], "--follow needs --bootstrap"),
        (["--bootstrap", "127.0.0.1:1"], "either --bootstrap or --events"),
    ],
)
def test_bad_input_is_a_one_line_error(tmp_path: Path, history: dict[str, bool], change, message) -> None:  # type: ignore[no-untyped-def]
    args = base_args(tmp_path)
    if change[0] in args:
        args[args.index(change[0]) + 1] = change[1]
    else:
        args += change
    result = CliRunner().invoke(app, args)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error:") and message in lines[0], result.stderr
    assert "Traceback" not in result.output


def test_scoring_leads_before_most_of_their_behaviour_is_warned_about(tmp_path: Path, history: dict[str, bool]) -> None:
    events = tmp_path / "events.jsonl"
    rows = [json.loads(line) for line in events.read_text().splitlines()]
    later = [
        {**row, "event_id": f"{row['event_id']}-{n}", "occurred_at": row["occurred_at"] + n * DAY}
        for row in rows
        for n in (2, 3)
    ]
    events.write_text("".join(json.dumps(row) + "\n" for row in rows + later))
    report = tmp_path / "report.json"
    result = CliRunner().invoke(app, [*base_args(tmp_path), "--json", str(report)])
    assert result.exit_code == 0, result.output
    assert "warning:" in result.output and "--observe-after 0d" in result.output
    (warning,) = json.loads(report.read_text())["cohort"]["warnings"]
    assert warning.startswith("67% of the observed leads' events happen after the moment they are scored")
    quiet = CliRunner().invoke(app, [*base_args(tmp_path), "--observe-after", "4d"])
    assert quiet.exit_code == 0 and "warning:" not in quiet.output
