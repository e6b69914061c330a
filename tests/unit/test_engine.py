"""The engine on hand-checked cases: points, conditions, decay, windows, caps, floors, fit, levels, segments."""

import math

import pytest

from scoring import Cause, Direction, Engine, LeadProfile, LeadState, parse_model
from scoring.durations import parse_duration
from tests.conftest import DAY, T0, make_event

HOUR = 3_600_000


def model(**overrides):
    base = {
        "id": "m",
        "version": 3,
        "change_note": "test",
        "engagement": {"floor": None},
        "rules": [{"id": "demo", "event": "demo_request", "points": 30}],
        "levels": [{"name": "MQL", "enter": 60, "leave": 50}, {"name": "SQL", "enter": 100, "leave": 90}],
    }
    base.update(overrides)
    return parse_model(base)


def run(engine, events, state=None):
    updates = []
    for event in events:
        update = engine.apply_event(state, event)
        state = update.state
        updates.append(update)
    return state, updates


def score(engine, state, at_ms):
    return engine.snapshot(state, at_ms)[0].score


def test_points_per_event_type_add_up(simple_model):
    engine = Engine([simple_model])
    types = ["email_open", "page_view", "content_download", "demo_request"]
    state, updates = run(engine, [make_event("a", t, T0 + n * 1000) for n, t in enumerate(types)])
    assert [u.changes[0].score for u in updates] == [1, 3, 11, 41]
    assert state.models["b2b"].events_scored == 4


def test_change_explains_itself(simple_model):
    engine = Engine([simple_model])
    update = engine.apply_event(None, make_event("a", "demo_request", event_id="ev-1"))
    [change] = update.changes
    assert (change.previous_score, change.score, change.delta) == (0, 30, 30)
    assert [(c.rule_id, c.points, c.value_now) for c in change.contributions] == [("demo-request", 30, 30)]
    assert (change.cause, change.cause_event_id, change.model_id, change.model_version) == (
        Cause.EVENT,
        "ev-1",
        "b2b",
        1,
    )


def test_conditions_on_event_properties_select_rules(b2b_model):
    engine = Engine([b2b_model])
    update = engine.apply_event(None, make_event("a", "page_view", path="/pricing/enterprise"))
    assert sorted(c.rule_id for c in update.changes[0].contributions) == ["page-view", "pricing-page"]
    update = engine.apply_event(None, make_event("b", "page_view", path="/blog"))
    assert [c.rule_id for c in update.changes[0].contributions] == ["page-view"]
    update = engine.apply_event(None, make_event("c", "content_download", asset="Whitepaper-2026"))
    assert [(c.rule_id, c.points) for c in update.changes[0].contributions] == [("whitepaper", 25)]


def test_event_type_without_rule_changes_nothing_but_is_counted(simple_model):
    update = Engine([simple_model]).apply_event(None, make_event("a", "webinar_unknown"))
    assert update.changes == () and update.crossings == ()
    assert update.state.models["b2b"].events_scored == 1


def test_exponential_decay_is_exact_in_event_time():
    engine = Engine([model(engagement={"half_life": "30d", "floor": None})])
    state, _ = run(engine, [make_event("a", "demo_request", T0)])
    assert score(engine, state, T0 + 30 * DAY) == pytest.approx(15, rel=1e-12)
    assert score(engine, state, T0 + 45 * DAY) == pytest.approx(30 * 2**-1.5, rel=1e-12)
    state, updates = run(engine, [make_event("a", "demo_request", T0 + 30 * DAY)], state)
    change = updates[0].changes[0]
    assert (change.previous_score, change.score) == (pytest.approx(15), pytest.approx(45))
    assert change.contributions[0].value_now == pytest.approx(45)


def test_rule_half_life_overrides_dimension_and_never_disables_decay():
    engine = Engine(
        [
            model(
                engagement={"half_life": "10d", "floor": None},
                rules=[
                    {"id": "demo", "event": "demo_request", "points": 30, "half_life": "20d"},
                    {"id": "unsub", "event": "unsubscribe", "points": -20, "half_life": "never"},
                ],
            )
        ]
    )
    state, _ = run(engine, [make_event("a", "demo_request", T0), make_event("a", "unsubscribe", T0)])
    assert score(engine, state, T0 + 20 * DAY) == pytest.approx(15 - 20)


def test_time_frame_window_drops_points_exactly_and_combines_with_decay():
    engine = Engine([model(engagement={"half_life": "10d", "window": "15d", "floor": None})])
    state, _ = run(engine, [make_event("a", "demo_request", T0)])
    assert score(engine, state, T0 + 10 * DAY) == pytest.approx(15)
    assert score(engine, state, T0 + 15 * DAY - 1) == pytest.approx(30 * 2**-1.5, rel=1e-6)
    assert score(engine, state, T0 + 15 * DAY) == 0


def test_once_per_counts_the_first_event_of_each_window_in_any_order():
    rules = [{"id": "open", "event": "email_open", "points": 1, "once_per": "1h"}]
    engine = Engine([model(rules=rules, levels=[])])
    opens = [make_event("a", "email_open", T0 + minute * 60_000) for minute in range(0, 120, 6)]
    state, updates = run(engine, opens)
    assert score(engine, state, T0 + 2 * HOUR) == 2  # ten opens in each of two hours
    assert sum(1 for u in updates if u.changes) == 2
    late_state, _ = run(engine, list(reversed(opens)))
    assert score(engine, late_state, T0 + 2 * HOUR) == 2


def test_cap_limits_points_per_window():
    rules = [{"id": "view", "event": "page_view", "points": 3, "cap": {"points": 10, "per": "1d"}}]
    engine = Engine([model(rules=rules, levels=[])])
    state, _ = run(engine, [make_event("a", "page_view", T0 + n * 1000) for n in range(20)])
    assert score(engine, state, T0 + DAY) == 9  # 3 views of 3 fit under 10
    state, _ = run(engine, [make_event("a", "page_view", T0 + DAY + n) for n in range(5)], state)
    assert score(engine, state, T0 + 2 * DAY) == 18


def test_floor_and_ceiling_per_dimension():
    rules = [
        {"id": "demo", "event": "demo_request", "points": 30},
        {"id": "unsub", "event": "unsubscribe", "points": -20},
    ]
    engine = Engine([model(rules=rules, engagement={"floor": 0, "ceiling": 50}, levels=[])])
    state, updates = run(engine, [make_event("a", "unsubscribe", T0), make_event("a", "unsubscribe", T0 + 1)])
    assert score(engine, state, T0 + 1) == 0 and all(not u.changes for u in updates)
    state, _ = run(engine, [make_event("a", "demo_request", T0 + 2 + n) for n in range(4)], state)
    assert score(engine, state, T0 + 10) == 50  # 120 - 40 capped at the ceiling


def test_fit_from_profile_with_grade_and_negative_signals(b2b_model):
    engine = Engine([b2b_model])
    banker = LeadProfile("a", T0, email="ceo@bigbank.com", industry="finance", company_size=5000, seniority="c-level")
    update = engine.apply_profile(None, banker)
    [change] = update.changes
    assert (change.fit, change.grade, change.cause) == (95, "A", Cause.PROFILE)
    assert {c.rule_id for c in change.contributions} == {
        "finance-enterprise",
        "target-industry",
        "mid-market-or-larger",
        "decision-maker",
    }
    advisor = LeadProfile("b", T0, email="joe@GMail.com", title="Independent Financial Advisor")
    [change] = engine.apply_profile(None, advisor).changes
    assert (change.fit, change.grade) == (-60, "D")
    assert engine.snapshot(update.state, T0 + 400 * DAY)[0].fit == 95  # fit does not decay


def test_older_profile_is_ignored(b2b_model):
    engine = Engine([b2b_model])
    state = engine.apply_profile(None, LeadProfile("a", T0 + 10, seniority="vp")).state
    update = engine.apply_profile(state, LeadProfile("a", T0, seniority="student"))
    assert update.changes == () and update.state.models["b2b"].fit_points == {"decision-maker": 20}


def test_hysteresis_enters_at_enter_and_leaves_below_leave():
    rules = [{"id": "up", "event": "demo_request", "points": 30}, {"id": "down", "event": "unsubscribe", "points": -5}]
    engine = Engine([model(rules=rules)])
    events = [make_event("a", "demo_request", T0), make_event("a", "demo_request", T0 + 1)]
    events += [make_event("a", "unsubscribe", T0 + 2 + n) for n in range(3)]  # 55, 50, 45
    _state, updates = run(engine, events)
    crossings = [(c.level, c.direction, c.score, c.threshold) for u in updates for c in u.crossings]
    assert crossings == [("MQL", Direction.UP, 60, 60), ("MQL", Direction.DOWN, 45, 50)]


def test_two_levels_in_one_step_are_reported_in_order():
    rules = [
        {"id": "big", "event": "demo_request", "points": 120},
        {"id": "out", "event": "unsubscribe", "points": -150},
    ]
    engine = Engine([model(rules=rules)])
    up = engine.apply_event(None, make_event("a", "demo_request"))
    assert [(c.level, c.direction) for c in up.crossings] == [("MQL", Direction.UP), ("SQL", Direction.UP)]
    down = engine.apply_event(up.state, make_event("a", "unsubscribe"))
    assert [(c.level, c.direction) for c in down.crossings] == [("SQL", Direction.DOWN), ("MQL", Direction.DOWN)]


def test_decay_crossing_at_the_exact_time_without_new_events():
    engine = Engine([model(engagement={"half_life": "10d", "floor": None})])
    state, updates = run(engine, [make_event("a", "demo_request", T0), make_event("a", "demo_request", T0)])
    assert [c.direction for c in updates[1].crossings] == [Direction.UP]
    expected = T0 + math.ceil(10 * DAY * math.log2(60 / 50))  # 60 * 2**(-t/10d) < 50
    due = engine.next_due(state, T0)
    assert due in (expected, expected + 1)
    assert score(engine, state, due) < 50 <= score(engine, state, due - 1)
    assert engine.advance(state, due - 1).crossings == ()
    [crossing] = engine.advance(state, due + 5 * DAY).crossings
    assert (crossing.level, crossing.direction, crossing.cause, crossing.occurred_at_ms) == (
        "MQL",
        Direction.DOWN,
        Cause.DECAY,
        due,
    )
    assert crossing.crossing_id == engine.advance(state, due + 9 * DAY).crossings[0].crossing_id


def test_a_late_event_reports_the_decay_crossing_first():
    engine = Engine([model(engagement={"half_life": "10d", "floor": None})])
    state, _ = run(engine, [make_event("a", "demo_request", T0), make_event("a", "demo_request", T0)])
    update = engine.apply_event(state, make_event("a", "demo_request", T0 + 20 * DAY))  # 15 + 30
    assert [(c.cause, c.direction) for c in update.crossings] == [(Cause.DECAY, Direction.DOWN)]
    assert update.crossings[0].occurred_at_ms == engine.next_due(state, T0)
    again = engine.apply_event(update.state, make_event("a", "demo_request", T0 + 20 * DAY))  # 75
    assert [(c.cause, c.direction) for c in again.crossings] == [(Cause.EVENT, Direction.UP)]


def test_segments_select_models_per_lead(b2b_model):
    b2c = parse_model(
        {
            "id": "b2c",
            "version": 1,
            "change_note": "t",
            "segment": {"field": "attributes.segment", "equals": "b2c"},
            "rules": [{"id": "cart", "event": "cart_add", "points": 70}],
            "levels": [{"name": "hot", "enter": 50}],
        }
    )
    engine = Engine([b2b_model, b2c])
    update = engine.apply_event(None, make_event("a", "cart_add"))
    assert update.changes == ()  # b2c does not apply until the profile says so; b2b has no cart rule
    update = engine.apply_profile(update.state, LeadProfile("a", T0 + 1, attributes={"segment": "b2c"}))
    assert [(c.model_id, c.score) for c in update.changes] == [("b2c", 70)]
    assert [(c.model_id, c.level, c.direction) for c in update.crossings] == [("b2c", "hot", Direction.UP)]
    update = engine.apply_profile(update.state, LeadProfile("a", T0 + 2, attributes={"segment": "b2b"}))
    assert [(c.model_id, c.direction, c.cause) for c in update.crossings] == [("b2c", Direction.DOWN, Cause.PROFILE)]


def test_top_contributors(b2b_model):
    engine = Engine([b2b_model])
    events = [make_event("a", "demo_request", T0), make_event("a", "page_view", T0 + 1, path="/pricing")]
    state, _ = run(engine, events)
    state = engine.apply_profile(state, LeadProfile("a", T0 + 2, email="x@gmail.com")).state
    top = engine.snapshot(state, T0 + 30 * DAY, top=3)[0].top_contributors
    assert [rule for rule, _ in top] == ["demo-request", "free-mail", "pricing-page"]
    assert top[0][1] == pytest.approx(20)


def test_output_ids_are_deterministic(simple_model):
    engine = Engine([simple_model])
    event = make_event("a", "demo_request", event_id="same")
    first = engine.apply_event(None, event).changes[0]
    assert first.change_id == engine.apply_event(None, event).changes[0].change_id
    assert (
        first.change_id != engine.apply_event(None, make_event("a", "demo_request", event_id="x")).changes[0].change_id
    )


def test_state_round_trips_through_plain_data(b2b_model):
    engine = Engine([b2b_model])
    state, _ = run(engine, [make_event("a", "email_open", T0), make_event("a", "email_bounce", T0 + 5)])
    assert LeadState.from_dict(state.to_dict()) == state
    assert parse_duration("30d") == 30 * DAY


def test_a_redelivered_event_changes_nothing(simple_model):
    engine = Engine([simple_model])
    event = make_event("a", "demo_request", T0, event_id="once")
    first = engine.apply_event(None, event)
    again = engine.apply_event(first.state, event)
    assert again.duplicate and again.changes == () and again.state == first.state
    later = engine.apply_event(again.state, make_event("a", "demo_request", T0 + 5 * DAY))
    assert engine.apply_event(later.state, event).duplicate  # still recognised within the lateness horizon


def test_an_event_later_than_the_lateness_is_rejected(simple_model):
    from scoring import LateEventError

    engine = Engine([simple_model])
    state = engine.apply_event(None, make_event("a", "demo_request", T0 + 30 * DAY)).state
    with pytest.raises(LateEventError, match="allow 168 h of lateness"):
        engine.apply_event(state, make_event("a", "demo_request", T0))
    assert not engine.apply_event(state, make_event("a", "demo_request", T0 + 24 * DAY)).duplicate


def test_seen_event_ids_are_forgotten_after_the_horizon(simple_model):
    engine = Engine([simple_model])
    state = engine.apply_event(None, make_event("a", "email_open", T0, event_id="old")).state
    state = engine.apply_event(state, make_event("a", "email_open", T0 + 8 * DAY)).state
    assert len(state.seen) == 1 and LeadState.from_dict(state.to_dict()) == state


def test_a_capped_rule_is_left_out_of_the_explanation(b2b_model):
    engine = Engine([b2b_model])
    first = engine.apply_event(None, make_event("a", "page_view", T0, path="/pricing"))
    second = engine.apply_event(first.state, make_event("a", "page_view", T0 + 1000, path="/pricing"))
    assert [c.rule_id for c in second.changes[0].contributions] == ["page-view"]  # pricing-page: once a day
