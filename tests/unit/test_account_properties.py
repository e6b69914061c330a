"""Properties of the account roll-up (ADR 041), by hypothesis: the order of different members' updates never
changes the final snapshot; advancing the clock before an update gives the same crossings as the update alone;
a state read back scores as the one written; what the engine keeps beside a state gives the definition's floats."""

from __future__ import annotations

import math
from typing import Any

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from scoring import Engine, LeadEvent, LeadProfile, parse_model
from scoring.accounts.engine import AccountEngine, AccountUpdate
from scoring.accounts.members import member_updates
from scoring.accounts.records import MemberCause, MemberUpdate
from scoring.accounts.state import AccountState, decode_account_state, encode_account_state
from scoring.accounts.values import member_engagement, values_at
from scoring.modelstate import scores_at
from tests.conftest import DAY, T0

HOUR = 3_600_000


def model(leave: float) -> Any:
    return parse_model(
        {
            "id": "p",
            "version": 1,
            "change_note": "account properties",
            "rules": [
                {"id": "view", "event": "page_view", "points": 7, "half_life": "1d"},
                {"id": "demo", "event": "demo_request", "points": 25, "half_life": "3d"},
                {"id": "form", "event": "form_fill", "points": 6, "window": "1d"},
                {"id": "open", "event": "email_open", "points": 2, "once_per": "1d", "half_life": "1d"},
                {"id": "unsub", "event": "unsubscribe", "points": -8, "half_life": "2d"},
            ],
            "engagement": {"floor": 0},
            "account": {
                "from": ["event"],
                "member_cap": 30,
                "weights": {"field": "seniority", "values": {"vp": 1.5, "intern": 0.5}},
                "fit": [{"id": "big", "when": {"field": "company_size", "gte": 500}, "points": 10}],
                "buying_group": {"field": "seniority", "roles": ["vp", "manager"], "engaged_at": 4},
                "levels": [
                    {"name": "warm", "enter": 25, "leave": min(25, leave), "coverage": 1},
                    {"name": "hot", "enter": 50, "leave": min(50, leave + 25), "coverage": 2},
                ],
                "trend": {"window": "1d", "baseline": 2, "ratio": 1.5, "min_points": 5},
            },
        }
    )


PLAIN = model(leave=100)  # leave == enter: levels are a function of the values (no hysteresis)
HYSTERESIS = model(leave=15)
TYPES = ["page_view", "demo_request", "form_fill", "email_open", "unsubscribe"]
SENIORITY = ["vp", "manager", "intern", None]


@st.composite
def members(draw: st.DrawFn) -> list[tuple[str, str | None, int | None, list[tuple[str, int]]]]:
    count = draw(st.integers(1, 4))
    return [
        (
            f"m{n}",
            draw(st.sampled_from(SENIORITY)),
            draw(st.sampled_from([None, 100, 1000])),
            sorted(
                draw(st.lists(st.tuples(st.sampled_from(TYPES), st.integers(0, 4 * DAY)), max_size=8)),
                key=lambda item: item[1],
            ),
        )
        for n in range(count)
    ]


def updates_of(
    scoring_model: Any, spec: list[tuple[str, str | None, int | None, list[tuple[str, int]]]]
) -> list[list[MemberUpdate]]:
    """Per member, the member updates its profile and events send, in its own order."""
    engine = Engine([scoring_model])
    out = []
    for member_id, seniority, size, events in spec:
        sent: list[MemberUpdate] = []
        profile = engine.score_profile(None, LeadProfile(member_id, T0, seniority=seniority, company_size=size))
        state = profile.state
        sent += member_updates(engine, {}, profile, "acme", MemberCause.PROFILE, f"profile@{T0}", T0)
        for n, (kind, at) in enumerate(events):
            before = dict(state.accounts)
            event = LeadEvent(f"{member_id}-{n}", member_id, kind, T0 + at, "web", account_id="acme")
            update = engine.score_event(state, event)
            sent += member_updates(engine, before, update, "acme", MemberCause.EVENT, event.event_id, T0 + at)
        out.append(sent)
    return out


def interleave(per_member: list[list[MemberUpdate]], picks: list[int]) -> list[MemberUpdate]:
    """The members' updates merged in an order ``picks`` chooses, each member's own order kept (one partition)."""
    queues = [list(updates) for updates in per_member]
    merged: list[MemberUpdate] = []
    n = 0
    while any(queues):
        live = [q for q in queues if q]
        merged.append(live[picks[n % len(picks)] % len(live)].pop(0) if picks else live[0].pop(0))
        n += 1
    return merged


def run(engine: AccountEngine, updates: list[MemberUpdate]) -> AccountState:
    state = AccountState("acme")
    for update in updates:
        engine.apply(state, update)
    return state


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(members(), st.lists(st.integers(0, 7), max_size=30), st.lists(st.integers(0, 8 * DAY), min_size=1, max_size=3))
def test_any_order_of_members_updates_gives_the_same_final_snapshot(spec, picks, offsets) -> None:  # type: ignore[no-untyped-def]
    for scoring_model in (PLAIN, HYSTERESIS):
        engine = AccountEngine([scoring_model])
        per_member = updates_of(scoring_model, spec)
        first = run(engine, interleave(per_member, []))
        second = run(engine, interleave(per_member, picks))
        for offset in offsets:
            (a,) = engine.snapshot(first, T0 + offset)
            (b,) = engine.snapshot(second, T0 + offset)
            if scoring_model is PLAIN:
                assert a == b
            else:  # hysteresis: the levels held depend on the path; everything else does not
                assert (a.score, a.engagement, a.fit, a.coverage, a.top_members, a.trend) == (
                    b.score,
                    b.engagement,
                    b.fit,
                    b.coverage,
                    b.top_members,
                    b.trend,
                )


def crossings(result: AccountUpdate) -> list[tuple[str, str, str, int]]:
    return [(c.level, c.direction, c.cause, c.occurred_at_ms) for c in result.crossings]


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(members(), st.integers(0, 6 * DAY), st.integers(0, 10**6))
def test_advancing_before_an_update_gives_the_same_crossings_as_the_update_alone(spec, gap, split) -> None:  # type: ignore[no-untyped-def]
    engine = AccountEngine([HYSTERESIS])
    updates = interleave(updates_of(HYSTERESIS, spec), [])
    if not updates:
        return
    *history, last = updates
    base = run(engine, history)
    last = MemberUpdate(
        last.account_id,
        last.member_id,
        last.model_id,
        last.model_version,
        last.cause,
        last.cause_id,
        last.occurred_at_ms + gap,
        last.state,
        last.fields,
        last.fields_at_ms,
    )
    alone = base.copy()
    direct = crossings(engine.apply(alone, last))
    stepped = base.copy()
    anchor = stepped.models["p"].anchor_ms if "p" in stepped.models else T0
    until = anchor + split % max(1, last.occurred_at_ms - anchor + 1)
    both = crossings(engine.advance(stepped, until)) + crossings(engine.apply(stepped, last))
    assert both == direct
    assert engine.snapshot(alone, last.occurred_at_ms) == engine.snapshot(stepped, last.occurred_at_ms)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(members(), st.integers(0, 10 * DAY))
def test_a_state_read_back_scores_as_the_one_written(spec, offset) -> None:  # type: ignore[no-untyped-def]
    engine = AccountEngine([HYSTERESIS])
    state = run(engine, interleave(updates_of(HYSTERESIS, spec), []))
    data = encode_account_state(state)
    back = decode_account_state(data)
    assert encode_account_state(back) == data
    at = T0 + offset
    assert engine.snapshot(back, at) == engine.snapshot(state, at)
    assert engine.next_due(back, at) == engine.next_due(state, at)
    assert crossings(engine.advance(back, at)) == crossings(engine.advance(state, at))


def plain_values(scoring_model: Any, state: AccountState, at: int) -> tuple[float, float, float, tuple[str, ...]]:
    """The account's values by their definition (ADR 041), with nothing kept: ``scores_at`` per member, fsum."""
    spec = scoring_model.account
    model_state = state.models["p"]
    group = spec.buying_group
    shares, engaged = [], set()
    for member in model_state.members.values():
        applies = member.state.applies and member.state.rules
        engagement = scores_at(scoring_model, member.state, at).engagement if applies else 0.0
        if (
            engagement >= group.engaged_at
            and engagement > 0
            and (role := group.role_of(member.fields.get(group.field)))
        ):
            engaged.add(role)
        shares.append(spec.weight_of(member.fields) * min(spec.member_cap, engagement))
    engagement_total, fit = math.fsum(shares), math.fsum(model_state.fit_points.values())
    score = spec.engagement_weight * engagement_total + spec.fit_weight * fit
    return engagement_total, fit, score, tuple(r for r in group.roles if r in engaged)


@settings(max_examples=40, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(members(), st.lists(st.integers(0, 8 * DAY), min_size=1, max_size=4))
def test_the_values_kept_beside_the_state_are_the_floats_of_the_definition(spec, offsets) -> None:  # type: ignore[no-untyped-def]
    engine = AccountEngine([HYSTERESIS])
    state = AccountState("acme")
    for update in interleave(updates_of(HYSTERESIS, spec), []):
        engine.apply(state, update)
        model_state = state.models.get("p")
        if model_state is not None and model_state.members:  # after each update, at its time: kept and moved
            values = values_at(HYSTERESIS, model_state, model_state.anchor_ms)
            expected = plain_values(HYSTERESIS, state, model_state.anchor_ms)
            assert (values.engagement, values.fit, values.score, values.coverage) == expected
            assert model_state.score == expected[2]
    if "p" not in state.models:
        return
    back = decode_account_state(encode_account_state(state))  # nothing kept: built again
    for offset in offsets:
        for kept in (state, back):
            values = values_at(HYSTERESIS, kept.models["p"], T0 + offset)
            assert (values.engagement, values.fit, values.score, values.coverage) == plain_values(
                HYSTERESIS, state, T0 + offset
            )
        for member in state.models["p"].members.values():
            applies = member.state.applies and member.state.rules
            plain = scores_at(HYSTERESIS, member.state, T0 + offset).engagement if applies else 0.0
            assert member_engagement(HYSTERESIS, member, T0 + offset) == plain
