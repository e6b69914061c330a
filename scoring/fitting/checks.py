"""The honest figures of a fit: every scorer learns on earlier leads and is judged on later ones it never saw.

- Hold-out: the points, their calibration and the references are learnt on the earlier part of the training slice
  and judged on its latest part.
- Test: the written model (learnt on the whole training slice, calibrated on it) and the references learnt on the
  same leads are judged on a later slice.

The fitted model's probability is its calibration (a Platt line fitted on the scores of the leads it learnt from,
``scoring.evaluation.calibration``) applied to the engine's score; the base model gets a Platt line the same way.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from scoring.evaluation.calibration import fit_platt
from scoring.evaluation.cohort import Cohort, Observation
from scoring.fitting.options import FitProgress, SliceFigures
from scoring.fitting.references import Judged, auc_of, fit_references, judge, judge_references
from scoring.fitting.regression import (
    FitError,
    Regression,
    Replay,
    choose_c,
    feature_matrix,
    logistic_regression,
    matrix,
)
from scoring.model.compile import ScoringModel


@dataclass(frozen=True)
class Learnt:
    """What the checks need of the leads a fit learns from: the features' values (chosen columns only), labels,
    and the base model's scores (calibrated on these leads too, so that it gets an honest Brier score)."""

    x: NDArray[np.float64]
    y: NDArray[np.int_]
    base: list[float]

    def base_probabilities(self, scores: Sequence[float]) -> list[float]:
        """The base model's scores as probabilities, by its Platt line on these leads."""
        return probabilities(fit_platt(self.base, [bool(v) for v in self.y]), scores)


def probabilities(calibration: tuple[float, float], scores: Sequence[float]) -> list[float]:
    a, b = calibration
    return [1 / (1 + math.exp(-min(700.0, max(-700.0, a + b * s)))) for s in scores]


def calibration_of(points: Sequence[int], learnt: Learnt) -> tuple[float, float]:
    """The Platt line of the points model on the leads it learnt from; their scores are ``x @ points`` (the
    written model has no floors or ceilings: the engine's score is exactly this sum)."""
    scores = [float(v) for v in learnt.x @ np.array(points, dtype=np.float64)]
    return fit_platt(scores, [bool(v) for v in learnt.y])


def _record(figures: SliceFigures, name: str, judged: Judged) -> None:
    figures.auc[name] = judged.auc
    figures.brier[name] = judged.brier


def holdout_check(
    replay: Replay,
    base_scores: dict[str, float],
    points_model: Callable[[Regression], tuple[ScoringModel, list[int]] | None],
    learn: Learnt,
    held: list[Observation],
    x_held: NDArray[np.float64],
    c: float | None,
    report: FitProgress,
) -> SliceFigures:
    """Figures of the hold-out: ``points_model`` writes the points model of a regression (None when every point
    rounds to 0) and gives its points per column; ``c`` None: chosen on the learning part."""
    labels = [o.converted for o in held]
    figures = SliceFigures("hold-out", len(held), sum(labels))
    base = [base_scores[o.lead_id] for o in held]
    _record(figures, "base", judge(learn.base_probabilities(base), labels))
    figures.auc["base"] = auc_of(base, labels)
    for name, judged in judge_references(fit_references(learn.x, learn.y), x_held, labels).items():
        _record(figures, name, judged)
    try:
        written = points_model(
            logistic_regression(learn.x, learn.y, c if c is not None else choose_c(learn.x, learn.y))
        )
    except FitError:
        written = None
    if written is None:
        figures.auc["fitted"] = figures.brier["fitted"] = None
        return figures
    model, points = written
    moments = {o.lead_id: o.scored_at_ms for o in held}
    report.phase("hold-out: fitted model", len(moments))
    scores = replay.scores(model, moments, report.advance)
    ordered = [scores[o.lead_id] for o in held]
    _record(figures, "fitted", judge(probabilities(calibration_of(points, learn), ordered), labels))
    figures.auc["fitted"] = auc_of(ordered, labels)  # the same ranking; exact even when probabilities round
    return figures


def later_slice_check(
    replay: Replay,
    test: Cohort,
    base_scores: dict[str, float],
    model: ScoringModel,
    calibration: tuple[float, float],
    features: ScoringModel,
    columns: list[int],
    learnt: Learnt,
    report: FitProgress,
) -> SliceFigures:
    """Figures of the test slice for the written ``model`` (with its training ``calibration``)."""
    moments = test.moments()
    labels = [o.converted for o in test.observations]
    figures = SliceFigures("test", len(moments), test.conversions)
    if not moments:
        return figures
    base = [base_scores[o.lead_id] for o in test.observations]
    _record(figures, "base", judge(learnt.base_probabilities(base), labels))
    figures.auc["base"] = auc_of(base, labels)
    report.phase("test: features", len(moments))
    x_test, _ = matrix(feature_matrix(replay, features, moments, report.advance), test)
    report.phase("test: fitted model", len(moments))
    scores = replay.scores(model, moments, report.advance)
    ordered = [scores[o.lead_id] for o in test.observations]
    _record(figures, "fitted", judge(probabilities(calibration, ordered), labels))
    figures.auc["fitted"] = auc_of(ordered, labels)
    for name, judged in judge_references(fit_references(learnt.x, learnt.y), x_test[:, columns], labels).items():
        _record(figures, name, judged)
    return figures
