"""The engagement trend and the surging flag (ADR 037): hysteresis, exact time-driven crossings, late events,
validation of the model file's ``trend:`` section."""

from __future__ import annotations

from typing import Any

import pytest

from scoring import Cause, Direction, Engine, LeadEvent, LeadProfile, LeadState, ModelError, derived_id, parse_model
from scoring.trend import record_gain, surging_after_input, trend_reading
from scoring.trendstate import MICRO
from tests.conftest import DAY, T0

HOUR = 3_600_000
START = (T0 // DAY + 1) * DAY  # a bucket boundary: day d is [START + d * DAY, START + (d + 1) * DAY)
RULES = [
    {"id": "big", "event": "form_fill", "points": 10},
    {"id": "small", "event": "page_view", "points": 1},
    {"id": "minus", "event": "unsubscribe", "points": -4, "half_life": "never"},
]
TREND = {"window": "7d", "baseline": "28d", "bucket": "1d", "enter_ratio": 2.0, "leave_ratio": 1.2, "min_points": 12}


def model(trend: dict[str, Any] | None = None, **extra: Any) -> Any:
    raw: dict[str, Any] = {"id": "t", "version": 1, "change_note": "trend", "rules": RULES, **extra}
    if trend is not None:
        raw["trend"] = trend
    return parse_model(raw, "t.yaml")


ENGINE = Engine([model(TREND)])
TYPES = {"big": "form_fill", "small": "page_view", "minus": "unsubscribe"}


def feed(engine: Engine, plan: list[tuple[float, str]], state: LeadState | None = None, lead: str = "lead"):
    """Apply ``(day, rule)`` events in the given order; returns the state and the crossings, in order."""
    crossings = []
    for n, (day, rule) in enumerate(plan):
        event = LeadEvent(f"{lead}-{n}-{day}-{rule}", lead, TYPES[rule], START + int(day * DAY) + HOUR, "test")
        update = engine.apply_event(state, event)
        state = update.state
        crossings.extend(update.crossings)
    assert state is not None
    return state, crossings


BASELINE = [(float(day), "big") for day in (0, 7, 14, 21)]  # 40 points over 28 days: 10 per window


def test_a_surge_starts_at_the_enter_bar_and_hysteresis_keeps_it_until_the_leave_bar() -> None:
    state, crossings = feed(ENGINE, [*BASELINE, (28, "big")])
    assert crossings == []  # 10 in the window against a baseline of 10: not twice it
    state, crossings = feed(ENGINE, [(28, "big")], state)
    [up] = crossings
    assert (up.level, up.direction, up.threshold, up.score, up.cause) == (
        "surging",
        Direction.UP,
        20.0,
        20.0,
        Cause.EVENT,
    )
    assert up.cause_event_id is not None and up.occurred_at_ms == START + 28 * DAY + HOUR
    state, crossings = feed(ENGINE, [(29, "minus"), (30, "minus")], state)
    assert crossings == []  # 16, then 12: still at least 1.2 times the baseline
    reading = ENGINE.snapshot(state, START + 30 * DAY + 2 * HOUR)[0].trend
    assert reading is not None and (reading.recent, reading.baseline, reading.surging) == (12.0, 10.0, True)
    state, crossings = feed(ENGINE, [(31, "minus")], state)
    [down] = crossings
    assert (down.direction, down.threshold, down.score, down.cause) == (Direction.DOWN, 12.0, 8.0, Cause.EVENT)


def test_without_the_surge_before_the_same_reading_does_not_start_one() -> None:
    state, crossings = feed(ENGINE, [*BASELINE, (28, "big"), *[(28, "small")] * 6])
    assert crossings == []
    reading = trend_reading(ENGINE.models[0], state.models["t"], START + 28 * DAY + 2 * HOUR)
    assert reading is not None and (reading.recent, reading.surging) == (16.0, False)


def test_a_lead_without_history_surges_at_min_points() -> None:
    state, crossings = feed(ENGINE, [(0, "small")] * 11)
    assert crossings == []
    state, crossings = feed(ENGINE, [(0, "small")], state, lead="lead")
    assert crossings == []  # the same event id as the first: a re-delivery changes nothing
    state, crossings = feed(ENGINE, [(0.5, "small")], state)
    [up] = crossings
    assert (up.threshold, up.score) == (12.0, 12.0)  # baseline 0: min_points is the bar


def test_time_alone_ends_a_surge_at_the_exact_bucket_boundary_once() -> None:
    state, crossings = feed(ENGINE, [(0, "big")] * 3)
    assert [c.direction for c in crossings] == [Direction.UP]
    stop = START + 7 * DAY  # day 0's gains leave the window
    assert ENGINE.next_due(state, START + 2 * HOUR) == stop
    assert ENGINE.advance(state, stop - 1).crossings == ()
    update = ENGINE.advance(state, START + 9 * DAY)
    [down] = update.crossings
    assert (down.direction, down.cause, down.cause_event_id, down.occurred_at_ms) == (
        Direction.DOWN,
        Cause.DECAY,
        None,
        stop,
    )
    assert (down.score, down.threshold) == (0.0, 12.0)  # min_points, above 1.2 times the baseline (30 * 7 / 28)
    assert down.crossing_id == derived_id("crossing", "lead", "t", 1, "surging", Direction.DOWN, Cause.DECAY, stop)
    assert ENGINE.advance(state, START + 9 * DAY).crossings[0].crossing_id == down.crossing_id  # deterministic
    assert ENGINE.advance(update.state, START + 60 * DAY).crossings == ()  # emitted once
    assert ENGINE.next_due(update.state, START + 9 * DAY) is None


def test_an_event_after_the_boundary_gets_the_decay_crossing_first() -> None:
    state, _ = feed(ENGINE, [(0, "big")] * 3)
    _, crossings = feed(ENGINE, [(8, "small")], state)
    assert [(c.direction, c.cause, c.occurred_at_ms) for c in crossings] == [
        (Direction.DOWN, Cause.DECAY, START + 7 * DAY)
    ]


def test_time_alone_starts_a_surge_when_a_negative_gain_leaves_the_window() -> None:
    state, crossings = feed(ENGINE, [*[(0, "minus")] * 5, (1, "big"), (1, "big")])
    assert crossings == []  # -20 + 20 = 0 in the window
    assert ENGINE.next_due(state, START + DAY + 2 * HOUR) == START + 7 * DAY
    [up] = ENGINE.advance(state, START + 8 * DAY - 1).crossings
    assert (up.direction, up.cause, up.occurred_at_ms, up.score, up.threshold) == (
        Direction.UP,
        Cause.DECAY,
        START + 7 * DAY,
        20.0,
        12.0,
    )
    [down] = ENGINE.advance(state, START + 8 * DAY).crossings[1:]  # then day 1's gains leave it too
    assert (down.direction, down.cause, down.occurred_at_ms) == (Direction.DOWN, Cause.DECAY, START + 8 * DAY)


def test_a_late_event_lands_in_its_own_bucket() -> None:
    in_order, _ = feed(ENGINE, [(1, "big"), (3, "small"), (5, "big")])
    late, _ = feed(ENGINE, [(3, "small"), (5, "big"), (1, "big")])
    first = START // DAY
    expected = {first + 1: 10 * MICRO, first + 3: MICRO, first + 5: 10 * MICRO}
    assert in_order.models["t"].trend is not None and in_order.models["t"].trend.gains == expected
    assert late.models["t"].trend is not None and late.models["t"].trend.gains == expected
    for day in (5, 8, 10, 12, 40):
        at = START + day * DAY
        assert ENGINE.snapshot(late, at)[0].trend == ENGINE.snapshot(in_order, at)[0].trend


def test_the_gain_follows_an_earlier_capped_event_that_replaces_a_later_one() -> None:
    rules = [{"id": "open", "event": "email_open", "points": 3, "once_per": "1d"}]
    hourly = Engine([parse_model({"id": "c", "version": 1, "change_note": "c", "rules": rules,
                                  "trend": {**TREND, "bucket": "1h"}})])  # fmt: skip
    ten, nine = (LeadEvent(f"o{h}", "lead", "email_open", START + h * HOUR, "test") for h in (10, 9))
    late = hourly.apply_event(hourly.apply_event(None, ten).state, nine).state
    trend_state = late.models["c"].trend
    assert trend_state is not None and trend_state.gains == {START // HOUR + 9: 3 * MICRO}


def test_old_buckets_are_pruned_and_settled() -> None:
    state, _ = feed(ENGINE, [(float(day), "small") for day in range(120)])
    trend_state = state.models["t"].trend
    assert trend_state is not None and trend_state.settled_bucket is not None
    assert len(trend_state.gains) <= 7 + 7 + 28 + 1  # lateness + window + baseline buckets, at most
    reading = ENGINE.snapshot(state, START + 119 * DAY + 2 * HOUR)[0].trend
    assert reading is not None and (reading.recent, reading.baseline) == (7.0, 7.0)


def test_record_gain_takes_a_retracted_gain_back() -> None:
    state, crossings = feed(ENGINE, [(0, "big"), (0, "big")])
    assert [c.direction for c in crossings] == [Direction.UP]
    model_state = state.models["t"]
    record_gain(ENGINE.models[0], model_state, START + HOUR, -10)
    assert model_state.trend is not None and model_state.trend.gains == {START // DAY: 10 * MICRO}
    reading = trend_reading(ENGINE.models[0], model_state, START + 2 * HOUR)
    assert reading is not None and (reading.recent, reading.surging) == (10.0, False)
    [down] = surging_after_input(ENGINE.models[0], model_state, "lead", START + 2 * HOUR, Cause.EVENT, "retracted")
    assert (down.direction, down.score, down.cause_event_id) == (Direction.DOWN, 10.0, "retracted")


def test_a_lead_that_leaves_the_segment_stops_surging() -> None:
    segmented = Engine([model(TREND, segment={"field": "country", "not_equals": "FR"})])
    state = segmented.apply_profile(None, LeadProfile("lead", START, country="DE")).state
    state, crossings = feed(segmented, [(0, "big"), (0, "big")], state)
    assert [c.direction for c in crossings] == [Direction.UP]
    update = segmented.apply_profile(state, LeadProfile("lead", START + 2 * HOUR, country="FR"))
    [down] = update.crossings
    assert (down.direction, down.cause, down.cause_event_id) == (
        Direction.DOWN,
        Cause.PROFILE,
        f"profile@{START + 2 * HOUR}",
    )
    assert segmented.next_due(update.state, START + 2 * HOUR) is None


def test_a_model_without_trend_keeps_no_trend_state() -> None:
    plain = Engine([model()])
    state, crossings = feed(plain, [(0, "big")] * 3)
    assert crossings == [] and state.models["t"].trend is None
    assert plain.snapshot(state, START + DAY)[0].trend is None
    assert plain.next_due(state, START + DAY) is None


@pytest.mark.parametrize(
    ("trend", "message"),
    [
        ({"leave_ratio": 2.5}, "t.yaml: trend: leave_ratio must not be above enter_ratio"),
        ({"window": "36h"}, "t.yaml: trend: window (36h) must be a whole number of buckets (1d each)"),
        ({"baseline": "30h", "bucket": "12h", "window": "1d"}, "baseline (30h) must be a whole number of buckets"),
        ({"bucket": "never"}, "t.yaml: trend: window, baseline and bucket must be durations, not 'never'"),
        ({"min_points": 0}, "t.yaml: trend.min_points: must be above 0"),
        ({"enter_ratio": "x"}, "t.yaml: trend.enter_ratio: expected a number"),
        ({"window": "soon"}, "t.yaml: trend.window: expected a duration"),
        ({"ratio": 2}, "t.yaml: trend.ratio: unknown field"),
        ({"level": "hot lead"}, "t.yaml: trend.level: must be letters, digits"),
    ],
)
def test_invalid_trend_sections_name_the_file_and_field(trend: dict[str, Any], message: str) -> None:
    with pytest.raises(ModelError) as error:
        model({**TREND, **trend})
    assert message in str(error.value)


def test_the_trend_level_must_not_be_a_level_of_the_model() -> None:
    with pytest.raises(ModelError, match=r"t.yaml: trend.level: 'MQL' is also the name of one of the model's levels"):
        model({"level": "MQL"}, levels=[{"name": "MQL", "enter": 20}])


def test_defaults() -> None:
    trend = model({}).trend
    assert trend is not None
    assert (trend.window_ms, trend.baseline_ms, trend.bucket_ms) == (7 * DAY, 28 * DAY, DAY)
    assert (trend.enter_ratio, trend.leave_ratio, trend.min_points, trend.level) == (2.0, 1.2, 10.0, "surging")
