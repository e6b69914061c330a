"""The plots of the evaluation report, as PNG bytes (matplotlib, Agg backend: no display needed)."""

from __future__ import annotations

import io
from collections.abc import Sequence

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt
from matplotlib.figure import Figure

from streams.analysis.evaluate.runner import ModelEvaluation

SIZE = (6.4, 4.2)


def roc_png(models: Sequence[ModelEvaluation]) -> bytes:
    """ROC curves of every model, overlaid, with the chance diagonal."""
    figure, axes = plt.subplots(figsize=SIZE)
    axes.plot([0, 1], [0, 1], linestyle=":", color="grey", label="chance (AUC 0.5)")
    for model in models:
        curve = model.report.roc_curve
        axes.plot(
            [p.false_positive_rate for p in curve],
            [p.true_positive_rate for p in curve],
            label=f"{model.model_id} v{model.model_version} (AUC {model.report.roc_auc:.3f})",
        )
    axes.set(xlabel="false positive rate (share of non-converting leads passed)", ylabel="share of conversions")
    axes.set_title("ROC curve")
    axes.legend(loc="lower right")
    return _png(figure)


def deciles_png(model: ModelEvaluation) -> bytes:
    """Conversion rate (bars) and lift (line) per score decile, decile 1 = highest scores."""
    rows = [row for row in model.report.deciles if row.n]  # with many tied scores some deciles are empty
    figure, axes = plt.subplots(figsize=SIZE)
    labels = [str(row.decile) for row in rows]
    axes.bar(labels, [row.conversion_rate or 0.0 for row in rows], color="tab:blue", label="conversion rate")
    axes.axhline(model.report.base_rate, color="grey", linestyle=":", label="base rate")
    axes.set(xlabel="score decile (1 = highest scores; empty deciles left out)", ylabel="conversion rate")
    lift_axes = axes.twinx()
    lift_axes.plot(labels, [row.lift or 0.0 for row in rows], color="tab:orange", marker="o", label="lift")
    lift_axes.set_ylabel("lift vs base rate")
    axes.set_title(f"{model.model_id}: conversion rate and lift by decile")
    handles = axes.get_legend_handles_labels()
    more = lift_axes.get_legend_handles_labels()
    axes.legend(handles[0] + more[0], handles[1] + more[1], loc="upper right")
    return _png(figure)


def calibration_png(model: ModelEvaluation) -> bytes:
    """Observed conversion rate against predicted probability per bucket, and the diagonal of perfect calibration."""
    calibration = model.report.calibration
    figure, axes = plt.subplots(figsize=SIZE)
    top = max([b.mean_predicted for b in calibration.buckets] + [b.observed_rate for b in calibration.buckets] + [0.01])
    axes.plot([0, top], [0, top], linestyle=":", color="grey", label="perfect calibration")
    axes.plot(
        [b.mean_predicted for b in calibration.buckets],
        [b.observed_rate for b in calibration.buckets],
        marker="o",
        label=f"buckets (Brier {calibration.brier_score:.4f})",
    )
    axes.set(xlabel="predicted probability (Platt, in-sample)", ylabel="observed conversion rate")
    axes.set_title(f"{model.model_id}: calibration")
    axes.legend(loc="upper left")
    return _png(figure)


def tradeoff_png(model: ModelEvaluation) -> bytes:
    """Share of leads passed and share of conversions captured per threshold, the suggestion marked."""
    rows = model.report.thresholds
    suggestion = model.report.suggestion
    figure, axes = plt.subplots(figsize=SIZE)
    thresholds = [row.threshold for row in rows]
    marker = "o" if len(rows) <= 60 else None  # the candidates are the distinct scores: show them when few
    axes.plot(thresholds, [row.share_passed for row in rows], marker=marker, label="share of leads passed")
    axes.plot(thresholds, [row.share_captured for row in rows], marker=marker, label="share of conversions captured")
    axes.axvline(suggestion.threshold, color="tab:red", linestyle="--")
    axes.annotate(
        f"suggested {suggestion.threshold:g}\npasses {suggestion.share_passed:.0%}, "
        f"captures {suggestion.share_captured:.0%}",
        (suggestion.threshold, suggestion.share_captured),
        textcoords="offset points",
        xytext=(8, -30),
        color="tab:red",
    )
    axes.set(xlabel="threshold (lead passes when score >= threshold)", ylabel="share", ylim=(0, 1.05))
    axes.set_title(f"{model.model_id}: threshold trade-off")
    axes.legend(loc="upper right")
    return _png(figure)


def levels_png(model: ModelEvaluation) -> bytes:
    """Conversion rate per level (each lead's highest level at its moment)."""
    rows = model.report.levels
    figure, axes = plt.subplots(figsize=SIZE)
    axes.bar([row.level for row in rows], [row.conversion_rate for row in rows], color="tab:green")
    for index, row in enumerate(rows):
        axes.annotate(f"n={row.n}", (index, row.conversion_rate), ha="center", va="bottom")
    axes.axhline(model.report.base_rate, color="grey", linestyle=":", label="base rate")
    axes.set(xlabel="level at the lead's moment", ylabel="conversion rate")
    axes.set_title(f"{model.model_id}: conversion rate per level")
    axes.legend(loc="upper right")
    return _png(figure)


def _png(figure: Figure) -> bytes:
    buffer = io.BytesIO()
    figure.tight_layout()
    figure.savefig(buffer, format="png", dpi=90)
    plt.close(figure)
    return buffer.getvalue()
