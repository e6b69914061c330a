"""Score-quality figures (scoring.evaluation, thresholds, calibration): exact cases, sklearn and properties."""

from __future__ import annotations

import itertools
import math
import random

import pytest
from hypothesis import given
from hypothesis import strategies as st
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss, roc_auc_score

from scoring.evaluation.calibration import calibrate, fit_platt
from scoring.evaluation.quality import NO_LEVEL, EvaluationError, by_level, deciles, evaluate, roc_auc
from scoring.evaluation.ranking import rank_buckets
from scoring.evaluation.thresholds import roc_curve, suggest_threshold, trade_off

# Scores drawn from a few values so that ties are common, with both classes present.
cohorts = st.lists(st.tuples(st.integers(-20, 20), st.booleans()), min_size=2, max_size=60).filter(
    lambda rows: 0 < sum(label for _, label in rows) < len(rows)
)


def _split(rows: list[tuple[int, bool]]) -> tuple[list[float], list[bool]]:
    return [float(score) for score, _ in rows], [label for _, label in rows]


def test_auc_matches_sklearn_on_random_tied_scores() -> None:
    rng = random.Random(3)
    for _ in range(20):
        scores = [float(rng.randint(0, 15)) for _ in range(300)]
        labels = [rng.random() < 0.1 + scores[i] / 40 for i in range(300)]
        assert roc_auc(scores, labels) == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)
        assert evaluate(scores, labels).roc_auc == pytest.approx(roc_auc_score(labels, scores), abs=1e-12)


@given(cohorts, st.sampled_from([lambda s: 3 * s + 7, lambda s: math.exp(s / 5), lambda s: s**3 + s]))
def test_auc_invariant_under_strictly_increasing_transforms(rows, transform) -> None:  # type: ignore[no-untyped-def]
    scores, labels = _split(rows)
    assert roc_auc([transform(s) for s in scores], labels) == pytest.approx(roc_auc(scores, labels), abs=1e-12)


@given(cohorts)
def test_auc_of_negated_scores_is_one_minus_auc(rows) -> None:  # type: ignore[no-untyped-def]
    scores, labels = _split(rows)
    assert roc_auc([-s for s in scores], labels) == pytest.approx(1 - roc_auc(scores, labels), abs=1e-12)


@given(cohorts)
def test_capture_never_grows_with_the_threshold(rows) -> None:  # type: ignore[no-untyped-def]
    scores, labels = _split(rows)
    table = trade_off(scores, labels)
    thresholds = [row.threshold for row in table]
    assert thresholds == sorted(set(scores), reverse=True)
    for higher, lower in itertools.pairwise(table):
        assert higher.share_captured <= lower.share_captured
        assert higher.share_passed < lower.share_passed
    assert table[-1].share_captured == 1.0 and table[-1].share_passed == 1.0
    for row in table:  # against a direct count
        passed = [label for score, label in zip(scores, labels, strict=True) if score >= row.threshold]
        assert row.passed == len(passed) and row.captured == sum(passed)


@given(cohorts)
def test_deciles_partition_the_leads_and_keep_ties_together(rows) -> None:  # type: ignore[no-untyped-def]
    scores, labels = _split(rows)
    table = deciles(scores, labels)
    assert [row.decile for row in table] == list(range(1, 11))
    assert sum(row.n for row in table) == len(scores)
    assert sum(row.conversions for row in table) == sum(labels)
    assert table[-1].cumulative_capture == pytest.approx(1.0)
    assigned = rank_buckets(scores)
    for i, j in [(i, j) for i in range(len(scores)) for j in range(len(scores))]:
        if scores[i] == scores[j]:
            assert assigned[i] == assigned[j]
        elif scores[i] > scores[j]:
            assert assigned[i] <= assigned[j]  # decile 1 holds the highest scores


def test_deciles_of_distinct_scores_are_equal_tenths() -> None:
    scores = [float(i) for i in range(100)]
    labels = [i >= 90 for i in range(100)]  # the top tenth converted
    table = deciles(scores, labels)
    assert [row.n for row in table] == [10] * 10
    assert table[0].conversion_rate == 1.0 and table[0].lift == pytest.approx(10.0)
    assert table[0].min_score == 90.0 and table[0].max_score == 99.0
    assert all(row.conversions == 0 for row in table[1:])
    assert all(row.cumulative_capture == 1.0 for row in table)


def test_levels_rates_and_lift() -> None:
    labels = [True, False, False, False, True, True, False, False]
    levels = ["SQL", "SQL", "MQL", "MQL", "MQL", NO_LEVEL, NO_LEVEL, NO_LEVEL]
    rows = by_level(labels, levels, order=["SQL", "MQL", NO_LEVEL, "unused"])
    assert [(r.level, r.n, r.conversions) for r in rows] == [("SQL", 2, 1), ("MQL", 3, 1), (NO_LEVEL, 3, 1)]
    assert rows[0].conversion_rate == 0.5 and rows[0].lift == pytest.approx(0.5 / (3 / 8))


def test_platt_fit_is_close_to_unregularised_logistic_regression() -> None:
    rng = random.Random(5)
    scores = [rng.gauss(50, 20) for _ in range(3000)]
    labels = [rng.random() < 1 / (1 + math.exp(-(-4 + 0.06 * s))) for s in scores]
    intercept, slope = fit_platt(scores, labels)
    reference = LogisticRegression(C=1e12, max_iter=1000).fit([[s] for s in scores], labels)
    # Platt's soft targets pull the fit slightly towards the base rate; with 3,000 leads the difference is small.
    assert slope == pytest.approx(reference.coef_[0][0], rel=0.02)
    assert intercept == pytest.approx(reference.intercept_[0], rel=0.02)
    report = evaluate(scores, labels)
    predicted = [report.calibration.probability(s) for s in scores]
    assert report.calibration.brier_score == pytest.approx(brier_score_loss(labels, predicted), abs=1e-12)
    assert report.calibration.brier_score < report.calibration.brier_reference
    for bucket in report.calibration.buckets:  # a well specified mapping is calibrated bucket by bucket
        assert bucket.mean_predicted == pytest.approx(bucket.observed_rate, abs=0.08)


def test_a_calibration_line_given_by_the_model_is_checked_not_refitted() -> None:
    scores = [float(s) for s in range(20)]
    labels = [s >= 12 for s in range(20)]
    own = calibrate(scores, labels, (-5.0, 0.4, "300 training leads"))
    assert (own.intercept, own.slope) == (-5.0, 0.4) and "learnt on 300 training leads" in own.method
    expected = (
        sum((1 / (1 + math.exp(-(-5.0 + 0.4 * s))) - float(y)) ** 2 for s, y in zip(scores, labels, strict=True)) / 20
    )
    assert own.brier_score == pytest.approx(expected)
    assert own.brier_score > calibrate(scores, labels).brier_score  # in-sample fits these leads better


def test_platt_fit_stays_finite_when_scores_separate_perfectly() -> None:
    scores = [0.0, 1.0, 2.0, 10.0, 11.0]
    labels = [False, False, False, True, True]
    intercept, slope = fit_platt(scores, labels)
    assert math.isfinite(intercept) and 0 < slope < 100
    report = evaluate(scores, labels)
    assert report.roc_auc == 1.0
    assert report.calibration.probability(11.0) > 0.5 > report.calibration.probability(0.0)


def test_youden_and_target_capture_suggestions() -> None:
    scores = [9.0, 8.0, 7.0, 6.0, 5.0, 4.0, 3.0, 2.0, 1.0, 0.0]
    labels = [True, True, False, True, False, False, True, False, False, False]
    rows = trade_off(scores, labels)
    youden = suggest_threshold(rows)
    best_j = max(row.youden_j for row in rows)
    assert youden.youden_j == pytest.approx(best_j) and youden.method == "youden"
    assert youden.threshold == 6.0  # J = 3/4 - 1/6 at 6.0, ties broken to the highest threshold
    target = suggest_threshold(rows, target_capture=1.0)
    assert target.threshold == 3.0 and target.share_captured == 1.0 and target.share_passed == 0.7
    half = suggest_threshold(rows, target_capture=0.5)
    assert half.threshold == 8.0 and half.rate_above == 1.0
    with pytest.raises(ValueError):
        suggest_threshold(rows, target_capture=1.5)


def test_roc_curve_runs_from_origin_to_corner_and_its_area_is_the_auc() -> None:
    rng = random.Random(9)
    scores = [float(rng.randint(0, 30)) for _ in range(500)]
    labels = [rng.random() < scores[i] / 40 for i in range(500)]
    curve = roc_curve(trade_off(scores, labels))
    assert (curve[0].false_positive_rate, curve[0].true_positive_rate) == (0.0, 0.0)
    assert (curve[-1].false_positive_rate, curve[-1].true_positive_rate) == (1.0, 1.0)
    area = sum(
        (b.false_positive_rate - a.false_positive_rate) * (a.true_positive_rate + b.true_positive_rate) / 2
        for a, b in itertools.pairwise(curve)
    )
    assert area == pytest.approx(roc_auc(scores, labels), abs=1e-12)


def test_one_class_or_empty_cohort_is_a_clear_error() -> None:
    with pytest.raises(EvaluationError, match="no conversions"):
        evaluate([1.0, 2.0], [False, False])
    with pytest.raises(EvaluationError, match="only conversions"):
        evaluate([1.0, 2.0], [True, True])
    with pytest.raises(EvaluationError, match="empty"):
        evaluate([], [])
