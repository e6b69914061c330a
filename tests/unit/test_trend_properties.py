"""Properties of the trend (ADR 037), by hypothesis: any arrival order gives the same readings and the same flag."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scoring import Engine, LeadEvent, LeadState, parse_model
from tests.conftest import DAY, T0

HOUR = 3_600_000
MODEL = parse_model(
    {
        "id": "p",
        "version": 1,
        "change_note": "trend properties",
        "rules": [
            {"id": "view", "event": "page_view", "points": 1.1},
            {"id": "open", "event": "email_open", "points": 0.1, "once_per": "1d"},  # a cap: late ones replace
            {"id": "form", "event": "form_fill", "points": 4, "window": "2d"},
            {"id": "minus", "event": "unsubscribe", "points": -3},
        ],
        "trend": {
            "window": "1d",
            "baseline": "2d",
            "bucket": "6h",
            "enter_ratio": 1.5,
            "leave_ratio": 1.0,
            "min_points": 3,
        },
    }
)
ENGINE = Engine([MODEL])
TYPES = ["page_view", "email_open", "form_fill", "unsubscribe"]


@st.composite
def histories(draw: st.DrawFn) -> list[LeadEvent]:
    """Events of one lead within 5 days (the model's lateness is 7): any arrival order is allowed."""
    pairs = draw(st.lists(st.tuples(st.sampled_from(TYPES), st.integers(0, 5 * DAY)), max_size=40))
    return [LeadEvent(f"e{n}", "lead", kind, T0 + at, "test") for n, (kind, at) in enumerate(pairs)]


def apply_all(events: list[LeadEvent]) -> LeadState:
    state = LeadState("lead")
    for event in events:
        state = ENGINE.apply_event(state, event).state
    return state


def readings(state: LeadState, times: list[int]) -> list[object]:
    return [ENGINE.snapshot(state, at)[0].trend for at in times]


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(histories(), st.randoms(use_true_random=False), st.lists(st.integers(0, 12 * DAY), min_size=1, max_size=6))
def test_any_arrival_order_gives_the_same_readings_and_flag(events, rnd, offsets) -> None:  # type: ignore[no-untyped-def]
    shuffled = list(events)
    rnd.shuffle(shuffled)
    first, second = apply_all(events), apply_all(shuffled)
    end = max((event.occurred_at_ms for event in events), default=T0)
    times = sorted({end, *(end + offset for offset in offsets)})
    assert readings(first, times) == readings(second, times)
    trends = [state.models["p"].trend if state.models else None for state in (first, second)]
    assert (trends[0] is None) == (trends[1] is None)
    if trends[0] is not None and trends[1] is not None:
        assert trends[0].surging == trends[1].surging  # the flag last reported, at the latest event
        assert trends[0].surging == readings(first, [end])[0].surging  # type: ignore[attr-defined]
    assert ENGINE.next_due(first, end) == ENGINE.next_due(second, end)
    later = end + max(offsets)
    advanced = [ENGINE.advance(state, later).state for state in (first, second)]
    flags = [state.models["p"].trend.surging for state in advanced if state.models and state.models["p"].trend]
    assert len(set(flags)) <= 1


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(histories(), st.integers(1, 12 * DAY))
def test_time_driven_crossings_come_at_bucket_boundaries_and_leave_the_flag_right(events, offset) -> None:  # type: ignore[no-untyped-def]
    state = apply_all(events)
    end = max((event.occurred_at_ms for event in events), default=T0)
    update = ENGINE.advance(state, end + offset)
    for crossing in update.crossings:
        if crossing.level == "surging":
            assert crossing.occurred_at_ms % (6 * HOUR) == 0 and end < crossing.occurred_at_ms <= end + offset
    reading = ENGINE.snapshot(update.state, end + offset)[0].trend
    trend_state = update.state.models["p"].trend if update.state.models else None
    assert reading is not None and reading.surging == (trend_state is not None and trend_state.surging)
    due = ENGINE.next_due(state, end)
    surging_times = [c.occurred_at_ms for c in update.crossings if c.level == "surging"]
    if surging_times:
        assert due == surging_times[0]
