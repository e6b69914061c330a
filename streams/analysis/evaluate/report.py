"""The evaluation report as JSON (stable structure) and as one self-contained HTML file with embedded plots.

JSON (``format`` = ``leadscore.evaluation/1``; times ISO 8601 UTC; shares and rates in 0..1; a rate is null where
it has no leads)::

    {"format": "leadscore.evaluation/1",
     "cohort": {"window", "observe_after", "outcomes": [...], "first_seen_from", "first_seen_until", "data_end",
                "leads", "conversions", "excluded": {reason: count}, "skipped_records", "warnings"},
     "models": [{"model_id", "model_version", "outside_segment", "leads", "conversions", "base_rate", "roc_auc",
                 "suggested_threshold": {"method" ("youden" | "target_capture"), "target_capture", "threshold",
                                         "share_passed", "share_captured", "youden_j", "rate_above", "rate_below"},
                 "deciles": [{"decile" (1 = highest scores), "n", "conversions", "conversion_rate", "lift",
                              "cumulative_capture", "min_score", "max_score"}],
                 "levels": [{"level", "n", "conversions", "conversion_rate", "lift"}],
                 "calibration": {"method", "intercept", "slope", "brier_score", "brier_reference",
                                 "buckets": [{"bucket", "n", "mean_predicted", "observed_rate"}]},
                 "thresholds": [{"threshold", "passed", "captured", "share_passed", "share_captured",
                                 "false_positive_rate", "rate_above", "rate_below"}],
                 "roc_curve": [{"threshold", "false_positive_rate", "true_positive_rate"}]}]}

``thresholds`` and ``roc_curve`` keep at most about 200 evenly spread points (the AUC and the suggestion use all).
"""

from __future__ import annotations

import base64
import html
import json
from collections.abc import Sequence
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path
from typing import TypedDict

from scoring.durations import format_duration
from streams.analysis.evaluate.runner import EvaluationRun, ModelEvaluation

FORMAT = "leadscore.evaluation/1"


class CohortJson(TypedDict):
    window: str
    observe_after: str
    outcomes: Sequence[str]
    first_seen_from: str | None
    first_seen_until: str | None
    data_end: str | None
    leads: int
    conversions: int
    excluded: dict[str, int]
    skipped_records: int
    warnings: list[str]


class ModelJson(TypedDict):
    """One model's figures; the nested rows are the report dataclasses as dicts (``dataclasses.asdict``)."""

    model_id: str
    model_version: int
    outside_segment: int
    leads: int
    conversions: int
    base_rate: float
    roc_auc: float
    suggested_threshold: dict[str, object]
    deciles: list[dict[str, object]]
    levels: list[dict[str, object]]
    calibration: dict[str, object]
    thresholds: list[dict[str, object]]
    roc_curve: list[dict[str, object]]


class ReportJson(TypedDict):
    format: str
    cohort: CohortJson
    models: list[ModelJson]


def iso(ms: int | None) -> str | None:
    if ms is None:
        return None
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


def report_json(run: EvaluationRun) -> ReportJson:
    """The report as plain JSON data (see the module doc for the structure)."""
    spec = run.spec
    return {
        "format": FORMAT,
        "cohort": {
            "window": format_duration(spec.window_ms),
            "observe_after": format_duration(spec.observe_after_ms) if spec.observe_after_ms else "0d",
            "outcomes": sorted(spec.outcomes),
            "first_seen_from": iso(spec.first_seen_from_ms),
            "first_seen_until": iso(spec.first_seen_until_ms),
            "data_end": iso(run.data_end_ms),
            "leads": run.leads,
            "conversions": run.conversions,
            "excluded": dict(run.excluded),
            "skipped_records": run.skipped_records,
            "warnings": list(run.warnings),
        },
        "models": [model_json(model) for model in run.models],
    }


def model_json(model: ModelEvaluation) -> ModelJson:
    report = model.report
    return {
        "model_id": model.model_id,
        "model_version": model.model_version,
        "outside_segment": model.outside_segment,
        "leads": report.leads,
        "conversions": report.conversions,
        "base_rate": report.base_rate,
        "roc_auc": report.roc_auc,
        "suggested_threshold": asdict(report.suggestion),
        "deciles": [asdict(row) for row in report.deciles],
        "levels": [asdict(row) for row in report.levels],
        "calibration": asdict(report.calibration),
        "thresholds": [asdict(row) for row in report.thresholds],
        "roc_curve": [asdict(point) for point in report.roc_curve],
    }


def write_json(run: EvaluationRun, path: Path) -> None:
    path.write_text(json.dumps(report_json(run), indent=2) + "\n", encoding="utf-8")


def write_html(run: EvaluationRun, path: Path, generated_at_ms: int) -> None:
    """One self-contained HTML file: tables and PNG plots embedded as base64 (open it in any browser)."""
    path.write_text(report_html(run, generated_at_ms), encoding="utf-8")


def report_html(run: EvaluationRun, generated_at_ms: int) -> str:
    from streams.analysis.evaluate import plots

    data = report_json(run)
    cohort = data["cohort"]
    parts = [
        "<!doctype html><html><head><meta charset='utf-8'><title>leadscore evaluation</title>",
        f"<style>{_STYLE}</style></head><body><h1>leadscore evaluation</h1>",
        f"<p>Generated {_e(iso(generated_at_ms))}. Leads first seen {_e(cohort['first_seen_from'] or 'any time')} to "
        f"{_e(cohort['first_seen_until'] or 'any time')}, scored {_e(cohort['observe_after'])} after first seen, "
        f"converted = {_e('/'.join(cohort['outcomes']))} within {_e(cohort['window'])}; data up to "
        f"{_e(cohort['data_end'])}.</p>",
        _table(
            ["leads", "conversions", "skipped records", *[f"excluded: {r}" for r in cohort["excluded"]]],
            [[cohort["leads"], cohort["conversions"], cohort["skipped_records"], *cohort["excluded"].values()]],
        ),
        _table(
            [
                "model",
                "version",
                "leads",
                "conversions",
                "base rate",
                "ROC AUC",
                "suggested threshold",
                "passed",
                "captured",
                "Brier",
            ],
            [
                [
                    m.model_id,
                    m.model_version,
                    m.report.leads,
                    m.report.conversions,
                    _pct(m.report.base_rate),
                    f"{m.report.roc_auc:.3f}",
                    f"{m.report.suggestion.threshold:g}",
                    _pct(m.report.suggestion.share_passed),
                    _pct(m.report.suggestion.share_captured),
                    f"{m.report.calibration.brier_score:.4f}",
                ]
                for m in run.models
            ],
        ),
        "<h2>ROC curves</h2>",
        _img(plots.roc_png(run.models), "ROC curves"),
    ]
    for model in run.models:
        report = model.report
        s = report.suggestion
        how = "maximises Youden's J" if s.target_capture is None else f"captures at least {_pct(s.target_capture)}"
        parts += [
            f"<h2 id='model-{_e(model.model_id)}'>Model {_e(model.model_id)} v{model.model_version}</h2>",
            f"<p>ROC AUC {report.roc_auc:.3f} on {report.leads} leads ({report.conversions} conversions, base rate "
            f"{_pct(report.base_rate)}); {model.outside_segment} observed leads outside the model's segment.</p>",
            f"<p class='suggestion'>Suggested MQL threshold: <b>{s.threshold:g}</b> ({how}): passes "
            f"{_pct(s.share_passed)} of leads, captures {_pct(s.share_captured)} of conversions; conversion rate "
            f"{_pct(s.rate_above)} above, {_pct(s.rate_below)} below.</p>",
            _img(plots.tradeoff_png(model), "threshold trade-off"),
            "<h3>Score deciles</h3>",
            _table(
                ["decile", "scores", "leads", "conversions", "rate", "lift", "cumulative capture"],
                [
                    [
                        r.decile,
                        _range(r.min_score, r.max_score),
                        r.n,
                        r.conversions,
                        _pct(r.conversion_rate),
                        _num(r.lift),
                        _pct(r.cumulative_capture),
                    ]
                    for r in report.deciles
                ],
            ),
            _img(plots.deciles_png(model), "conversion rate and lift by decile"),
            "<h3>Levels</h3>",
            _table(
                ["level", "leads", "conversions", "rate", "lift"],
                [[r.level, r.n, r.conversions, _pct(r.conversion_rate), _num(r.lift)] for r in report.levels],
            ),
            _img(plots.levels_png(model), "conversion rate per level"),
            "<h3>Calibration</h3>",
            f"<p>{_e(report.calibration.method)}: p = 1 / (1 + exp(-({report.calibration.intercept:.4g} + "
            f"{report.calibration.slope:.4g} &times; score))). Brier score {report.calibration.brier_score:.4f} "
            f"(predicting the base rate for everyone: {report.calibration.brier_reference:.4f}).</p>",
            _img(plots.calibration_png(model), "calibration"),
        ]
    parts.append("</body></html>\n")
    return "\n".join(parts)


_STYLE = (
    "body{font-family:sans-serif;max-width:60em;margin:2em auto;color:#222}"
    "table{border-collapse:collapse;margin:1em 0}td,th{border:1px solid #ccc;padding:.2em .6em;text-align:right}"
    "th{background:#f3f3f3}.suggestion{background:#fff4e5;padding:.5em}img{max-width:100%}"
)


def _e(value: object) -> str:
    return html.escape(str(value))


def _pct(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _num(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.2f}"


def _range(low: float | None, high: float | None) -> str:
    return "n/a" if low is None or high is None else f"{low:g}..{high:g}"


def _table(header: Sequence[str], rows: Sequence[Sequence[object]]) -> str:
    head = "".join(f"<th>{_e(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{_e(cell)}</td>" for cell in row) + "</tr>" for row in rows)
    return f"<table><tr>{head}</tr>{body}</table>"


def _img(png: bytes, alt: str) -> str:
    return f"<img alt='{_e(alt)}' src='data:image/png;base64,{base64.b64encode(png).decode('ascii')}'>"
