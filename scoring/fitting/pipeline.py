"""``leadscore fit`` end to end, pure: history and base model in, a fitted model file (text) and its figures out.

1. The training cohort (``scoring.evaluation.cohort``): leads first seen in the slice, labelled by conversion
   within the window.
2. Candidates (``scoring.fitting.candidates``) valued as features by the engine (``scoring.fitting.regression``).
3. Hold-out check: learn on the leads first seen in the first ``1 - holdout`` of the slice, score the last part with
   the base model and the fitted points model (both by the engine, from model files) and the unrounded regression.
4. Refit on the whole slice; this is the model written. MQL at the Youden-optimal score on the training slice.
5. Optionally a later test slice: base model, written model and a plain logistic regression, compared by ROC AUC.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Protocol

import numpy as np
from numpy.typing import NDArray
from sklearn.linear_model import LogisticRegression

from scoring.conversions import Conversion
from scoring.evaluation.cohort import Cohort, CohortSpec, Observation
from scoring.evaluation.quality import roc_auc
from scoring.evaluation.slices import check_slices, sliced_cohort
from scoring.events import LeadEvent
from scoring.fitting.candidates import Candidate, base_candidates, features_model, generated_candidates
from scoring.fitting.modelfile import FittedRule, RuleStats, Written, fitted_model, rule_stats
from scoring.fitting.options import FitOptions, SliceFigures
from scoring.fitting.regression import (
    FitError,
    Regression,
    Replay,
    feature_matrix,
    informative_columns,
    logistic_regression,
    matrix,
)
from scoring.model.compile import ScoringModel, parse_model
from scoring.model.spec import ModelSpec
from scoring.profiles import LeadProfile


class FitProgress(Protocol):
    def phase(self, name: str, leads: int) -> None: ...
    def advance(self, leads: int) -> None: ...


class Classifier(Protocol):
    """A fitted scikit-learn classifier (scikit-learn ships no types): only what the test slice calls."""

    def decision_function(self, x: NDArray[np.float64]) -> NDArray[np.float64]: ...


class _Silent:
    def phase(self, name: str, leads: int) -> None:
        pass

    def advance(self, leads: int) -> None:
        pass


@dataclass
class FitResult:
    text: str  # the model file
    model: ScoringModel
    rules: list[FittedRule]  # the written rules, in file order
    zero_rules: list[str]  # candidates whose points rounded to 0 (left out)
    unused: list[str]  # candidates that were the same for every training lead, or repeated another (left out)
    candidates: int
    excluded: dict[str, int]
    slices: list[SliceFigures]
    intercept: float
    calibration: tuple[float, float] | None  # of the training scores (always there: the final model is scored)
    threshold: float | None
    coefficients: dict[str, float]


def _auc(scores: Sequence[float], labels: Sequence[bool]) -> float | None:
    try:
        return roc_auc(scores, labels)
    except ValueError:
        return None


def split_by_time(observations: Sequence[Observation], holdout: float) -> tuple[list[Observation], list[Observation]]:
    """The earlier ``1 - holdout`` of the leads by first-seen time to learn on, the rest held out; leads first
    seen at the same moment stay on one side (the later one)."""
    ordered = sorted(observations, key=lambda o: (o.first_seen_ms, o.lead_id))
    if holdout <= 0 or len(ordered) < 2:
        return ordered, []
    cut = ordered[min(len(ordered) - 1, max(1, math.ceil(len(ordered) * (1 - holdout))))].first_seen_ms
    return [o for o in ordered if o.first_seen_ms < cut], [o for o in ordered if o.first_seen_ms >= cut]


def fit_history(
    events: Sequence[LeadEvent],
    profiles: Sequence[LeadProfile],
    conversions: Sequence[Conversion],
    base_raw: dict[str, Any],
    options: FitOptions,
    progress: FitProgress | None = None,
) -> FitResult:
    """Learn integer points from the history; see the module docstring for the steps."""
    report = progress or _Silent()
    base_spec = ModelSpec.model_validate(base_raw)
    base = parse_model(base_raw, base_spec.id)
    check_slices(options)
    spec = CohortSpec(options.window_ms, options.observe_after_ms)
    replay = Replay.of(events, profiles)
    training = sliced_cohort(
        events, profiles, conversions, spec, options.first_seen_from_ms, options.first_seen_until_ms
    )
    report.phase("base model (training)", len(training.observations))
    training, base_scores = replay.base_view(base, training, report.advance)
    if not training.observations:
        raise FitError(f"no lead in the training slice has a complete window (left out: {training.excluded})")
    if training.conversions == 0:
        raise FitError(f"no conversions among the {len(training.observations)} leads of the training slice")
    moments = training.moments()
    found = base_candidates(base_spec)
    found += generated_candidates(events, profiles, moments, options.min_support, taken=found)
    features = features_model(base_spec, found)
    report.phase("features (training)", len(moments))
    rows = feature_matrix(replay, features, moments, report.advance)
    x_all, y_all = matrix(rows, training)
    columns = informative_columns(x_all)
    if not columns:
        raise FitError("no candidate rule varies across the training leads: nothing to learn")
    chosen = [found[i] for i in columns]
    learn, held = split_by_time(training.observations, options.holdout)
    slices = [SliceFigures("training", len(training.observations), training.conversions)]
    model_id = options.model_id or f"{base_spec.id}-fitted"
    version = base_spec.version + 1 if model_id == base_spec.id else 1
    stats = rule_stats(rows, chosen, columns, learn, held)
    build = _Builder(base_spec, chosen, options, model_id, version, training, stats)
    if held and len({o.converted for o in learn}) == 2:
        slices.append(_holdout(replay, base_scores, build, rows, columns, learn, held, report))
    regression = logistic_regression(x_all[:, columns], y_all, options.c)
    draft = build.model(regression, None, slices)
    report.phase("fitted model (training)", len(moments))
    train_scores = replay.scores(parse_model(draft.raw, model_id), moments, report.advance)
    ordered_scores = [train_scores[o.lead_id] for o in training.observations]
    labels = [o.converted for o in training.observations]
    slices[0].auc = {"base": _auc([base_scores[o.lead_id] for o in training.observations], labels)}
    slices[0].auc["fitted"] = _auc(ordered_scores, labels)
    final = build.model(regression, (ordered_scores, labels), slices)
    model = parse_model(final.raw, model_id)
    if options.test_from_ms is not None or options.test_until_ms is not None:
        test_slice = sliced_cohort(events, profiles, conversions, spec, options.test_from_ms, options.test_until_ms)
        report.phase("test: base model", len(test_slice.observations))
        test, test_base_scores = replay.base_view(base, test_slice, report.advance)
        plain = LogisticRegression().fit(x_all[:, columns], y_all)  # sklearn defaults (C=1.0), same features
        slices.append(_test(replay, test_base_scores, model, features, columns, test, plain, report))
        final = build.model(regression, (ordered_scores, labels), slices)
    return FitResult(
        final.text,
        model,
        final.rules,
        final.zero_rules,
        [c.id for i, c in enumerate(found) if i not in set(columns)],
        len(found),
        training.excluded,
        slices,
        regression.intercept,
        final.calibration,
        final.threshold,
        {c.id: coef for c, coef in zip(chosen, regression.coefficients, strict=True)},
    )


class _Builder:
    """Writes the fitted model for a regression, with the training and hold-out figures in its comments."""

    def __init__(
        self,
        base: ModelSpec,
        chosen: list[Candidate],
        options: FitOptions,
        model_id: str,
        version: int,
        training: Cohort,
        stats: dict[str, RuleStats],
    ) -> None:
        self.base, self.chosen, self.options = base, chosen, options
        self.model_id, self.version, self.training, self.stats = model_id, version, training, stats

    def model(
        self, regression: Regression, scored: tuple[list[float], list[bool]] | None, slices: list[SliceFigures]
    ) -> Written:
        return fitted_model(
            self.base,
            self.chosen,
            regression,
            self.options,
            self.model_id,
            self.version,
            self.training,
            scored,
            slices,
            self.stats,
        )


def _holdout(
    replay: Replay,
    base_scores: dict[str, float],
    build: _Builder,
    rows: dict[str, list[float]],
    columns: list[int],
    learn: list[Observation],
    held: list[Observation],
    report: FitProgress,
) -> SliceFigures:
    x_learn = np.array([[rows[o.lead_id][i] for i in columns] for o in learn], dtype=np.float64)
    y_learn = np.array([int(o.converted) for o in learn], dtype=np.int_)
    regression = logistic_regression(x_learn, y_learn, build.options.c)
    moments = {o.lead_id: o.scored_at_ms for o in held}
    labels = [o.converted for o in held]
    x_held = np.array([[rows[o.lead_id][i] for i in columns] for o in held], dtype=np.float64)
    figures = SliceFigures("hold-out", len(held), sum(labels))
    figures.auc = {
        "base": _auc([base_scores[o.lead_id] for o in held], labels),
        "fitted": None,  # stays None when every point rounds to 0 on the learning part
        "regression": _auc(regression.log_odds(x_held), labels),
    }
    try:
        points = parse_model(build.model(regression, None, []).raw, build.model_id)
    except FitError:
        return figures
    report.phase("hold-out: fitted model", len(moments))
    fitted_scores = replay.scores(points, moments, report.advance)
    figures.auc["fitted"] = _auc([fitted_scores[o.lead_id] for o in held], labels)
    return figures


def _test(
    replay: Replay,
    base_scores: dict[str, float],
    model: ScoringModel,
    features: ScoringModel,
    columns: list[int],
    test: Cohort,
    plain: Classifier,
    report: FitProgress,
) -> SliceFigures:
    moments = test.moments()
    labels = [o.converted for o in test.observations]
    figures = SliceFigures("test", len(moments), test.conversions)
    if not moments:
        return figures
    report.phase("test: features", len(moments))
    x_test, _ = matrix(feature_matrix(replay, features, moments, report.advance), test)
    report.phase("test: fitted model", len(moments))
    fitted_scores = replay.scores(model, moments, report.advance)
    figures.auc = {
        "base": _auc([base_scores[o.lead_id] for o in test.observations], labels),
        "fitted": _auc([fitted_scores[o.lead_id] for o in test.observations], labels),
        "regression": _auc([float(v) for v in plain.decision_function(x_test[:, columns])], labels),
    }
    return figures
