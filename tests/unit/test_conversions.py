"""Conversions joined to scores: the score trail kept beside a lead's state and the join itself (ADR 017)."""

from __future__ import annotations

import orjson
import pytest
from hypothesis import given
from hypothesis import strategies as st

from scoring import Engine, InvalidEventError, example_model_path, load_model
from scoring.conversions import Conversion, Outcome, check_conversion
from scoring.trail import TRAIL_POINTS, extend_trail, scores_at_conversion, trail_lookup
from tests.conftest import DAY, T0, make_event


def won(lead_id: str, at_ms: int, value: float | None = 100.0) -> Conversion:
    return Conversion(f"c-{lead_id}-{at_ms}", lead_id, Outcome.WON, at_ms, value, "EUR")


@pytest.mark.parametrize(
    ("conversion", "problem"),
    [
        (Conversion("c", " ", Outcome.WON, T0), "lead_id is empty"),
        (Conversion("", "l", Outcome.WON, T0), "conversion_id is empty"),
        (Conversion("c", "l", Outcome.LOST, 5), "outside 2000-01-01"),
        (Conversion("c", "l", Outcome.WON, T0, float("nan")), "not a finite amount"),
        (Conversion("c", "l", Outcome.WON, T0, -1.0), "not a finite amount"),
        (Conversion("c", "l" * 300, Outcome.WON, T0), "longer than 256"),
    ],
)
def test_bad_conversions_are_refused_with_the_reason(conversion, problem):
    with pytest.raises(InvalidEventError, match=problem):
        check_conversion(conversion)


points = st.lists(
    st.tuples(st.integers(0, 60 * DAY), st.floats(-100, 300, allow_nan=False), st.sampled_from([(), ("MQL",)])),
    min_size=1,
    max_size=60,
)


def _truth(points, probe):
    """What was reported last at or before ``probe``, from the whole history (later reports at one time win)."""
    found = None
    for at_ms, score, levels in sorted(points, key=lambda point: point[0]):  # stable: later reports win
        if at_ms <= probe:
            found = (score, levels)
    return found


@given(points=points, keep_days=st.integers(0, 40), probe=st.integers(-DAY, 61 * DAY))
def test_a_trimmed_trail_answers_like_the_whole_history_or_says_unknown(points, keep_days, probe):
    keep_ms = keep_days * DAY
    trail: list = []
    for at_ms, score, levels in points:
        before = orjson.dumps(trail)
        extended = extend_trail(trail, at_ms, {"m": (score, levels)}, keep_ms)
        assert orjson.dumps(trail) == before  # the stored trail is never changed in place
        trail = extended
    assert len(trail) <= 4 * TRAIL_POINTS  # four items per report
    times = trail[0::4]
    assert times == sorted(set(times))  # in time order, one report of the model per time
    answer, truth = trail_lookup(trail, "m", probe), _truth(points, probe)
    assert answer is None or answer == truth  # never a wrong score
    newest = max(at for at, _, _ in points)
    within = len({at for at, _, _ in points if at > newest - keep_ms})
    if probe >= newest - keep_ms and within < TRAIL_POINTS:
        assert answer == truth  # inside the kept time, complete
    assert orjson.loads(orjson.dumps(trail)) == trail  # plain data, stored as it is


@pytest.fixture(scope="module")
def b2b():
    return load_model(example_model_path("b2b"))


def _history(engine, events):
    state, trail = None, []
    for event in events:
        update = engine.apply_event(state, event)
        state = update.state
        for change in update.changes:
            reported = {change.model_id: (change.score, tuple(state.models[change.model_id].levels))}
            trail = extend_trail(trail, change.occurred_at_ms, reported, 14 * DAY)
    return state, trail


def test_an_outcome_after_the_last_activity_gets_the_exact_decayed_scores(b2b):
    engine = Engine([b2b])
    events = [make_event("l", "demo_request", T0), make_event("l", "trial_request", T0 + DAY)]
    state, trail = _history(engine, events)
    at = T0 + 40 * DAY  # a 30-day half-life: well below the reported 80
    (joined,) = scores_at_conversion(engine, state, trail, won("l", at), 7 * DAY)
    expected_now = engine.snapshot(engine.advance(state, at).state, at, top=0)[0]
    expected_before = engine.snapshot(engine.advance(state, at - 7 * DAY).state, at - 7 * DAY, top=0)[0]
    assert joined.exact
    assert joined.score == pytest.approx(expected_now.score, rel=1e-12)
    assert joined.score < 80 * 0.5  # it decayed for more than a half-life
    assert joined.score_before == pytest.approx(expected_before.score, rel=1e-12)
    assert joined.levels == expected_now.levels == ()  # it left MQL by decay before the outcome


def test_an_outcome_older_than_later_activity_gets_the_score_reported_then(b2b):
    engine = Engine([b2b])
    events = [
        make_event("l", "demo_request", T0),
        make_event("l", "trial_request", T0 + 2 * DAY),
        make_event("l", "webinar_attended", T0 + 10 * DAY),
    ]
    state, trail = _history(engine, events)
    reported = [engine.apply_event(None, events[0]).changes[0].score]
    (joined,) = scores_at_conversion(engine, state, trail, won("l", T0 + DAY), DAY // 2)
    assert not joined.exact
    assert joined.score == reported[0] == 40.0  # what the lead-score-changes topic said at the time
    assert joined.score_before == 40.0
    assert joined.levels == ()
    (after_the_trial,) = scores_at_conversion(engine, state, trail, won("l", T0 + 3 * DAY), 3 * DAY + 1)
    assert after_the_trial.levels == ("MQL",) and after_the_trial.score_before is None  # before the lead was first seen


def test_an_unknown_lead_has_no_scores(b2b):
    assert scores_at_conversion(Engine([b2b]), None, [], won("nobody", T0), DAY) == ()


@given(
    reports=st.lists(
        st.tuples(st.integers(0, 30 * DAY), st.sampled_from(["m", "n"]), st.floats(-50, 50, allow_nan=False)),
        min_size=1,
        max_size=50,
    ),
    keep_days=st.integers(0, 20),
    probe=st.integers(0, 31 * DAY),
)
def test_with_several_models_a_trail_never_answers_wrong(reports, keep_days, probe):
    trail: list = []
    for at_ms, model_id, score in reports:
        trail = extend_trail(trail, at_ms, {model_id: (score, ())}, keep_days * DAY)
    for model_id in ("m", "n"):
        truth = _truth([(at, score, ()) for at, m, score in reports if m == model_id], probe)
        answer = trail_lookup(trail, model_id, probe)
        assert answer is None or answer == truth
    newest = max(at for at, _, _ in reports)
    if probe >= newest:  # what was reported at the newest time is always kept
        latest_model = [m for at, m, _ in reports if at == newest][-1]
        assert trail_lookup(trail, latest_model, probe) == _truth(
            [(at, score, ()) for at, m, score in reports if m == latest_model], probe
        )
