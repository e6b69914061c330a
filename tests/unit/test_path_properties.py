"""Properties of the path to a level, checked with the engine over random models and histories (hypothesis).

Models: a few event types, rules with and without caps, once_per, windows and half-lives, an optional engagement
ceiling; conditions ``{field: properties.<p>, equals: <v>}`` so that an event matching a rule can be made up.
Negative rules are unconditioned (they count with every event of their type). Brute force enumerates the events
the action model allows: per type, one without properties and one per conditioned rule carrying its property.
"""

import itertools

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scoring import Engine, LeadEvent, LeadState, parse_model
from scoring.path import greedy_events, path_to
from tests.conftest import DAY, T0

TYPES = ["email_open", "page_view", "form_fill"]
DURATIONS = [None, "1h", "1d", "3d"]


@st.composite
def rules(draw):
    made = []
    for n in range(draw(st.integers(1, 5))):
        rule = {"id": f"r{n}", "event": draw(st.sampled_from(TYPES))}
        negative = draw(st.integers(0, 6)) == 0
        rule["points"] = -draw(st.integers(1, 10)) if negative else draw(st.integers(1, 40))
        if not negative and draw(st.booleans()):
            rule["when"] = {"field": f"properties.{draw(st.sampled_from('ab'))}", "equals": draw(st.sampled_from("xy"))}
        limit = draw(st.sampled_from(["none", "none", "cap", "once_per"]))
        if limit == "cap":
            rule["cap"] = {
                "points": abs(rule["points"]) * draw(st.integers(1, 3)),
                "per": draw(st.sampled_from(["1h", "1d"])),
            }
        elif limit == "once_per":
            rule["once_per"] = draw(st.sampled_from(["1h", "1d"]))
        for option in ("window", "half_life"):
            if (duration := draw(st.sampled_from(DURATIONS))) is not None:
                rule[option] = duration
        made.append(rule)
    return made


@st.composite
def models(draw):
    enter = draw(st.integers(5, 120))
    engagement = {"floor": 0}
    if draw(st.booleans()):
        engagement["ceiling"] = draw(st.integers(20, 150))
    raw = {
        "id": "m",
        "version": 1,
        "change_note": "generated",
        "engagement": engagement,
        "rules": draw(rules()),
        "levels": [{"name": "L", "enter": enter, "leave": enter - draw(st.integers(0, 5))}],
    }
    return parse_model(raw)


@st.composite
def histories(draw):
    events = []
    for n in range(draw(st.integers(0, 12))):
        properties = {draw(st.sampled_from("ab")): draw(st.sampled_from("xy"))} if draw(st.booleans()) else {}
        at_ms = T0 + draw(st.integers(0, 3 * DAY))
        events.append(LeadEvent(f"h{n}", "lead", draw(st.sampled_from(TYPES)), at_ms, "test", properties))
    return events


def history_state(engine, events):
    state = LeadState("lead")
    for event in sorted(events, key=lambda e: e.occurred_at_ms):
        state = engine.apply_event(state, event).state
    return state


def crosses(engine, state, events, at_ms):
    """Whether scoring ``events`` (all at ``at_ms``) takes the lead into level L."""
    state = engine.advance(state, at_ms).state
    for n, (event_type, properties) in enumerate(events):
        state = engine.apply_event(state, LeadEvent(f"p{n}", "lead", event_type, at_ms, "test", properties)).state
    return "L" in state.models["m"].levels if "m" in state.models else False


def allowed_events(model):
    """Every event the action model allows: per type, none or one rule's property."""
    events = {(rule.event, ()) for rule in model.rules}
    for rule in model.rules:
        if rule.condition.__class__.__name__ == "Compare":
            events.add((rule.event, ((rule.condition.field.removeprefix("properties."), rule.condition.operand),)))
    return sorted(events)


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(models(), histories(), st.integers(0, 2 * DAY))
def test_a_path_crosses_and_nothing_smaller_does(model, events, later):
    engine = Engine([model])
    state = history_state(engine, events)
    now = T0 + 3 * DAY + later
    path = path_to(model, state, "L", now)
    proposed = [(a.event_type, dict(a.properties)) for a in path.actions]
    allowed = [(event_type, dict(props)) for event_type, props in allowed_events(model)]
    if path.status == "already":
        assert "L" in engine.advance(state, path.at_ms).state.models["m"].levels
    elif path.status == "reachable":
        assert crosses(engine, state, proposed, path.at_ms)
        assert path.score_after >= path.threshold
        if len(proposed) <= 3:
            for smaller in itertools.combinations_with_replacement(allowed, len(proposed) - 1):
                assert not crosses(engine, state, list(smaller), path.at_ms), (smaller, path)
    else:
        assert path.status == "unreachable", path
        greedy = greedy_events(model, state, "L", now)
        assert not crosses(engine, state, [(e.type, dict(e.properties)) for e in greedy], path.at_ms)
        for size in range(1, 3):
            for tried in itertools.combinations_with_replacement(allowed, size):
                assert not crosses(engine, state, list(tried), path.at_ms), (tried, path)
