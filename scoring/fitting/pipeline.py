"""``leadscore fit`` end to end, pure: history and base model in, a fitted model file (text) and its figures out.

1. The training cohort (``scoring.evaluation.cohort``): leads first seen in the slice, labelled by conversion
   within the window.
2. Candidates (``scoring.fitting.candidates``, ``scoring.fitting.numeric``) valued as features by the engine
   (``scoring.fitting.regression``), cleaned (``scoring.fitting.selection``): one column per distinct effect.
3. Hold-out check (``scoring.fitting.checks``): learn on the leads first seen in the first ``1 - holdout`` of the
   slice, judge the last part: base model, fitted points (with their calibration), and the references
   (``scoring.fitting.references``) on the same features.
4. Refit on the whole slice; this is the model written, calibrated on the training scores.
5. Optionally a later test slice, judged the same way.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

import numpy as np
from threadpoolctl import threadpool_limits

from scoring.conversions import Conversion
from scoring.evaluation.advice import behaviour_after_moment
from scoring.evaluation.cohort import Cohort, CohortSpec, Observation
from scoring.evaluation.quality import roc_auc
from scoring.evaluation.slices import check_slices, sliced_cohort
from scoring.events import LeadEvent
from scoring.fitting.candidates import Candidate, base_candidates, features_model, generated_candidates
from scoring.fitting.checks import Learnt, holdout_check, later_slice_check
from scoring.fitting.modelfile import FittedRule, RuleStats, Written, fitted_model, rule_stats
from scoring.fitting.numeric import numeric_candidates
from scoring.fitting.options import FitOptions, FitProgress, SliceFigures
from scoring.fitting.regression import (
    FitError,
    Regression,
    Replay,
    choose_c,
    feature_matrix,
    logistic_regression,
    matrix,
)
from scoring.fitting.selection import select_features
from scoring.model.compile import ScoringModel, parse_model
from scoring.model.spec import ModelSpec
from scoring.profiles import LeadProfile

__all__ = ["FitProgress", "FitResult", "fit_history", "split_by_time"]


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
    unused: dict[str, str]  # candidates (and profile fields) left out before learning, with the reason
    candidates: int
    excluded: dict[str, int]
    slices: list[SliceFigures]
    intercept: float
    calibration: tuple[float, float] | None  # of the training scores (always there: the final model is scored)
    threshold: float | None
    coefficients: dict[str, float]
    warnings: list[str]  # what the user should know about the figures (the observation moment, ...)


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
    """Learn integer points from the history; see the module docstring for the steps. numpy's and scikit-learn's
    thread pools run one thread meanwhile: their workers busy-wait, which on a machine whose cores are shared made
    a fit several times slower than one thread."""
    with threadpool_limits(limits=1):
        return _fit_history(events, profiles, conversions, base_raw, options, progress or _Silent())


def _fit_history(
    events: Sequence[LeadEvent],
    profiles: Sequence[LeadProfile],
    conversions: Sequence[Conversion],
    base_raw: dict[str, Any],
    options: FitOptions,
    report: FitProgress,
) -> FitResult:
    base_spec = ModelSpec.model_validate(base_raw)
    base = parse_model(base_raw, base_spec.id)
    check_slices(options)
    spec = CohortSpec(options.window_ms, options.observe_after_ms, options.outcomes, data_end_ms=options.data_end_ms)
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
    scattered: dict[str, str] = {}
    found += generated_candidates(events, profiles, moments, options.min_support, found, scattered)
    found += numeric_candidates(events, profiles, moments, options.min_support, taken=found)
    features = features_model(base_spec, found)
    report.phase("features (training)", len(moments))
    rows = feature_matrix(replay, features, moments, report.advance)
    x_all, y_all = matrix(rows, training)
    selection = select_features(x_all, [c.id for c in found], options.min_support)
    columns = selection.columns
    if not columns:
        raise FitError("no candidate rule varies across enough training leads: nothing to learn (--min-support)")
    chosen = [found[i] for i in columns]
    given_c = options.c
    options = replace(options, c=given_c if given_c is not None else choose_c(x_all[:, columns], y_all))
    learn, held = split_by_time(training.observations, options.holdout)
    slices = [SliceFigures("training", len(training.observations), training.conversions)]
    model_id = options.model_id or f"{base_spec.id}-fitted"
    version = base_spec.version + 1 if model_id == base_spec.id else 1
    stats = rule_stats(rows, chosen, columns, learn, held)
    build = _Builder(base_spec, chosen, options, model_id, version, training, stats)
    if held and len({o.converted for o in learn}) == 2:
        learnt = Learnt(*_columns(rows, columns, learn), [base_scores[o.lead_id] for o in learn])
        x_held, _ = _columns(rows, columns, held)
        slices.append(holdout_check(replay, base_scores, build.points_model, learnt, held, x_held, given_c, report))
    regression = logistic_regression(x_all[:, columns], y_all, options.c or 1.0)
    draft = build.model(regression, None, slices)
    report.phase("fitted model (training)", len(moments))
    train_scores = replay.scores(parse_model(draft.raw, model_id), moments, report.advance)
    ordered_scores = [train_scores[o.lead_id] for o in training.observations]
    labels = [o.converted for o in training.observations]
    slices[0].auc = {"base": _auc([base_scores[o.lead_id] for o in training.observations], labels)}
    slices[0].auc["fitted"] = _auc(ordered_scores, labels)
    final = build.model(regression, (ordered_scores, labels), slices)
    model = parse_model(final.raw, model_id)
    if final.calibration is not None and (options.test_from_ms is not None or options.test_until_ms is not None):
        test_slice = sliced_cohort(events, profiles, conversions, spec, options.test_from_ms, options.test_until_ms)
        report.phase("test: base model", len(test_slice.observations))
        test, test_base_scores = replay.base_view(base, test_slice, report.advance)
        everyone = Learnt(x_all[:, columns], y_all, [base_scores[o.lead_id] for o in training.observations])
        figures = later_slice_check(
            replay, test, test_base_scores, model, final.calibration, features, columns, everyone, report
        )
        slices.append(figures)
        final = build.model(regression, (ordered_scores, labels), slices)
    return FitResult(
        final.text,
        model,
        final.rules,
        final.zero_rules,
        {**scattered, **selection.dropped},
        len(found),
        training.excluded,
        slices,
        regression.intercept,
        final.calibration,
        final.threshold,
        {c.id: coef for c, coef in zip(chosen, regression.coefficients, strict=True)},
        behaviour_after_moment(events, moments, options.observe_after_ms),
    )


def _columns(
    rows: dict[str, list[float]], columns: list[int], observations: list[Observation]
) -> tuple[np.ndarray[Any, np.dtype[np.float64]], np.ndarray[Any, np.dtype[np.int_]]]:
    x = np.array([[rows[o.lead_id][i] for i in columns] for o in observations], dtype=np.float64)
    x = x.reshape(len(observations), len(columns))
    return x, np.array([int(o.converted) for o in observations], dtype=np.int_)


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

    def points_model(self, regression: Regression) -> tuple[ScoringModel, list[int]] | None:
        """The points model of ``regression`` as the engine runs it, and its points per chosen column."""
        written = self.model(regression, None, [])
        points = {rule.candidate.id: rule.points for rule in written.rules}
        return parse_model(written.raw, self.model_id), [points.get(c.id, 0) for c in self.chosen]
