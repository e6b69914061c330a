"""Issue 18's frictions, one test each: numeric bands, clean candidates, a converged regression, calibration learnt
on training only, levels and grades from the score distribution, conditional effects, the observation warning."""

from __future__ import annotations

import warnings

import numpy as np
import pytest
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

from scoring import LeadEvent, LeadProfile, parse_model
from scoring.evaluation.advice import behaviour_after_moment
from scoring.evaluation.calibration import fit_platt
from scoring.fitting.candidates import Candidate, generated_candidates, readable_id
from scoring.fitting.checks import Learnt, calibration_of
from scoring.fitting.modelfile import FittedRule, RuleStats, conditional_effect, grade_bands, hysteresis
from scoring.fitting.numeric import cut_points, numeric_candidates
from scoring.fitting.references import fit_references, judge_references
from scoring.fitting.regression import FitError, converged, logistic_regression
from scoring.fitting.selection import select_features

DAY = 86_400_000


def _event(lead: int, at_ms: int, **properties: str) -> LeadEvent:
    return LeadEvent(f"e-{lead}-{at_ms}", f"lead-{lead}", "site_visit", at_ms, "web", properties)


def test_a_numeric_property_becomes_readable_bands_that_a_model_file_accepts() -> None:
    events = [_event(n, 0, minutes=str(n % 40)) for n in range(400)]
    moments = {f"lead-{n}": DAY for n in range(400)}
    found = numeric_candidates(events, [], moments, min_support=30)
    assert [c.id for c in found][:2] == ["site-visit-minutes-lt-8", "site-visit-minutes-gte-8-lt-16"]
    assert found[-1].when == {"field": "properties.minutes", "gte": 32}
    assert found[1].when == {
        "all": [{"field": "properties.minutes", "gte": 8}, {"field": "properties.minutes", "lt": 16}]
    }
    rules = [{"id": c.id, "event": c.event, "when": c.when, "points": 1} for c in found]
    model = parse_model({"id": "m", "version": 1, "change_note": "bands", "rules": rules}, "m")
    assert len(model.rules) == 5 and all(c.generated for c in found)


def test_a_numeric_profile_field_gets_fit_bands_and_text_or_few_values_get_none() -> None:
    profiles = [
        LeadProfile(f"lead-{n}", 0, company_size=10 * n, attributes={"plan": "a" if n % 2 else "b"}) for n in range(300)
    ]
    moments = {f"lead-{n}": DAY for n in range(300)}
    found = numeric_candidates([], profiles, moments, min_support=30)
    assert {c.dimension for c in found} == {"fit"} and found[0].id == "company-size-lt-600"
    assert not any("plan" in c.id for c in found)  # text: equals rules only


def test_cut_points_leave_every_band_enough_leads() -> None:
    values = [0.0] * 90 + [float(v) for v in range(1, 11)]  # 90 % zeros: no cut below the first non-zero value
    assert cut_points(values, min_support=5) == [1.0]  # zeros below, the ten others above
    assert cut_points(values, min_support=20) == []  # only 10 values above 0


@pytest.mark.parametrize(
    ("text", "expected"),
    [("site-visit-duration-<1m", "site-visit-duration-lt-1m"), ("campaign-11+", "campaign-11-plus")],
)
def test_comparison_signs_are_spelt_out_in_rule_ids(text: str, expected: str) -> None:
    assert readable_id(text) == expected
    assert readable_id("site-visit-duration-1m") != readable_id("site-visit-duration-<1m")


def test_selection_keeps_one_feature_per_effect_and_says_why_it_dropped_the_others() -> None:
    rng = np.random.default_rng(0)
    visits = rng.poisson(3.0, 500).astype(np.float64)
    nearly = visits * 0.5 + (rng.random(500) < 0.02)  # the same visits under another half-life, say
    rare = (np.arange(500) < 5).astype(np.float64)  # 5 leads: +11 points from a handful of outcomes
    shared = (np.arange(500) >= 3).astype(np.float64)  # all but 3 leads
    other = (rng.random(500) < 0.4).astype(np.float64)
    x = np.column_stack([visits, visits.copy(), nearly, rare, shared, np.ones(500), other, 1 - other])
    ids = ["visit", "site-visit", "visit-slow", "tiny", "nearly-everyone", "constant", "other", "not-other"]
    selection = select_features(x, ids, min_support=30)
    assert [ids[i] for i in selection.columns] == ["visit", "other"]
    assert selection.dropped["not-other"].startswith("the complement of other")
    assert selection.dropped["site-visit"] == "same as visit"
    assert selection.dropped["visit-slow"].startswith("near duplicate of visit (r +0.9")
    assert "only 5 training leads" in selection.dropped["tiny"]
    assert "only 3 training leads" in selection.dropped["nearly-everyone"]
    assert selection.dropped["constant"] == "the same for every training lead"


def test_the_regression_converges_on_unscaled_counts_and_gives_coefficients_per_raw_unit() -> None:
    rng = np.random.default_rng(1)
    minutes = rng.gamma(2.0, 400.0, 2000)  # minutes on site: thousands, where lbfgs on raw values gives up
    flag = (rng.random(2000) < 0.3).astype(np.float64)
    y = (rng.random(2000) < 1 / (1 + np.exp(-(-2 + 0.001 * minutes + flag)))).astype(np.int_)
    x = np.column_stack([minutes, flag])
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        regression = logistic_regression(x, y, c=1.0)
    scaled = LogisticRegression().fit(StandardScaler().fit_transform(x), y)
    raw = scaled.coef_[0] / x.std(axis=0)
    assert regression.coefficients == pytest.approx(tuple(raw), rel=1e-3)
    assert regression.log_odds(x[:3]) == pytest.approx(
        list(scaled.decision_function(StandardScaler().fit(x).transform(x[:3]))), abs=1e-3
    )
    assert 0.0005 < regression.coefficients[0] < 0.002


def test_a_convergence_warning_becomes_a_fit_error() -> None:
    def unconverged() -> None:
        warnings.warn("lbfgs failed to converge", ConvergenceWarning, stacklevel=1)

    with pytest.raises(FitError, match="did not converge"):
        converged(unconverged, "the logistic regression")


def test_references_learn_on_the_same_features_and_give_probabilities() -> None:
    rng = np.random.default_rng(2)
    x = (rng.random((600, 3)) < 0.3).astype(np.float64) * 1000  # unscaled: the plain regression scales them
    y = (rng.random(600) < 0.2 + 0.4 * (x[:, 0] > 0)).astype(np.int_)
    judged = judge_references(fit_references(x, y), x, [bool(v) for v in y])
    assert set(judged) == {"regression", "boosting"}
    for figures in judged.values():
        assert figures.auc is not None and figures.auc > 0.65
        assert figures.brier is not None and figures.brier < 0.2


def test_the_calibration_is_the_platt_line_of_the_learning_leads_only() -> None:
    x = np.array([[1.0, 0.0], [0.0, 1.0], [1.0, 1.0], [0.0, 0.0]] * 25)
    y = np.array([1, 0, 1, 0] * 25, dtype=np.int_)
    y[:10] = 0
    learnt = Learnt(x, y, [0.0] * 100)
    scores = [float(v) for v in x @ np.array([7.0, -3.0])]
    assert calibration_of([7, -3], learnt) == pytest.approx(fit_platt(scores, [bool(v) for v in y]))


def test_hysteresis_and_grades_come_from_the_score_distribution_not_its_extremes() -> None:
    scores = [float(v) for v in range(100)]
    assert hysteresis(scores) == hysteresis([*scores, 10_000.0]) == 9  # 10 % of the 5th..95th percentile
    grades = grade_bands(["A", "B", "C", "D"], scores)
    assert grades == [{"name": "A", "min": 90}, {"name": "B", "min": 70}, {"name": "C", "min": 40}, {"name": "D"}]
    assert sum(s >= 90 for s in scores) == 10  # the top tenth is grade A
    assert grade_bands(["A", "B", "C", "D"], [0.0] * 50 + [5.0] * 50)[:3] == [
        {"name": "A", "min": 5},
        {"name": "B", "min": 4},
        {"name": "C", "min": 0},
    ]  # ties: floors still strictly decrease


def test_points_against_the_raw_conversion_rate_are_flagged_as_a_conditional_effect() -> None:
    unsubscribe = Candidate("unsubscribe", "engagement", "unsubscribe")
    halves = RuleStats(leads=100, converted=5)  # 5 % against 10 % overall
    assert conditional_effect(FittedRule(unsubscribe, 0.6, 9, halves), overall_rate=0.10)
    assert not conditional_effect(FittedRule(unsubscribe, -0.6, -9, halves), overall_rate=0.10)
    assert not conditional_effect(FittedRule(unsubscribe, 0.6, 9, RuleStats(100, 20)), overall_rate=0.10)


def test_a_moment_before_most_behaviour_is_warned_about() -> None:
    events = [_event(n, at) for n in range(10) for at in (0, DAY, 2 * DAY)]
    at_first_sight = {f"lead-{n}": 0 for n in range(10)}
    (warning,) = behaviour_after_moment(events, at_first_sight, 0)
    assert warning.startswith("67% of the observed leads' events happen after") and "--observe-after 0d" in warning
    assert behaviour_after_moment(events, {f"lead-{n}": 3 * DAY for n in range(10)}, 3 * DAY) == []


def test_a_profile_field_of_scattered_text_is_reported_not_silently_skipped() -> None:
    profiles = [
        LeadProfile(f"lead-{n}", 0, attributes={"city": f"city-{n}", "visits": str(n), "plan": "pro"})
        for n in range(80)
    ]
    moments = {f"lead-{n}": DAY for n in range(80)}
    skipped: dict[str, str] = {}
    found = generated_candidates([], profiles, moments, min_support=30, skipped=skipped)
    assert skipped == {"attributes.city": "80 distinct values, too many for equals rules (max 50)"}  # visits: bands
    assert [c.id for c in found] == ["plan-pro"]
