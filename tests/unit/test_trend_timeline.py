"""The trend's timeline (scoring/trend.py, ADR 037): the one sweep kept on the state answers exactly as a replay
of the flag from the settled bucket, and keeping it changes no output and nothing encoded."""

from __future__ import annotations

import bisect
from collections.abc import Iterator

import msgspec
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scoring import Engine, LeadEvent, LeadState, parse_model
from scoring.model.trendspec import Trend
from scoring.modelstate import ModelState
from scoring.trend import Timeline, bar, record_gain, timeline_of
from scoring.trendstate import MICRO, TrendState
from tests.conftest import DAY, T0

HOUR = 3_600_000


# ---- the reference: the flag replayed from the settled bucket over every change of the reading, no keeping ----


def reference_reading(trend: Trend, gains: dict[int, int], bucket: int) -> tuple[float, float]:
    keys = sorted(gains)
    prefix = [0]
    for key in keys:
        prefix.append(prefix[-1] + gains[key])

    def upto(at: int) -> int:
        return prefix[bisect.bisect_right(keys, at)]

    window, baseline = trend.window_buckets, trend.baseline_buckets
    recent_end, baseline_end = upto(bucket - window), upto(bucket - window - baseline)
    return (upto(bucket) - recent_end) / MICRO, (recent_end - baseline_end) * window / (baseline * MICRO)


def reference_flags(trend: Trend, state: TrendState, until: int | None) -> Iterator[tuple[int, bool]]:
    span = trend.window_buckets + trend.baseline_buckets
    points = sorted({p for key in state.gains for p in (key, key + trend.window_buckets, key + span)})
    flag = state.settled_flag
    for point in points:
        if (state.settled_bucket is None or point > state.settled_bucket) and (until is None or point <= until):
            recent, baseline = reference_reading(trend, state.gains, point)
            flag = recent >= bar(trend, flag, baseline)
            yield point, flag


def reference_flag_at(trend: Trend, state: TrendState, bucket: int) -> bool:
    flag = state.settled_flag
    for _, flag in reference_flags(trend, state, bucket):  # noqa: B007 - the last one is the answer
        pass
    return flag


def reference_crossings(trend: Trend, state: TrendState, since: int, until: int | None, flag: bool) -> list[int]:
    """The buckets after ``since`` where a flag reported as ``flag`` changes (all of them when ``until`` is None)."""
    found = []
    for bucket, stepped in reference_flags(trend, state, until):
        if bucket > since and stepped != flag:
            found.append(bucket)
            flag = stepped
    return found


# ---- random trends and states ----------------------------------------------------------------------------------


@st.composite
def trends(draw: st.DrawFn) -> Trend:
    enter = draw(st.sampled_from([1.0, 1.5, 2.0, 3.0]))
    leave = draw(st.sampled_from([r for r in (0.5, 1.0, 1.2, 1.5, 2.0, 3.0) if r <= enter]))
    window, baseline = draw(st.integers(1, 4)), draw(st.integers(1, 6))
    return Trend(window * 10, baseline * 10, 10, enter, leave, draw(st.sampled_from([0.5, 3.0, 12.0])))


@st.composite
def trend_states(draw: st.DrawFn) -> TrendState:
    gains = draw(st.dictionaries(st.integers(0, 40), st.integers(-5 * MICRO, 20 * MICRO).filter(bool), max_size=12))
    settled = draw(st.none() | st.integers(-5, 30))
    return TrendState(10, gains, settled, draw(st.booleans()), draw(st.booleans()))


@settings(max_examples=400, suppress_health_check=[HealthCheck.too_slow])
@given(trends(), trend_states(), st.integers(-10, 120), st.booleans())
def test_the_timeline_answers_as_the_replay_from_the_settled_bucket(
    trend: Trend, state: TrendState, bucket: int, flag: bool
) -> None:
    timeline = Timeline(trend, state)
    assert timeline.reading(bucket) == reference_reading(trend, state.gains, bucket)
    assert timeline.flag_at(bucket) == reference_flag_at(trend, state, bucket)
    every = reference_crossings(trend, state, bucket, None, flag)
    assert timeline.first_unlike(bucket, flag) == (every[0] if every else None)
    for until in (bucket - 1, bucket, bucket + 7, bucket + 40, 200):
        assert timeline.changes_unlike(bucket, until, flag) == reference_crossings(trend, state, bucket, until, flag)


def test_the_kept_timeline_is_reused_until_the_gains_or_the_settled_past_change() -> None:
    model = parse_model(
        {
            "id": "k",
            "version": 1,
            "change_note": "keeping",
            "lateness": "1d",
            "rules": [{"id": "view", "event": "page_view", "points": 1}],
            "trend": {"window": "1d", "baseline": "2d", "bucket": "1d", "min_points": 1},
        }
    )
    assert model.trend is not None
    state = ModelState(model.version, anchor_ms=T0)
    record_gain(model, state, T0, 2.0)
    assert state.trend is not None
    kept = timeline_of(model.trend, state.trend)
    assert timeline_of(model.trend, state.trend) is kept
    assert state.trend.copy().kept_timeline() is kept  # immutable: a copy shares it
    record_gain(model, state, T0, 1.0)
    changed = timeline_of(model.trend, state.trend)
    assert changed is not kept and changed.reading(T0 // DAY) == (3.0, 0.0)
    state.trend.gains[T0 // DAY] += MICRO  # even a change behind the engine's back is seen
    assert timeline_of(model.trend, state.trend).reading(T0 // DAY) == (4.0, 0.0)
    state.anchor_ms = T0 + 3 * DAY
    record_gain(model, state, T0 + 3 * DAY, 1.0)  # settles the first days
    assert timeline_of(model.trend, state.trend).settled_bucket == state.trend.settled_bucket


def test_the_kept_timeline_is_not_encoded_and_not_compared() -> None:
    trend = Trend(DAY, 2 * DAY, DAY, 2.0, 1.2, 1.0)
    kept, bare = TrendState(DAY, {5: 3 * MICRO}, 2, True), TrendState(DAY, {5: 3 * MICRO}, 2, True)
    timeline_of(trend, kept)
    assert kept.kept_timeline() is not None and bare.kept_timeline() is None
    assert kept == bare
    encoded = msgspec.msgpack.encode(kept)
    assert encoded == msgspec.msgpack.encode(bare)
    assert msgspec.msgpack.decode(encoded, type=TrendState).kept_timeline() is None


# ---- the engine with and without the kept timeline: the same outputs over random histories --------------------

MODEL = parse_model(
    {
        "id": "p",
        "version": 1,
        "change_note": "kept and replayed",
        "lateness": "2d",
        "rules": [
            {"id": "view", "event": "page_view", "points": 1.1},
            {"id": "open", "event": "email_open", "points": 0.1, "once_per": "1d"},
            {"id": "form", "event": "form_fill", "points": 4, "window": "2d"},
            {"id": "minus", "event": "unsubscribe", "points": -3},
        ],
        "levels": [{"name": "MQL", "enter": 6, "leave": 4}],
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


def outputs(steps: list[tuple[str, int, int]]) -> list[object]:
    """Every output of a run of events (kind, at, clock) and timers (clock only): updates, due times, snapshots."""
    state, seen = LeadState("lead"), []
    for n, (kind, at, clock) in enumerate(steps):
        if kind == "timer":
            update = ENGINE.advance_in_place(state, max(clock, state.latest_ms))
        else:
            event = LeadEvent(f"e{n}", "lead", kind, T0 + at, "test")
            try:
                update = ENGINE.score_event(state, event, T0 + clock)
            except Exception as exc:  # too late: the same in both runs
                seen.append(type(exc).__name__)
                continue
        state = update.state
        now = max(T0 + clock, state.latest_ms)
        transitions = ENGINE.transitions(state, now, update.scores)
        seen += [
            update.crossings,
            update.changes,
            transitions,
            ENGINE.snapshot(state, now, 0, update.scores, transitions),
        ]
    seen.append(msgspec.msgpack.encode(state))
    return seen


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(
        st.tuples(st.sampled_from([*TYPES, "timer"]), st.integers(0, 6 * DAY), st.integers(0, 8 * DAY)), max_size=30
    )
)
def test_keeping_the_timeline_changes_no_output(steps: list[tuple[str, int, int]]) -> None:
    kept = outputs(steps)
    with pytest.MonkeyPatch.context() as patch:
        patch.setattr(TrendState, "kept_timeline", lambda self: None)  # every answer from a fresh sweep
        replayed = outputs(steps)
    assert kept == replayed
