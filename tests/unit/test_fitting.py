"""``leadscore fit`` in the domain: candidates, features with decay, points, the written model file."""

from __future__ import annotations

import math
import re
from pathlib import Path
from typing import Any

import pytest
import yaml
from hypothesis import given
from hypothesis import strategies as st

from scoring import example_model_path, load_model, parse_model
from scoring.fitting.candidates import features_model, generated_candidates
from scoring.fitting.options import FitOptions
from scoring.fitting.pipeline import FitResult, fit_history, split_by_time
from scoring.fitting.regression import FitError, Replay, feature_matrix, points_for, youden_threshold
from scoring.model.spec import ModelSpec
from scoring.model.writer import flow, model_yaml
from tests.unit.synthetic_history import OBSERVE_AFTER_MS, WINDOW_MS, SyntheticHistory, synthetic_history

BASE: dict[str, Any] = {
    "id": "signals",
    "version": 3,
    "change_note": "hand-written starting point",
    "lists": {"free_mail": ["gmail.com", "yahoo.com", "hotmail.com"]},
    "engagement": {"half_life": "30d", "floor": 0},
    "rules": [
        {"id": "demo-request", "event": "demo_request", "points": 40, "once_per": "7d"},
        {
            "id": "pricing-page",
            "event": "page_view",
            "when": {"field": "properties.path", "starts_with": "/pricing"},
            "points": 10,
            "cap": {"points": 20, "per": "1d"},
        },
        {"id": "email-open", "event": "email_open", "points": 1},
        {
            "id": "free-mail",
            "dimension": "fit",
            "when": {"field": "email_domain", "in_list": "free_mail"},
            "points": -10,
        },
    ],
    "levels": [{"name": "MQL", "enter": 50, "leave": 40}],
}
IDENTIFIER = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")


@pytest.fixture(scope="module")
def history() -> SyntheticHistory:
    return synthetic_history()


def _fit(history: SyntheticHistory, base: dict[str, Any], **options: Any) -> FitResult:
    settings = FitOptions(WINDOW_MS, OBSERVE_AFTER_MS, **options)
    return fit_history(history.events, history.profiles, history.conversions, base, settings)


@pytest.fixture(scope="module")
def fitted(history: SyntheticHistory) -> FitResult:
    return _fit(history, BASE, min_support=30)


def _points(result: FitResult) -> dict[str, int]:
    return {rule.candidate.id: rule.points for rule in result.rules}


def test_points_follow_the_signals_that_drive_conversion(fitted: FitResult) -> None:
    points = _points(fitted)
    assert points["demo-request"] > points["pricing-page"] > 0 > points["free-mail"]
    assert abs(points.get("email-open", 0)) < points["pricing-page"]  # opens do not change the odds
    assert points["demo-request"] == points_for(fitted.coefficients["demo-request"], 10.0)
    holdout = next(s for s in fitted.slices if s.name == "hold-out")
    assert holdout.auc["fitted"] is not None and holdout.auc["fitted"] > 0.7


def test_written_model_validates_loads_back_and_has_integer_points(fitted: FitResult, tmp_path: Path) -> None:
    path = tmp_path / "fitted.yaml"
    path.write_text(fitted.text, encoding="utf-8")
    model = load_model(path)
    raw = yaml.safe_load(fitted.text)
    assert (model.id, model.version) == ("signals-fitted", 1)
    assert [rule.id for rule in model.rules] == [rule.candidate.id for rule in fitted.rules]
    assert all(type(rule["points"]) is int and rule["points"] != 0 for rule in raw["rules"])
    assert {rule.id: rule.points for rule in model.rules} == _points(fitted)
    assert model.engagement.floor is None and model.engagement.ceiling is None  # the score stays linear
    pricing = model.by_id["pricing-page"]
    assert (pricing.cap_count, pricing.cap_per_ms) == (2, 86_400_000)  # the cap counts events, as the feature did
    assert model.levels[0].name == "MQL" and model.levels[0].enter == fitted.threshold
    assert "Regression intercept" in fitted.text and fitted.model.change_note.startswith("Fitted from signals v3")


@pytest.mark.parametrize("base", ["signals", "b2b"])
def test_engine_score_is_the_linear_predictor(history: SyntheticHistory, fitted: FitResult, base: str) -> None:
    raw = BASE if base == "signals" else yaml.safe_load(example_model_path("b2b").read_text(encoding="utf-8"))
    result = fitted if base == "signals" else _fit(history, raw, min_support=100)
    features = features_model(ModelSpec.model_validate(raw), [rule.candidate for rule in result.rules])
    replay = Replay.of(history.events, history.profiles)
    moments = {o.lead_id: o.first_seen_ms + OBSERVE_AFTER_MS for o in _training(history)}
    rows = feature_matrix(replay, features, moments)
    scores = replay.scores(result.model, moments)
    points = [rule.points for rule in result.rules]
    assert any(0 < value < 1 for row in rows.values() for value in row)  # decay shows in the features
    for lead, row in rows.items():
        linear = sum(p * x for p, x in zip(points, row, strict=True))
        assert scores[lead] == pytest.approx(linear, rel=1e-9, abs=1e-9)


def _training(history: SyntheticHistory) -> list[Any]:
    from scoring.evaluation.cohort import CohortSpec, build_cohort

    spec = CohortSpec(WINDOW_MS, OBSERVE_AFTER_MS)
    return build_cohort(history.events, history.profiles, history.conversions, spec).observations


def test_generated_candidates_need_support_and_get_unique_readable_ids(history: SyntheticHistory) -> None:
    moments = {o.lead_id: o.scored_at_ms for o in _training(history)}
    base = generated_candidates(history.events, history.profiles, moments, 10**6)
    found = generated_candidates(history.events, history.profiles, moments, 100, taken=base)
    ids = [c.id for c in base + found]
    assert len(ids) == len(set(ids)) and all(IDENTIFIER.match(i) for i in ids)
    whens = [c.when for c in found if c.when is not None]
    assert {"field": "properties.path", "equals": "/pricing"} in whens
    assert {"field": "industry", "equals": "software"} in whens
    assert not any(w["field"] == "email_domain" and w["equals"].startswith("company") for w in whens)  # < support
    assert "page-view-path-pricing" in ids


def test_no_conversions_in_the_slice_is_an_error(history: SyntheticHistory) -> None:
    with pytest.raises(FitError, match="no conversions"):
        fit_history(history.events, history.profiles, [], BASE, FitOptions(WINDOW_MS, OBSERVE_AFTER_MS))


def test_keep_levels_and_same_id_bumps_the_version(history: SyntheticHistory) -> None:
    result = _fit(history, BASE, min_support=30, keep_levels=True, model_id="signals", holdout=0.0)
    assert (result.model.id, result.model.version) == ("signals", 4)
    assert [(lv.name, lv.enter, lv.leave) for lv in result.model.levels] == [("MQL", 50, 40)]
    assert [s.name for s in result.slices] == ["training"]


def test_split_by_time_keeps_earlier_leads_for_learning() -> None:
    from scoring.evaluation.cohort import Observation

    observations = [Observation(f"l{i}", (i // 3) * 1000, (i // 3) * 1000, i % 2 == 0) for i in range(20)]
    learn, held = split_by_time(observations, 0.25)
    assert max(o.first_seen_ms for o in learn) < min(o.first_seen_ms for o in held)
    assert len(learn) + len(held) == 20 and 0.6 <= len(learn) / 20 <= 0.8


@given(st.floats(-50, 50), st.floats(-50, 50), st.floats(1, 40))
def test_points_keep_the_sign_and_grow_with_the_coefficient(a: float, b: float, pdo: float) -> None:
    pa, pb = points_for(a, pdo), points_for(b, pdo)
    assert pa == 0 or math.copysign(1, pa) == math.copysign(1, a)
    if abs(a) <= abs(b):
        assert abs(pa) <= abs(pb)
    assert abs(pa - a * pdo / math.log(2)) <= 0.5 + 1e-9


@given(st.lists(st.tuples(st.floats(-100, 100), st.booleans()), min_size=2, max_size=60))
def test_youden_threshold_is_the_best_whole_cut(pairs: list[tuple[float, bool]]) -> None:
    scores, labels = [s for s, _ in pairs], [label for _, label in pairs]
    best = youden_threshold(scores, labels)
    if all(labels) or not any(labels):
        assert best is None
        return

    def j(cut: int) -> float:
        tpr = sum(1 for s, y in pairs if y and s >= cut) / sum(labels)
        fpr = sum(1 for s, y in pairs if not y and s >= cut) / (len(labels) - sum(labels))
        return tpr - fpr

    cuts = {math.floor(s) for s in scores}
    top = max(j(cut) for cut in cuts)
    if best is None:
        assert top <= 1e-12
    else:
        assert j(best) == pytest.approx(top) and best == max(c for c in cuts if j(c) >= top - 1e-12)


@given(st.text(min_size=1, max_size=30))
def test_written_strings_read_back_unchanged(text: str) -> None:
    assert yaml.safe_load(flow({"value": text, "list": [text]})) == {"value": text, "list": [text]}


def test_model_text_round_trips_a_model(tmp_path: Path) -> None:
    raw = yaml.safe_load(example_model_path("b2b").read_text(encoding="utf-8"))
    text = model_yaml(raw, header=["a header"], rule_comments={"demo-request": ["why demo"]})
    assert yaml.safe_load(text) == raw and "# why demo\n  - {id: demo-request" in text
    assert max(len(line) for line in text.splitlines()) <= 120
    assert parse_model(yaml.safe_load(text)).rules == load_model(example_model_path("b2b")).rules


def test_a_test_slice_that_overlaps_the_training_slice_is_refused(history: SyntheticHistory) -> None:
    from scoring.evaluation.slices import SliceError

    start = min(p.updated_at_ms for p in history.profiles)
    middle = start + 10 * 86_400_000
    with pytest.raises(SliceError, match="overlaps the training slice"):
        _fit(history, BASE, first_seen_from_ms=start, first_seen_until_ms=middle, test_until_ms=middle)
    with pytest.raises(SliceError, match="--window must be positive"):
        fit_history(history.events, history.profiles, history.conversions, BASE, FitOptions(0, OBSERVE_AFTER_MS))


def test_a_base_model_with_a_segment_learns_and_is_judged_on_its_segment_only(
    history: SyntheticHistory, fitted: FitResult
) -> None:
    """Leads outside the segment are never scored by the model: fitting on them would report figures for nobody."""
    from dataclasses import replace as with_changes

    half = sorted({p.lead_id for p in history.profiles})[::2]
    profiles = [
        with_changes(p, attributes={**p.attributes, "segment": "smb"}) if p.lead_id in half else p
        for p in history.profiles
    ]
    segmented = {**BASE, "segment": {"field": "attributes.segment", "equals": "smb"}}
    options = FitOptions(WINDOW_MS, OBSERVE_AFTER_MS, min_support=30)
    result = fit_history(history.events, profiles, history.conversions, segmented, options)
    whole = fitted  # the same history and options, without the segment
    assert result.excluded["outside the base model's segment"] == whole.slices[0].leads - result.slices[0].leads
    assert 0.3 < result.slices[0].leads / whole.slices[0].leads < 0.7  # about half the leads are in the segment
    assert result.slices[0].auc["base"] > 0.6  # the base model scores them (outside, every score would be 0)


def test_a_string_ending_in_a_newline_is_quoted() -> None:
    """``$`` matches before a final newline: ``A\\n`` once passed for a plain scalar and read back as ``A``."""
    assert flow(["A\n", "A"]) == '["A\\x0a", A]'
    assert yaml.safe_load(flow({"value": "A\n"})) == {"value": "A\n"}
