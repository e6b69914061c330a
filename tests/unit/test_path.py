"""The path to a level (scoring.path): fewest events, then least overshoot; caps, windows, ceilings, segments."""

import pytest

from scoring import Engine, LeadProfile, LeadState, example_model_path, load_model, parse_model
from scoring.path import UnknownLevelError, path_to, paths_to
from scoring.pathevents import describe, witness
from scoring.pathsearch import Budgets, Move, smallest_sets
from tests.conftest import DAY, T0, make_event

B2B = load_model(example_model_path("b2b"))


def model(rules, levels=({"name": "MQL", "enter": 60},), **extra):
    return parse_model(
        {"id": "m", "version": 1, "change_note": "t", "rules": list(rules), "levels": list(levels), **extra}
    )


def scored(m, *events, state=None):
    engine = Engine([m])
    for event in events:
        state = engine.apply_event(state, event).state
    return state if state is not None else LeadState("lead")


def ids(path):
    return sorted(action.rule_id for action in path.actions)


def test_fewest_events_then_least_overshoot_and_verified():
    m = model(
        [
            {"id": "demo", "event": "demo_request", "points": 40},
            {"id": "trial", "event": "trial_request", "points": 35},
            {"id": "webinar", "event": "webinar_attended", "points": 20},
            {"id": "open", "event": "email_open", "points": 1},
        ]
    )
    path = path_to(m, scored(m), "MQL", T0)
    assert path.status == "reachable"
    assert ids(path) == ["demo", "webinar"]  # 60 exactly: two events (demo + trial would be 75)
    assert (path.score_now, path.score_after, path.threshold) == (0.0, 60.0, 60.0)
    assert [a.points for a in path.actions] == [40.0, 20.0]
    assert path.actions[0].description == "any demo_request"


def test_already_there_and_unknown_level():
    m = model([{"id": "demo", "event": "demo_request", "points": 70}])
    state = scored(m, make_event("lead", "demo_request"))
    assert path_to(m, state, "MQL", T0).status == "already"
    with pytest.raises(UnknownLevelError, match="no level 'SQL'"):
        paths_to(Engine([m]), state, "SQL", T0)


def test_ceiling_makes_a_level_unreachable():
    m = model([{"id": "demo", "event": "demo_request", "points": 40}], engagement={"ceiling": 50})
    path = path_to(m, scored(m), "MQL", T0)
    assert path.status == "unreachable" and "ceiling (50)" in path.reason
    assert path.actions == ()


def test_fit_too_low_under_the_ceiling_is_unreachable_and_fit_high_enough_is_not():
    m = parse_model(
        {
            "id": "m",
            "version": 1,
            "change_note": "t",
            "engagement": {"ceiling": 50},
            "rules": [
                {"id": "demo", "event": "demo_request", "points": 50},
                {"id": "big", "dimension": "fit", "when": {"field": "company_size", "gte": 1000}, "points": 20},
            ],
            "levels": [{"name": "MQL", "enter": 60}],
        }
    )
    assert path_to(m, scored(m), "MQL", T0).status == "unreachable"
    state = Engine([m]).apply_profile(None, LeadProfile("lead", T0, company_size=5000)).state
    path = path_to(m, state, "MQL", T0)
    assert (path.status, ids(path), path.score_after) == ("reachable", ["demo"], 70.0)


def test_caps_and_once_per_offer_only_what_is_left():
    m = model(
        [
            {"id": "demo", "event": "demo_request", "points": 30, "once_per": "7d"},
            {"id": "click", "event": "email_click", "points": 10, "cap": {"points": 20, "per": "1d"}},
            {"id": "open", "event": "email_open", "points": 5},
        ]
    )
    state = scored(m, make_event("lead", "demo_request", T0), make_event("lead", "email_click", T0))
    path = path_to(m, state, "MQL", T0 + 1000)
    # 40 now: the demo is used up this week, one click is left today; 10 + 5 + 5 = 20 in three events
    assert path.status == "reachable"
    assert ids(path) == ["click", "open", "open"]
    assert "demo" not in {rule for action in path.actions for rule in action.rules}


def test_caps_alone_can_make_a_level_unreachable():
    m = model([{"id": "demo", "event": "demo_request", "points": 30, "once_per": "7d"}])
    state = scored(m, make_event("lead", "demo_request", T0))
    path = path_to(m, state, "MQL", T0 + DAY)
    assert path.status == "unreachable" and "no engagement action" in path.reason


def test_too_many_events_is_its_own_reason():
    m = model([{"id": "open", "event": "email_open", "points": 1}])
    path = path_to(m, scored(m), "MQL", T0)
    assert path.status == "unreachable" and path.reason == "not within 50 events"
    near = path_to(m, scored(m, *[make_event("lead", "email_open", T0) for _ in range(15)]), "MQL", T0)
    assert near.status == "reachable" and len(near.actions) == 45


def test_unconditioned_rules_of_the_type_count_with_a_conditioned_one():
    path = path_to(B2B, scored(B2B), "MQL", T0)
    assert path.status == "reachable" and path.score_after >= 60
    pricing = model(
        [
            {"id": "view", "event": "page_view", "points": 5},
            {
                "id": "pricing",
                "event": "page_view",
                "when": {"field": "properties.path", "equals": "/pricing"},
                "points": 25,
            },
            {"id": "blog", "event": "page_view", "when": {"field": "properties.path", "equals": "/blog"}, "points": 50},
        ]
    )
    path = path_to(pricing, scored(pricing), "MQL", T0)
    assert path.status == "reachable"
    assert [(a.rule_id, a.points, a.rules, a.properties) for a in path.actions] == [
        ("blog", 55.0, ("view", "blog"), {"path": "/blog"}),
        ("view", 5.0, ("view",), {}),
    ]


def test_a_window_does_not_shorten_what_happens_now_and_old_entries_are_gone():
    m = model([{"id": "demo", "event": "demo_request", "points": 30, "window": "30d"}])
    state = scored(m, make_event("lead", "demo_request", T0))
    assert len(path_to(m, state, "MQL", T0 + DAY).actions) == 1  # 30 still in the window + 30 now
    assert len(path_to(m, state, "MQL", T0 + 31 * DAY).actions) == 2  # the first one left the window


def test_decay_does_not_shrink_what_happens_now_but_shrinks_the_past():
    m = model([{"id": "demo", "event": "demo_request", "points": 40, "half_life": "10d"}])
    state = scored(m, make_event("lead", "demo_request", T0))
    later = path_to(m, state, "MQL", T0 + 10 * DAY)  # 20 left of the first one
    assert later.status == "reachable" and [a.points for a in later.actions] == [40.0]
    assert later.score_now == pytest.approx(20.0) and later.score_after == pytest.approx(60.0)


def test_a_level_left_through_decay_is_not_already_held():
    m = model([{"id": "demo", "event": "demo_request", "points": 70, "half_life": "10d"}])
    state = scored(m, make_event("lead", "demo_request", T0))
    assert path_to(m, state, "MQL", T0).status == "already"
    assert path_to(m, state, "MQL", T0 + 10 * DAY).status == "reachable"


def test_segment_outside_is_not_applicable():
    m = model([{"id": "demo", "event": "demo_request", "points": 70}], segment={"field": "country", "equals": "DE"})
    path = path_to(m, scored(m, make_event("lead", "demo_request")), "MQL", T0)
    assert path.status == "not_applicable" and path.actions == ()
    inside = Engine([m]).apply_profile(None, LeadProfile("lead", T0, country="DE")).state
    assert path_to(m, inside, "MQL", T0).status == "reachable"


def test_paths_to_every_model_with_the_level_or_the_one_asked():
    other = parse_model({**_raw("other"), "levels": [{"name": "SQL", "enter": 10}]})
    engine = Engine([B2B, other])
    assert [p.model_id for p in paths_to(engine, LeadState("lead"), "MQL", T0)] == ["b2b"]
    assert [p.model_id for p in paths_to(engine, LeadState("lead"), "SQL", T0)] == ["b2b", "other"]
    assert [p.model_id for p in paths_to(engine, LeadState("lead"), "SQL", T0, "other")] == ["other"]
    with pytest.raises(UnknownLevelError, match="no model 'nope'"):
        paths_to(engine, LeadState("lead"), "SQL", T0, "nope")


def _raw(model_id):
    return {
        "id": model_id,
        "version": 1,
        "change_note": "t",
        "rules": [{"id": "x", "event": "email_open", "points": 5}],
    }


@pytest.mark.parametrize(
    ("condition", "fields"),
    [
        ({"field": "properties.path", "starts_with": "/pricing"}, {"properties.path": "/pricing"}),
        ({"field": "properties.asset", "matches": "white ?paper|roi"}, {"properties.asset": "whitepaper"}),
        ({"field": "properties.n", "gt": 3}, {"properties.n": "4"}),
        ({"not": {"field": "properties.asset", "matches": "guide"}}, {}),
        ({"all": [{"field": "source", "equals": "web"}, {"field": "properties.a", "in": ["y", "x"]}]}, None),
        ({"field": "type", "equals": "email_open"}, None),  # another event type: no such event
    ],
)
def test_witness_makes_up_an_event_for_a_condition(condition, fields):
    m = model([{"id": "r", "event": "page_view", "when": condition, "points": 1}])
    made = witness(m.rules[0].condition, "page_view")
    if fields is None and "all" in condition:
        assert made == {"source": "web", "properties.a": "x"}
    else:
        assert made == fields


def test_describe_says_the_condition():
    m = model(
        [
            {
                "id": "r",
                "event": "page_view",
                "when": {
                    "all": [{"field": "properties.path", "starts_with": "/p"}, {"field": "properties.n", "gte": 2}]
                },
                "points": 1,
            }
        ]
    )
    assert describe(m.rules[0].condition) == "properties.path starts with /p and properties.n >= 2"


def test_search_prefers_fewer_events_then_less_overshoot():
    budgets = Budgets((40.0, 25.0, 21.0), (None, None, None))
    moves = [Move((0,)), Move((1,)), Move((2,))]
    found = smallest_sets(moves, budgets, lambda added: added, 50.0)
    assert found is not None and found.exact
    assert found.sets[0] == (1, 1)  # 50: two events, no overshoot (40 + 21 overshoots by 11)
    assert smallest_sets(moves, Budgets((40.0, 25.0, 21.0), (0, 1, 0)), lambda added: added, 50.0) is None
