"""Filters keep the engine's promise of order independence (ADR 036), checked by hypothesis: for random histories
of clicks, sends and other events under models with caps, once_per, windows and decay, every arrival order gives
the same final scores and the same ignored events, and those are exactly what the filters' definitions say
(computed here from the whole history): the score is that of the same model without filters over the events kept.
"""

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scoring import Engine, LeadEvent, LeadState, parse_model
from tests.conftest import T0

SECOND = 1000
WITHIN_MS = 30 * SECOND
RULES = [
    {"id": "click", "event": "email_click", "points": 3, "half_life": "1h", "cap": {"points": 6, "per": "1m"}},
    {
        "id": "click-e1",
        "event": "email_click",
        "when": {"field": "properties.email_id", "equals": "e1"},
        "points": 5,
        "once_per": "2m",
    },
    {"id": "view", "event": "page_view", "points": 1, "window": "2m", "half_life": "10m"},
    {"id": "careers", "event": "page_view", "when": {"field": "properties.path", "equals": "/careers"}, "points": -2},
    {"id": "open", "event": "email_open", "points": 2, "half_life": "30m", "once_per": "1m"},
    {"id": "sent", "event": "email_sent", "points": 0.5, "cap": {"points": 1, "per": "1m"}},
]
FILTERS = {
    "all": {
        "scanner_clicks": {
            "within": "30s",
            "send_event": "email_sent",
            "send_property": "sent_at",
            "match": "email_id",
        },
        "bursts": {"max_events": 3, "per": "10s"},
        "user_agents": {"match": ["bot"]},
    },
    "any-send": {
        "scanner_clicks": {"within": "30s", "send_event": "email_sent"},
        "bursts": {"max_events": 2, "per": "5s"},
    },
}


def _model(model_id, filters):
    data = {"id": model_id, "version": 1, "change_note": "t", "engagement": {"floor": None}, "rules": RULES}
    return parse_model({**data, "filters": filters} if filters else data)


FILTERED = Engine([_model(name, filters) for name, filters in FILTERS.items()])
PLAIN = {name: Engine([_model(name, None)]) for name in FILTERS}


@st.composite
def histories(draw, max_size=24):
    """One lead's events over three minutes, crowded into few ten-second slots so that sends, clicks and bursts
    meet; each event within the model's lateness, so every arrival order is allowed."""
    events = []
    for n in range(draw(st.integers(0, max_size))):
        event_type = draw(st.sampled_from(["email_click", "email_click", "email_sent", "page_view", "email_open"]))
        at_ms = T0 + draw(st.integers(0, 17)) * 10 * SECOND + draw(st.integers(0, 9_999))
        properties = {}
        if event_type in ("email_click", "email_sent"):
            email = draw(st.sampled_from(["e1", "e2", None] if event_type == "email_click" else ["e1", "e2"]))
            if email is not None:
                properties["email_id"] = email
        if event_type == "email_click" and draw(st.booleans()):
            properties["sent_at"] = str(at_ms - draw(st.integers(-5, 60)) * SECOND)
        if event_type == "page_view":
            properties["path"] = draw(st.sampled_from(["/careers", "/pricing"]))
        if draw(st.integers(0, 9)) == 0:
            properties["user_agent"] = "Mozilla/5.0 (compatible; Bot/2.1)"
        events.append(LeadEvent(f"e{n}", "lead", event_type, at_ms, "test", properties))
    return events


def expected_ignored(events, filters):
    """The definition of each filter, applied to the whole history at once."""
    ignored = set()
    bursts, scanner, agents = filters.get("bursts"), filters.get("scanner_clicks"), filters.get("user_agents")
    per_period = {}
    for event in events:
        if bursts:
            per_ms = 10 * SECOND if bursts["per"] == "10s" else 5 * SECOND
            per_period.setdefault(event.occurred_at_ms // per_ms, []).append(event.event_id)
    if bursts:
        for ids in per_period.values():
            if len(ids) > bursts["max_events"]:
                ignored.update(ids)
    for event in events:
        if agents and "bot" in event.properties.get("user_agent", "").lower():
            ignored.add(event.event_id)
        if scanner and event.type == "email_click" and _scanner_click(event, events, scanner):
            ignored.add(event.event_id)
    return ignored


def _scanner_click(click, events, scanner):
    at_ms = click.occurred_at_ms
    sent_at = click.properties.get("sent_at")
    if "send_property" in scanner and sent_at is not None and 0 <= at_ms - int(sent_at) <= WITHIN_MS:
        return True
    key = click.properties.get("email_id") if "match" in scanner else ""
    return key is not None and any(
        send.type == "email_sent"
        and 0 <= at_ms - send.occurred_at_ms <= WITHIN_MS
        and (key == "" or send.properties.get("email_id") == key)
        for send in events
    )


def apply_all(engine, events):
    state, ignored = None, set()
    for event in events:
        update = engine.apply_event(state, event)
        state = update.state
        ignored |= {(i.model_id, i.event_id) for i in update.ignored}
    return state or LeadState("lead"), ignored


def scores(engine, state, at_ms):
    return {snapshot.model_id: snapshot.score for snapshot in engine.snapshot(state, at_ms)}


def close(a, b):
    return abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))


@settings(max_examples=120, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories(), st.randoms(use_true_random=False), st.integers(0, 600 * SECOND))
def test_every_arrival_order_gives_the_same_scores_and_ignores_what_the_filters_define(events, rnd, later):
    shuffled = list(events)
    rnd.shuffle(shuffled)
    by_time = sorted(events, key=lambda e: e.occurred_at_ms)
    at_ms = T0 + 180 * SECOND + later
    results = [apply_all(FILTERED, order) for order in (events, shuffled, by_time)]
    first = scores(FILTERED, results[0][0], at_ms)
    for state, ignored in results:
        assert ignored == results[0][1]
        for model_id, score in scores(FILTERED, state, at_ms).items():
            assert close(score, first[model_id]), (model_id, score, first[model_id])
    for model_id, filters in FILTERS.items():
        expected = expected_ignored(events, filters)
        assert {event_id for m, event_id in results[0][1] if m == model_id} == expected
        kept, _ = apply_all(PLAIN[model_id], [e for e in by_time if e.event_id not in expected])
        assert close(first[model_id], scores(PLAIN[model_id], kept, at_ms)[model_id])


@settings(max_examples=40, deadline=None)
@given(histories(), st.randoms(use_true_random=False))
def test_re_delivering_any_event_changes_nothing(events, rnd):
    state, _ = apply_all(FILTERED, events)
    for event in rnd.sample(events, min(len(events), 5)):
        update = FILTERED.apply_event(state, event)
        assert update.duplicate and update.ignored == () and update.changes == ()
