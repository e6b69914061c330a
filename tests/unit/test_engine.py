from itertools import pairwise

from hypothesis import given
from hypothesis import strategies as st

from scoring import Direction, LeadState, level_for, parse_model, score_event, score_lead
from tests.conftest import T0, make_event

POINTS = {"email_open": 1, "page_view": 2, "content_download": 8, "demo_request": 30, "unsubscribe": -20}


def run(model, lead_id, types):
    state, outcomes = None, []
    for offset, event_type in enumerate(types):
        outcome = score_event(model, state, make_event(lead_id, event_type, T0 + offset * 1000))
        state = outcome.state
        outcomes.append(outcome)
    return state, outcomes


def test_points_per_event_type_add_up(b2b_model):
    state, outcomes = run(b2b_model, "a", ["email_open", "page_view", "content_download", "demo_request"])
    assert [o.change.score for o in outcomes] == [1, 3, 11, 41]
    assert state.points_by_rule == {"email-open": 1, "page-view": 2, "content-download": 8, "demo-request": 30}
    assert state.events_scored == 4
    assert state.updated_at_ms == T0 + 3000


def test_change_explains_itself(b2b_model):
    outcome = score_event(b2b_model, None, make_event("a", "demo_request", event_id="ev-1"))
    change = outcome.change
    assert (change.previous_score, change.score, change.delta) == (0, 30, 30)
    assert [(c.rule_id, c.points) for c in change.contributions] == [("demo-request", 30)]
    assert change.cause_event_id == "ev-1"
    assert (change.model_id, change.model_version) == ("b2b", 1)


def test_event_without_rule_changes_nothing_but_is_counted(b2b_model):
    outcome = score_event(b2b_model, None, make_event("a", "form_fill_unknown_to_model"))
    assert outcome.change is None
    assert outcome.crossings == ()
    assert outcome.state.events_scored == 1


def test_mql_crossing_upwards_once(b2b_model):
    _, outcomes = run(b2b_model, "a", ["demo_request", "demo_request", "email_open", "page_view"])
    crossings = [c for o in outcomes for c in o.crossings]
    assert [(c.level, c.direction, c.score, c.threshold) for c in crossings] == [("MQL", Direction.UP, 60, 60)]
    assert outcomes[1].state.level == "MQL"


def test_jump_over_two_levels_reports_both_in_order():
    model = parse_model(
        {
            "id": "big",
            "version": 1,
            "change_note": "t",
            "rules": [
                {"id": "demo", "event": "demo_request", "points": 120},
                {"id": "out", "event": "unsubscribe", "points": -150},
            ],
            "levels": [{"name": "MQL", "enter": 60}, {"name": "SQL", "enter": 100}],
        }
    )
    up = score_event(model, None, make_event("a", "demo_request"))
    assert [(c.level, c.direction) for c in up.crossings] == [("MQL", Direction.UP), ("SQL", Direction.UP)]
    down = score_event(model, up.state, make_event("a", "unsubscribe"))
    assert [(c.level, c.direction) for c in down.crossings] == [("SQL", Direction.DOWN), ("MQL", Direction.DOWN)]
    assert down.state.level is None


def test_negative_points_cross_down(b2b_model):
    state, _ = run(b2b_model, "a", ["demo_request", "trial_request", "webinar_attended"])
    assert state.level == "MQL"
    down = score_event(b2b_model, state, make_event("a", "unsubscribe"))
    assert down.state.score == 55
    assert [(c.level, c.direction, c.score) for c in down.crossings] == [("MQL", Direction.DOWN, 55)]


def test_output_ids_are_deterministic(b2b_model):
    event = make_event("a", "demo_request", event_id="same")
    first = score_event(b2b_model, None, event)
    again = score_event(b2b_model, None, event)
    other = score_event(b2b_model, None, make_event("a", "demo_request", event_id="other"))
    assert first.change.change_id == again.change.change_id
    assert first.change.change_id != other.change.change_id


def test_state_round_trips_through_plain_data(b2b_model):
    state, _ = score_lead([b2b_model], None, make_event("a", "demo_request"))
    assert LeadState.from_dict(state.to_dict()) == state


event_types = st.sampled_from(sorted(POINTS))


@given(st.lists(event_types, max_size=60), st.randoms(use_true_random=False))
def test_score_is_the_sum_of_points_in_any_order(b2b_model, types, rnd):
    expected = sum(POINTS[t] for t in types)
    state, _ = run(b2b_model, "a", types)
    shuffled = list(types)
    rnd.shuffle(shuffled)
    state_shuffled, _ = run(b2b_model, "a", shuffled)
    final = state.score if state else 0
    assert final == expected
    assert (state_shuffled.score if state_shuffled else 0) == expected


@given(st.lists(event_types, max_size=60))
def test_crossings_alternate_and_agree_with_final_level(b2b_model, types):
    state, outcomes = run(b2b_model, "a", types)
    for level in b2b_model.levels:
        directions = [c.direction for o in outcomes for c in o.crossings if c.level == level.name]
        assert all(a != b for a, b in pairwise(directions)), "crossings must alternate"
        inside = bool(state) and state.score >= level.enter
        assert directions.count(Direction.UP) - directions.count(Direction.DOWN) == int(inside)
    assert (state.level if state else None) == level_for(b2b_model, state.score if state else 0)
