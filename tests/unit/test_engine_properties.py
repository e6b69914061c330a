"""Properties of the engine, checked by hypothesis over generated event histories."""

import itertools
import json
import random

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scoring import (
    KNOWN_EVENT_TYPES,
    Direction,
    Engine,
    LeadEvent,
    LeadProfile,
    LeadState,
    example_model_path,
    load_model,
    parse_model,
)
from scoring.crossingtime import needs_grid
from tests.conftest import DAY, T0

B2B = load_model(example_model_path("b2b"))
ENGINE = Engine([B2B])
PROPERTIES = {
    "page_view": [{"path": "/pricing"}, {"path": "/blog"}, {"path": "/product"}],
    "content_download": [{"asset": "roi-guide"}, {"asset": "ebook"}],
    "form_fill": [{"form": "blog-subscription"}, {"form": "contact-sales"}],
}
TYPES = sorted(KNOWN_EVENT_TYPES)
POSITIVE_TYPES = [t for t in TYPES if t not in ("unsubscribe", "email_bounce")]
PROFILES = st.builds(
    LeadProfile,
    lead_id=st.just("lead"),
    updated_at_ms=st.integers(T0, T0 + 5 * DAY),
    email=st.sampled_from([None, "a@gmail.com", "b@bigbank.com", "c@rivalsoft.com"]),
    company_size=st.sampled_from([None, 50, 500, 5000]),
    industry=st.sampled_from([None, "finance", "retail", "software"]),
    title=st.sampled_from([None, "Financial Advisor", "VP Marketing", "PhD student"]),
    seniority=st.sampled_from([None, "vp", "student", "manager"]),
)


@st.composite
def histories(draw, types=TYPES, span_ms=5 * DAY, max_size=40):
    """Events of one lead within the model's lateness, so that any arrival order is allowed."""
    count = draw(st.integers(0, max_size))
    events = []
    for n in range(count):
        event_type = draw(st.sampled_from(types))
        properties = draw(st.sampled_from(PROPERTIES.get(event_type, [{}])))
        at_ms = T0 + draw(st.integers(0, span_ms))
        events.append(LeadEvent(f"e{n}", "lead", event_type, at_ms, "test", properties))
    return events


def apply_all(engine, events, state=None):
    crossings = []
    for event in events:
        update = engine.apply_event(state, event)
        state = update.state
        crossings.extend(update.crossings)
    return state, crossings


def final_score(engine, state, at_ms):
    return engine.snapshot(state or LeadState("lead"), at_ms)[0].score


@settings(max_examples=150, suppress_health_check=[HealthCheck.too_slow])
@given(histories(), st.randoms(use_true_random=False), st.integers(0, 60 * DAY))
def test_any_arrival_order_gives_the_same_score(events, rnd, later):
    shuffled = list(events)
    rnd.shuffle(shuffled)
    at_ms = T0 + 5 * DAY + later
    first, _ = apply_all(ENGINE, events)
    second, _ = apply_all(ENGINE, shuffled)
    a, b = final_score(ENGINE, first, at_ms), final_score(ENGINE, second, at_ms)
    assert abs(a - b) <= 1e-9 * max(1.0, abs(a))


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(histories(types=POSITIVE_TYPES), st.lists(st.integers(0, 200 * DAY), min_size=2, max_size=12))
def test_with_positive_points_the_score_only_falls_as_time_passes(events, offsets):
    state, _ = apply_all(ENGINE, events)
    times = sorted(T0 + 5 * DAY + offset for offset in offsets)
    scores = [final_score(ENGINE, state, at) for at in times]
    assert all(b <= a + 1e-9 for a, b in itertools.pairwise(scores))


CAPPED = parse_model(
    {
        "id": "c",
        "version": 1,
        "change_note": "t",
        "engagement": {"floor": None},
        "rules": [
            {"id": "view", "event": "page_view", "points": 3, "cap": {"points": 10, "per": "1h"}},
            {"id": "open", "event": "email_open", "points": 1, "once_per": "1d"},
        ],
    }
)


@settings(max_examples=150)
@given(st.lists(st.tuples(st.sampled_from(["page_view", "email_open"]), st.integers(0, 3 * DAY)), max_size=60))
def test_caps_are_never_exceeded(pairs):
    engine = Engine([CAPPED])
    events = [LeadEvent(f"e{n}", "lead", t, T0 + at, "test") for n, (t, at) in enumerate(pairs)]
    state, _ = apply_all(engine, events)
    views, opens = {}, {}
    for event_type, at in pairs:
        bucket = views if event_type == "page_view" else opens
        key = (T0 + at) // (3_600_000 if event_type == "page_view" else DAY)
        bucket[key] = bucket.get(key, 0) + 1
    expected = sum(3 * min(n, 3) for n in views.values()) + sum(min(n, 1) for n in opens.values())
    assert final_score(engine, state, T0 + 4 * DAY) == expected


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(histories(), PROFILES, st.integers(0, 400 * DAY))
def test_scores_stay_within_floor_and_ceiling(events, profile, later):
    state, _ = apply_all(ENGINE, events)
    state = ENGINE.apply_profile(state, profile).state
    snapshot = ENGINE.snapshot(state, T0 + 5 * DAY + later)[0]
    assert 0 <= snapshot.engagement <= 150
    assert -100 <= snapshot.fit <= 100


BAND = parse_model(
    {
        "id": "h",
        "version": 1,
        "change_note": "t",
        "engagement": {"floor": None},
        "rules": [
            {"id": "up", "event": "demo_request", "points": 7},
            {"id": "down", "event": "unsubscribe", "points": -4},
        ],
        "levels": [{"name": "MQL", "enter": 60, "leave": 50}],
    }
)


@settings(max_examples=200)
@given(st.lists(st.sampled_from(["demo_request", "unsubscribe"]), max_size=80))
def test_no_flapping_inside_the_hysteresis_band(types):
    engine = Engine([BAND])
    state, inside, score = None, False, 0.0
    for n, event_type in enumerate(types):
        update = engine.apply_event(state, LeadEvent(f"e{n}", "lead", event_type, T0 + n, "test"))
        state = update.state
        score += 7 if event_type == "demo_request" else -4
        for crossing in update.crossings:
            if crossing.direction is Direction.UP:
                assert not inside and crossing.score >= 60
            else:
                assert inside and crossing.score < 50
            inside = crossing.direction is Direction.UP
        if 50 <= score < 60:
            assert not update.crossings
        assert inside == ("MQL" in state.models["h"].levels)


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(histories(), st.one_of(st.none(), PROFILES))
def test_state_round_trips_through_json(events, profile):
    state, _ = apply_all(ENGINE, events)
    if profile is not None:
        state = ENGINE.apply_profile(state, profile).state
    if state is None:
        return
    # format 1 (0.2's JSON) predates the absorbed ids (the kept fields and accounts it carries when set)
    legacy = msgspec.structs.replace(state, absorbed=[])
    assert LeadState.from_dict(json.loads(json.dumps(state.to_dict()))) == legacy


@settings(max_examples=80, suppress_health_check=[HealthCheck.too_slow])
@given(histories(types=POSITIVE_TYPES, max_size=25))
def test_next_due_is_the_exact_first_millisecond_below_the_line(events):
    state, _ = apply_all(ENGINE, events)
    if state is None or not state.models["b2b"].levels:
        return
    now = max(event.occurred_at_ms for event in events)
    due = ENGINE.next_due(state, now)
    assert due is not None
    level = {"MQL": 50, "SQL": 90}[state.models["b2b"].levels[-1]]
    assert final_score(ENGINE, state, due) < level <= final_score(ENGINE, state, due - 1)
    decayed = ENGINE.advance(state, due)
    assert [c.occurred_at_ms for c in decayed.crossings][:1] == [due]
    assert ENGINE.advance(state, due - 1).crossings == ()


def test_order_independence_on_a_long_realistic_history():
    rnd = random.Random(11)
    events = [
        LeadEvent(
            f"e{n}",
            "lead",
            rnd.choice(TYPES),
            T0 + rnd.randrange(5 * DAY),
            "test",
            rnd.choice(PROPERTIES.get("page_view", [{}])),
        )
        for n in range(2000)
    ]
    first, _ = apply_all(ENGINE, events)
    rnd.shuffle(events)
    second, _ = apply_all(ENGINE, events)
    a, b = final_score(ENGINE, first, T0 + 6 * DAY), final_score(ENGINE, second, T0 + 6 * DAY)
    assert abs(a - b) <= 1e-9 * max(1.0, abs(a))


@settings(max_examples=100, suppress_health_check=[HealthCheck.too_slow])
@given(histories(), st.randoms(use_true_random=False))
def test_at_least_once_delivery_never_double_counts(events, rnd):
    """Every event delivered one to three times, in any order: the same score as each delivered once."""
    deliveries = [event for event in events for _ in range(rnd.randint(1, 3))]
    rnd.shuffle(deliveries)
    once, _ = apply_all(ENGINE, events)
    many, _ = apply_all(ENGINE, deliveries)
    at_ms = T0 + 6 * DAY
    a, b = final_score(ENGINE, once, at_ms), final_score(ENGINE, many, at_ms)
    assert abs(a - b) <= 1e-9 * max(1.0, abs(a))


MIXED = Engine(
    [
        parse_model(
            {
                "id": "mixed",
                "version": 1,
                "change_note": "positive and negative rules decaying with one half-life (as `leadscore fit` writes)",
                "engagement": {"half_life": "1d", "floor": None},
                "rules": [
                    {"id": "demo", "event": "demo_request", "points": 40},
                    {"id": "unsubscribe", "event": "unsubscribe", "points": -30},
                    {"id": "webinar", "event": "webinar_attended", "points": 25, "half_life": "never"},
                ],
                "levels": [{"name": "MQL", "enter": 60, "leave": 50}, {"name": "LOW", "enter": 80}],
            }
        )
    ]
)


@settings(max_examples=80, suppress_health_check=[HealthCheck.too_slow])
@given(histories(types=["demo_request", "unsubscribe", "webinar_attended"], span_ms=2 * DAY, max_size=12))
def test_next_due_is_exact_when_positive_and_negative_terms_share_a_half_life(events):
    """Terms of one half-life sum to one exponential whatever their signs: the exact search, not the grid, runs,
    and the crossing it predicts happens at that millisecond and not one before."""
    state, _ = apply_all(MIXED, events)
    if state is None:
        return
    now = max(event.occurred_at_ms for event in events)
    state = MIXED.advance(state, now).state
    assert not needs_grid(MIXED.models[0], state.models["mixed"])  # one half-life: the exact search
    due = MIXED.next_due(state, now)
    if due is None:
        assert MIXED.advance(state, now + 200 * DAY).crossings == ()
        return
    assert [c.occurred_at_ms for c in MIXED.advance(state, due).crossings][:1] == [due]
    assert MIXED.advance(state, due - 1).crossings == ()


def test_only_terms_of_both_signs_on_several_half_lives_need_the_grid():
    two_half_lives = parse_model(
        {
            "id": "two",
            "version": 1,
            "change_note": "a positive rule on 1 day, a negative one on 10 days",
            "engagement": {"half_life": "1d", "floor": None},
            "rules": [
                {"id": "demo", "event": "demo_request", "points": 40},
                {"id": "unsubscribe", "event": "unsubscribe", "points": -30, "half_life": "10d"},
            ],
        }
    )
    engine = Engine([two_half_lives])
    demo, unsubscribe = (
        LeadEvent(f"e{n}", "lead", t, T0, "test", {}) for n, t in enumerate(["demo_request", "unsubscribe"])
    )
    only_positive = engine.apply_event(None, demo).state
    both = engine.apply_event(only_positive, unsubscribe).state
    assert not needs_grid(two_half_lives, only_positive.models["two"])
    assert needs_grid(two_half_lives, both.models["two"])
