"""The merge is exact (ADR 042), checked by hypothesis over random histories: scoring A's events under A and B's
under B, then merging A into B, gives what scoring every event of both under B gives; merging again changes nothing."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scoring import Engine, LeadEvent, LeadProfile, LeadState, parse_model
from scoring.identities.merge import merge_into, merge_states
from scoring.identities.records import Absorption, IdentityKind
from scoring.modelstate import rule_value, scores_at
from scoring.trend import trend_reading
from tests.conftest import DAY, T0
from tests.unit.test_filter_properties import FILTERS
from tests.unit.test_filter_properties import _model as _filtered
from tests.unit.test_filter_properties import histories as filter_histories

MIX = parse_model(
    {
        "id": "mix",
        "version": 1,
        "change_note": "t",
        "engagement": {"half_life": "3d", "floor": None},
        "rules": [
            {"id": "view", "event": "page_view", "points": 2, "cap": {"points": 6, "per": "1h"}},
            {"id": "pricing", "event": "page_view", "when": {"field": "properties.path", "equals": "/pricing"},
             "points": 10, "once_per": "1d"},
            {"id": "open", "event": "email_open", "points": 1, "once_per": "1d", "half_life": "never"},
            {"id": "form", "event": "form_fill", "points": 4, "window": "2d"},
            {"id": "bounce", "event": "email_bounce", "points": -5, "window": "1d", "half_life": "never"},
            {"id": "demo", "event": "demo_request", "points": 30},
            {"id": "download", "event": "content_download", "points": 8, "cap": {"points": 16, "per": "1d"},
             "half_life": "1d"},
            {"id": "big", "dimension": "fit", "when": {"field": "company_size", "gte": 500}, "points": 15},
            {"id": "vp", "dimension": "fit", "when": {"field": "seniority", "equals": "vp"}, "points": 20},
        ],
        "levels": [{"name": "MQL", "enter": 40, "leave": 30}, {"name": "SQL", "enter": 80, "leave": 70}],
        "trend": {"window": "1d", "baseline": "2d", "bucket": "1d", "min_points": 5},
    }
)  # fmt: skip
BIG = parse_model(
    {
        "id": "big",
        "version": 1,
        "change_note": "t",
        "segment": {"field": "company_size", "gte": 500},
        "rules": [
            {"id": "view", "event": "page_view", "points": 3, "once_per": "1h"},
            {"id": "demo", "event": "demo_request", "points": 50, "window": "3d"},
        ],
        "levels": [{"name": "hot", "enter": 50, "leave": 45}],
    }
)
ENGINE = Engine([MIX, BIG])  # BIG applies only to leads whose latest profile says 500 employees or more
TYPES = ["page_view", "email_open", "form_fill", "email_bounce", "demo_request", "content_download"]
PATHS = [{"path": "/pricing"}, {"path": "/blog"}]
SPAN = 5 * DAY  # within the 7-day lateness: any arrival order is allowed
#: anywhere in the span, or clustered in a few hours of a few days (so that caps fill up from both sides)
TIMES = st.one_of(
    st.integers(0, SPAN),
    st.builds(lambda day, hour, ms: day * DAY + hour * 3_600_000 + ms, st.integers(0, 4), st.integers(0, 2),
              st.integers(0, 3_599_999)),
)  # fmt: skip


@st.composite
def histories(draw: st.DrawFn, prefix: str, parity: int) -> list[LeadEvent | LeadProfile]:
    """One id's inputs (events, and profiles at distinct times of one parity: no two profiles tie), arrival order."""
    inputs: list[LeadEvent | LeadProfile] = []
    for n in range(draw(st.integers(0, 25))):
        event_type = draw(st.sampled_from(TYPES))
        properties = draw(st.sampled_from(PATHS)) if event_type == "page_view" else {}
        at_ms = T0 + draw(TIMES)
        inputs.append(LeadEvent(f"{prefix}{n}", prefix, event_type, at_ms, "test", properties))
    for half in draw(st.lists(st.integers(0, SPAN // 2), max_size=2, unique=True)):
        at_ms = T0 + 2 * half + parity
        size, seniority = draw(st.sampled_from([None, 50, 5000])), draw(st.sampled_from([None, "vp", "intern"]))
        inputs.append(LeadProfile(prefix, at_ms, company_size=size, seniority=seniority))
    return draw(st.permutations(inputs))


def score(inputs: list[LeadEvent | LeadProfile], lead_id: str) -> LeadState | None:
    state: LeadState | None = None
    for item in inputs:
        if isinstance(item, LeadEvent):
            event = LeadEvent(item.event_id, lead_id, item.type, item.occurred_at_ms, item.source, item.properties)
            state = ENGINE.score_event(state, event).state
        else:
            profile = LeadProfile(lead_id, item.updated_at_ms, company_size=item.company_size, seniority=item.seniority)
            state = ENGINE.score_profile(state, profile).state
    return state


def close(a: float, b: float) -> bool:
    return abs(a - b) <= 1e-9 * max(1.0, abs(a), abs(b))


def assert_same(merged: LeadState, expected: LeadState | None, at_ms: int) -> None:
    expected = expected or LeadState("B")
    assert merged.seen == expected.seen
    assert merged.latest_ms == expected.latest_ms
    for model in ENGINE.models:
        ours, theirs = merged.models.get(model.id), expected.models.get(model.id)
        if theirs is None:
            assert ours is None or not ours.events_scored
            continue
        assert ours is not None
        assert ours.events_scored == theirs.events_scored and ours.anchor_ms == theirs.anchor_ms
        assert (ours.fit_points, ours.fit_at_ms, ours.applies) == (theirs.fit_points, theirs.fit_at_ms, theirs.applies)
        for rule in model.rules:
            values = [rule_value(rule, s.rules[rule.id], at_ms) if rule.id in s.rules else 0.0 for s in (ours, theirs)]
            assert close(*values), (rule.id, values)
        a, b = scores_at(model, ours, at_ms), scores_at(model, theirs, at_ms)
        assert close(a.engagement, b.engagement) and close(a.fit, b.fit) and close(a.combined, b.combined)
        gains = [{k: v for k, v in (s.trend.gains if s.trend else {}).items() if v} for s in (ours, theirs)]
        assert gains[0] == gains[1]
        assert trend_reading(model, ours, at_ms) == trend_reading(model, theirs, at_ms)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(histories("A", 0), histories("B", 1), st.randoms(use_true_random=False), st.integers(0, 20 * DAY))
def test_merging_a_into_b_equals_scoring_everything_under_b(a_inputs, b_inputs, rnd, later):
    absorbed, survivor = score(a_inputs, "A"), score(b_inputs, "B")
    everything = a_inputs + b_inputs
    rnd.shuffle(everything)
    expected = score(everything, "B")
    absorption = Absorption("ident-1", IdentityKind.MERGE, "A", "B", T0 + SPAN, absorbed)
    pure = merge_states(ENGINE, survivor, absorbed, "B") if absorbed is not None else None
    update, merged = merge_into(ENGINE, survivor.copy() if survivor is not None else None, absorption)
    at_ms = T0 + SPAN + later
    assert_same(update.state, expected, at_ms)
    if pure is not None:
        assert_same(pure, expected, at_ms)
    assert update.state.absorbed == ["A"]
    assert merged.survivor_id == "B" and merged.absorbed_id == "A"
    for model_id, _, after in merged.scores:
        if model_id in update.scores:  # the models the merge moved: scored at the merge
            assert close(after, update.scores[model_id][1].combined)
    for change in update.changes:
        assert change.cause_event_id == "ident-1"
    for model in ENGINE.models:  # the levels held agree with the merged score (hysteresis: between is either)
        state = update.state.models.get(model.id)
        if state is not None and not state.applies:
            assert not state.levels
            continue
        for level in model.levels if state is not None else ():
            assert (state.score >= level.leave) if level.name in state.levels else (state.score < level.enter)
    again = update.state.copy()
    repeated, _ = merge_into(ENGINE, again, absorption)
    assert repeated.duplicate and not repeated.changes and not repeated.crossings
    assert again == update.state


FILTERED = Engine([_filtered(name, filters) for name, filters in FILTERS.items()])


def _renamed(events: list[LeadEvent], lead_id: str) -> list[LeadEvent]:
    return [
        LeadEvent(f"{lead_id}-{e.event_id}", lead_id, e.type, e.occurred_at_ms, e.source, e.properties) for e in events
    ]


def _scored(events: list[LeadEvent], lead_id: str) -> tuple[LeadState | None, set[str]]:
    state: LeadState | None = None
    ignored: set[str] = set()
    for event in events:
        update = FILTERED.score_event(state, LeadEvent(event.event_id, lead_id, *_rest(event)))
        state = update.state
        ignored |= {f"{i.model_id}/{i.event_id}" for i in update.ignored}
    return state, ignored


def _rest(event: LeadEvent) -> tuple[str, int, str, dict[str, str]]:
    return event.type, event.occurred_at_ms, event.source, dict(event.properties)


@settings(max_examples=100, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(filter_histories(), filter_histories(), st.randoms(use_true_random=False))
def test_merging_under_filters_equals_scoring_everything_under_b(a_events, b_events, rnd):
    """Clicks of one side soon after the other's sends, and bursts only both sides' events make, are taken back."""
    a_events, b_events = _renamed(a_events, "A"), _renamed(b_events, "B")
    (absorbed, a_ignored), (survivor, b_ignored) = _scored(a_events, "A"), _scored(b_events, "B")
    everything = a_events + b_events
    rnd.shuffle(everything)
    expected, all_ignored = _scored(everything, "B")
    absorption = Absorption(
        "ident-1", IdentityKind.IDENTIFY, "A", "B", max([T0, *(e.occurred_at_ms for e in everything)]), absorbed
    )
    update, _ = merge_into(FILTERED, survivor, absorption)
    at_ms = absorption.occurred_at_ms + 60_000
    expected = expected or LeadState("B")
    for model in FILTERED.models:
        ours, theirs = update.state.models.get(model.id), expected.models.get(model.id)
        if theirs is None:
            continue
        assert ours is not None
        assert close(scores_at(model, ours, at_ms).combined, scores_at(model, theirs, at_ms).combined)
    merged_ignored = a_ignored | b_ignored | {f"{i.model_id}/{i.event_id}" for i in update.ignored}
    assert merged_ignored == all_ignored
