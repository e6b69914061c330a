"""The account roll-up (ADR 041): the ``account:`` section, lead -> account mapping, member updates, the account
engine's roll-up (cap, weights, coverage, levels with hysteresis), duplicates, LEFT/ERASED, exact decay crossings,
snapshots and deterministic ids."""

from __future__ import annotations

import copy
import re
from pathlib import Path
from typing import Any

import pytest

from scoring import Engine, LeadEvent, LeadProfile, LeadState, ScoringModel, load_model, parse_model
from scoring.accounts.engine import AccountEngine
from scoring.accounts.members import (
    account_of,
    erased_member_updates,
    left_member_updates,
    member_updates,
    merged_member_updates,
)
from scoring.accounts.records import AccountCause, MemberCause, MemberUpdate
from scoring.accounts.state import AccountState, decode_account_state, encode_account_state
from scoring.accounts.values import AccountValues, holds, values_at
from scoring.errors import ModelError
from scoring.examples import example_model_path
from scoring.identities.merge import merge_into
from scoring.identities.records import Absorption, IdentityKind
from scoring.outputs import Direction, Update
from tests.conftest import DAY, T0

HOUR = 3_600_000
RAW: dict[str, Any] = {
    "id": "acc",
    "version": 1,
    "change_note": "accounts",
    "rules": [
        {"id": "view", "event": "page_view", "points": 10, "half_life": "1d"},
        {"id": "demo", "event": "demo_request", "points": 30, "half_life": "2d"},
        {"id": "form", "event": "form_fill", "points": 5, "window": "2d"},
        {"id": "vp", "dimension": "fit", "when": {"field": "seniority", "equals": "vp"}, "points": 5},
    ],
    "account": {
        "from": ["event", {"profile": "company"}, "email_domain"],
        "member_cap": 40,
        "weights": {"field": "seniority", "values": {"VP": 2.0}, "default": 1.0},
        "fit": [{"id": "big", "when": {"field": "company_size", "gte": 1000}, "points": 20}],
        "buying_group": {"field": "seniority", "roles": ["vp", "manager"], "engaged_at": 5},
        "levels": [{"name": "hot", "enter": 50, "leave": 30, "coverage": 2}],
        "trend": {"window": "7d", "baseline": 2, "ratio": 1.5, "min_points": 10},
    },
}
MODEL = parse_model(RAW, "acc.yaml")
ENGINE = Engine([MODEL])
ACCOUNTS = AccountEngine([MODEL])


def with_account(**changes: Any) -> dict[str, Any]:
    raw = copy.deepcopy(RAW)
    raw["account"].update(changes)
    return raw


def member(
    lead_id: str,
    events: list[tuple[str, int]],
    seniority: str | None = "manager",
    size: int | None = None,
    account: str = "acme",
    profile_at: int = T0,
    model: ScoringModel = MODEL,
) -> MemberUpdate:
    """The member update of a lead with ``events`` ((type, time)) and a profile, in account ``account``."""
    engine = Engine([model])
    state = engine.score_profile(None, LeadProfile(lead_id, profile_at, seniority=seniority, company_size=size)).state
    update = None
    for n, (kind, at_ms) in enumerate(events):
        before = dict(state.accounts)
        update = engine.score_event(state, LeadEvent(f"{lead_id}-{n}", lead_id, kind, at_ms, "web", account_id=account))
        sent = member_updates(engine, before, update, account, MemberCause.EVENT, f"{lead_id}-{n}", at_ms)
        state = update.state
        if sent:
            last = sent[-1]
    assert update is not None
    return last


# ---- the section ----------------------------------------------------------------------------------------


def test_a_model_without_an_account_section_has_none() -> None:
    raw = copy.deepcopy(RAW)
    del raw["account"]
    assert parse_model(raw).account is None
    assert AccountEngine([parse_model(raw)]).models == ()


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"bogus": 1}, "acc.yaml: account.bogus: unknown field"),
        ({"member_cap": -1}, "acc.yaml: account.member_cap"),
        ({"from": ["fax"]}, "acc.yaml: account.from[0]: expected one of: event, email_domain"),
        ({"free_mail": "nope"}, "acc.yaml: account.free_mail: no list named 'nope'"),
        ({"fit": [{"id": "x", "when": {"field": "a", "gte": "big"}, "points": 1}]}, "account.fit[0] (id 'x').when"),
        ({"levels": [{"name": "hot", "enter": 10, "coverage": 3}]}, "account.levels[0] (name 'hot').coverage"),
        ({"levels": [{"name": "hot", "enter": 10, "leave": 20}]}, "leave must not be above enter"),
        ({"weights": {"field": "seniority", "values": {"vp": -1}}}, "account.weights.values.vp"),
        ({"trend": {"window": "never"}}, "account.trend"),
        ({"buying_group": {"field": "seniority", "roles": ["vp", "VP"]}}, "roles must be distinct"),
    ],
)
def test_section_errors_name_the_file_and_the_field(changes: dict[str, Any], message: str) -> None:
    with pytest.raises(ModelError, match=re.escape(message)):
        parse_model(with_account(**changes), "acc.yaml")


def test_coverage_without_a_buying_group_is_an_error() -> None:
    raw = with_account(levels=[{"name": "hot", "enter": 10, "coverage": 1}])
    del raw["account"]["buying_group"]
    with pytest.raises(ModelError, match=r"add account\.buying_group"):
        parse_model(raw, "acc.yaml")


def test_the_example_b2b_model_has_an_account_section_its_engine_keeps_fields_for() -> None:
    model = load_model(example_model_path("b2b"))
    assert model.account is not None and model.account.buying_group is not None
    assert {"seniority", "company_size", "industry", "email_domain"} <= Engine([model]).routing_fields
    assert "gmail.com" in model.account.free_mail  # the model's own free_mail list


# ---- lead -> account ------------------------------------------------------------------------------------


def test_account_of_tries_the_sources_in_order_and_skips_free_mail() -> None:
    spec = MODEL.account
    assert spec is not None
    assert account_of(spec, "acct-1", {"company": "Globex", "email_domain": "globex.io"}) == "acct-1"
    assert account_of(spec, None, {"company": " Globex ", "email_domain": "globex.io"}) == "Globex"
    assert account_of(spec, None, {"email_domain": "Globex.IO"}) == "globex.io"
    assert account_of(spec, None, {"email": "ann@initech.com"}) == "initech.com"
    assert account_of(spec, None, {"email_domain": "gmail.com"}) is None
    assert account_of(spec, None, {"account_id": "acct-9", "email_domain": "x.com"}) == "acct-9"  # events' latest
    assert account_of(spec, "  ", {}) is None


def test_member_updates_map_a_lead_move_it_and_keep_it_where_its_events_put_it() -> None:
    profile = LeadProfile("ann", T0, email="ann@initech.com", seniority="vp", company_size=5000)
    update = ENGINE.score_profile(None, profile)
    sent = member_updates(ENGINE, {}, update, None, MemberCause.PROFILE, f"profile@{T0}", T0)
    assert [(m.account_id, m.cause) for m in sent] == [("initech.com", MemberCause.PROFILE)]
    assert update.state.accounts == {"acc": "initech.com"}
    assert sent[0].fields == {"company_size": 5000, "seniority": "vp"} and sent[0].fields_at_ms == T0
    state = update.state
    before = dict(state.accounts)
    moved = ENGINE.score_event(state, LeadEvent("e1", "ann", "page_view", T0 + 1, "web", account_id="acct-7"))
    sent = member_updates(ENGINE, before, moved, "acct-7", MemberCause.EVENT, "e1", T0 + 1)
    assert [(m.account_id, m.cause, m.state is None) for m in sent] == [
        ("initech.com", MemberCause.LEFT, True),
        ("acct-7", MemberCause.EVENT, False),
    ]
    assert state.accounts == {"acc": "acct-7"}
    later = ENGINE.score_profile(state, LeadProfile("ann", T0 + 2, email="ann@initech.com", seniority="vp"))
    sent = member_updates(ENGINE, dict(state.accounts), later, None, MemberCause.PROFILE, "p2", T0 + 2)
    assert [m.account_id for m in sent] == ["acct-7"]  # the event source is sticky
    assert erased_member_updates(ENGINE, state, "req-1", T0 + 3) == [
        MemberUpdate("acct-7", "ann", "acc", 1, MemberCause.ERASED, "req-1", T0 + 3, None)
    ]


def test_a_merge_leaves_the_absorbed_account_and_takes_the_merged_state_where_the_events_put_the_lead() -> None:
    anon = ENGINE.score_event(None, LeadEvent("e1", "anon", "page_view", T0, "web", account_id="acct-7")).state
    member_updates(ENGINE, {}, Update(anon), "acct-7", MemberCause.EVENT, "e1", T0)
    ann = ENGINE.score_profile(None, LeadProfile("ann", T0 + 1, email="ann@initech.com", seniority="vp")).state
    member_updates(ENGINE, {}, Update(ann), None, MemberCause.PROFILE, "p1", T0 + 1)
    assert (anon.accounts, ann.accounts) == ({"acc": "acct-7"}, {"acc": "initech.com"})
    assert left_member_updates(ENGINE, anon, "i1", T0 + 2) == [
        MemberUpdate("acct-7", "anon", "acc", 1, MemberCause.LEFT, "i1", T0 + 2, None)
    ]
    before = dict(ann.accounts)
    update, _ = merge_into(ENGINE, ann, Absorption("i1", IdentityKind.IDENTIFY, "anon", "ann", T0 + 2, anon))
    sent = merged_member_updates(ENGINE, before, update, "i1", T0 + 2)
    # the event source comes first: the anonymous events' account id takes the lead there (as its next event would)
    assert [(m.account_id, m.cause, m.state is None) for m in sent] == [
        ("initech.com", MemberCause.LEFT, True),
        ("acct-7", MemberCause.MERGE, False),
    ]
    assert sent[1].state is not None and sent[1].state.events_scored == 1 and sent[1].fields == {"seniority": "vp"}
    assert ann.accounts == {"acc": "acct-7"}
    again, _ = merge_into(ENGINE, ann, Absorption("i1", IdentityKind.IDENTIFY, "anon", "ann", T0 + 2, anon))
    assert merged_member_updates(ENGINE, dict(ann.accounts), again, "i1", T0 + 2) == []  # a re-delivery


def test_a_lead_without_an_account_is_not_rolled_up_and_leaves_when_it_loses_it() -> None:
    update = ENGINE.score_profile(None, LeadProfile("bob", T0, email="bob@gmail.com"))
    assert member_updates(ENGINE, {}, update, None, MemberCause.PROFILE, "p", T0) == []
    assert update.state.accounts == {}
    state = LeadState("cy")
    first = ENGINE.score_profile(state, LeadProfile("cy", T0, email="cy@initech.com"))
    member_updates(ENGINE, {}, first, None, MemberCause.PROFILE, "p", T0)
    second = ENGINE.score_profile(state, LeadProfile("cy", T0 + 1, email="cy@gmail.com"))
    sent = member_updates(ENGINE, {"acc": "initech.com"}, second, None, MemberCause.PROFILE, "p2", T0 + 1)
    assert [(m.account_id, m.cause) for m in sent] == [("initech.com", MemberCause.LEFT)]
    assert state.accounts == {}


def test_an_event_that_moves_nothing_sends_nothing_and_a_duplicate_neither() -> None:
    state = ENGINE.score_profile(None, LeadProfile("dee", T0, email="dee@initech.com")).state
    first = ENGINE.score_event(state, LeadEvent("e1", "dee", "page_view", T0, "web"))
    assert len(member_updates(ENGINE, {}, first, None, MemberCause.EVENT, "e1", T0)) == 1
    before = dict(state.accounts)
    again = ENGINE.score_event(state, LeadEvent("e1", "dee", "page_view", T0, "web"))
    assert again.duplicate and member_updates(ENGINE, before, again, None, MemberCause.EVENT, "e1", T0) == []
    unscored = ENGINE.score_event(state, LeadEvent("e2", "dee", "email_open", T0 + 1, "web"))  # no rule
    assert member_updates(ENGINE, before, unscored, None, MemberCause.EVENT, "e2", T0 + 1) == []


# ---- roll-up ------------------------------------------------------------------------------------------


def test_engagement_rolls_up_with_the_member_cap_and_weights_and_fit_from_the_newest_profile() -> None:
    intern = member("intern", [("demo_request", T0), ("demo_request", T0 + 1), ("page_view", T0 + 2)], size=50)
    vp = member("vp", [("page_view", T0 + 3)], seniority="VP", size=2000, profile_at=T0 + 10)
    state = ACCOUNTS.apply(None, intern).state
    state = ACCOUNTS.apply(state, vp).state
    values = values_at(MODEL, state.models["acc"], T0 + 3)
    vp_engagement = 10.0  # at its own time
    assert values.engagement == pytest.approx(40 + 2.0 * vp_engagement)  # intern capped at 40, the VP weighs 2
    assert values.fit == 20  # company_size from the newest profile (the VP's, 2000)
    assert state.models["acc"].fields == {"company_size": 2000}
    assert values.coverage == ("vp", "manager")


def test_levels_need_the_score_and_the_coverage_with_hysteresis() -> None:
    account = AccountState("acme")
    up = ACCOUNTS.apply(account, member("m1", [("demo_request", T0), ("demo_request", T0 + 1)]))
    assert up.crossings == () and up.changes[0].score == pytest.approx(40)  # 60 capped at 40; one role
    up = ACCOUNTS.apply(account, member("v1", [("page_view", T0 + 2)], seniority="vp"))
    assert [(c.level, c.direction, c.cause) for c in up.crossings] == [("hot", Direction.UP, AccountCause.MEMBER)]
    assert up.crossings[0].coverage == ("vp", "manager")
    change = up.changes[0]
    assert change.member_cause is MemberCause.EVENT and change.level == "hot"
    assert [(s.member_id, s.role, s.weight) for s in change.members] == [("v1", "vp", 2.0)]
    assert [r.rule_id for r in change.rules] == ["view"]
    level = MODEL.account.levels[0]  # type: ignore[union-attr]
    between = AccountValues(35.0, 0.0, 35.0, ("vp", "manager"))  # below enter, above leave
    assert holds(level, True, between) and not holds(level, False, between)
    assert not holds(level, True, AccountValues(90.0, 0.0, 90.0, ("vp",)))  # one role: out whatever the score
    left = ACCOUNTS.apply(account, MemberUpdate("acme", "v1", "acc", 1, MemberCause.LEFT, "x", T0 + 3, None))
    assert [(c.level, c.direction) for c in left.crossings] == [("hot", Direction.DOWN)]  # coverage lost
    assert account.models["acc"].levels == [] and set(account.models["acc"].members) == {"m1"}


def test_duplicates_and_left_for_a_stranger_change_nothing() -> None:
    update = member("m1", [("page_view", T0)])
    account = ACCOUNTS.apply(None, update).state
    before = encode_account_state(account)
    again = ACCOUNTS.apply(account, update)
    assert again.duplicate and again.changes == () and encode_account_state(account) == before
    stranger = MemberUpdate("acme", "zed", "acc", 1, MemberCause.ERASED, "r", T0, None)
    assert ACCOUNTS.apply(account, stranger).duplicate
    unknown = MemberUpdate("acme", "m1", "other-model", 1, MemberCause.EVENT, "e", T0, None)
    assert ACCOUNTS.apply(account, unknown).duplicate
    erased = ACCOUNTS.apply(account, MemberUpdate("acme", "m1", "acc", 1, MemberCause.ERASED, "r", T0 + 1, None))
    assert not erased.duplicate and account.models["acc"].members == {}
    assert erased.changes[0].score == 0 and erased.changes[0].members[0].points == pytest.approx(-10)


def test_the_least_recently_active_members_are_evicted_beyond_max_members() -> None:
    model = parse_model(with_account(max_members=2), "acc.yaml")
    engine = AccountEngine([model])
    account = AccountState("acme")
    for n, at in enumerate([T0 + 5, T0 + 1, T0 + 9]):
        engine.apply(account, member(f"m{n}", [("page_view", at)], model=model))
    assert set(account.models["acc"].members) == {"m0", "m2"}


# ---- time -----------------------------------------------------------------------------------------------


def brute_force(model: ScoringModel, account: AccountState, start: int, end: int, step: int) -> int | None:
    """The first ms in [start, end] at which the held level no longer holds, by scanning (then ms by ms)."""
    state = account.models[model.id]
    level = model.account.levels[0]  # type: ignore[union-attr]
    previous = start
    for at in range(start, end + 1, step):
        if not holds(level, True, values_at(model, state, at)):
            return next(t for t in range(previous, at + 1) if not holds(level, True, values_at(model, state, t)))
        previous = at
    return None


def test_decay_takes_the_account_out_at_the_exact_millisecond() -> None:
    account = AccountState("acme")
    ACCOUNTS.apply(account, member("m1", [("page_view", T0), ("page_view", T0 + 1), ("page_view", T0 + 2)]))
    ACCOUNTS.apply(account, member("v1", [("demo_request", T0 + 3)], seniority="vp"))
    assert account.models["acc"].levels == ["hot"]
    due = ACCOUNTS.next_due(account, T0 + 3)
    assert due is not None
    assert due == brute_force(MODEL, account, T0 + 3, T0 + 10 * DAY, 60_000)
    (snapshot,) = ACCOUNTS.snapshot(account, T0 + 3)
    assert snapshot.drops == (("hot", due),)
    early = ACCOUNTS.advance(account.copy(), due - 1)
    assert early.crossings == ()
    late = ACCOUNTS.advance(account, due + DAY)
    assert [(c.level, c.direction, c.cause, c.occurred_at_ms) for c in late.crossings] == [
        ("hot", Direction.DOWN, AccountCause.DECAY, due)
    ]
    assert ACCOUNTS.advance(account, due + 2 * DAY).crossings == ()


def test_decay_crossings_come_first_at_their_own_time_before_the_next_update() -> None:
    account = AccountState("acme")
    ACCOUNTS.apply(account, member("m1", [("page_view", T0), ("page_view", T0 + 1), ("page_view", T0 + 2)]))
    ACCOUNTS.apply(account, member("v1", [("demo_request", T0 + 3)], seniority="vp"))
    due = ACCOUNTS.next_due(account, T0 + 3)
    assert due is not None
    update = ACCOUNTS.apply(account, member("m2", [("page_view", due + DAY)]))
    first = update.crossings[0]
    assert (first.direction, first.cause, first.occurred_at_ms) == (Direction.DOWN, AccountCause.DECAY, due)


def test_window_expiry_is_a_breakpoint_found_exactly() -> None:
    account = AccountState("acme")
    forms = [("form_fill", T0 + n) for n in range(8)]  # 8 x 5 = 40 (capped at 40), no decay, 2d window
    ACCOUNTS.apply(account, member("m1", forms))
    ACCOUNTS.apply(account, member("v1", [("form_fill", T0 + 10), ("form_fill", T0 + 11)], seniority="vp"))
    assert account.models["acc"].levels == ["hot"]  # 40 + 2 * 10 = 60
    due = ACCOUNTS.next_due(account, T0 + 11)
    # m1's forms expire one a ms from T0 + 2d: 35 + 20, 30 + 20, ... and 5 + 20 < 30 at the seventh
    assert due == T0 + 2 * DAY + 6 == brute_force(MODEL, account, T0 + 11, T0 + 3 * DAY, 1000)


# ---- outputs ----------------------------------------------------------------------------------------------


def test_snapshot_reports_top_members_coverage_missing_roles_and_trend() -> None:
    account = AccountState("acme")
    ACCOUNTS.apply(account, member("m1", [("demo_request", T0)]))
    ACCOUNTS.apply(account, member("x1", [("page_view", T0 + 1)], seniority="intern"))
    (snapshot,) = ACCOUNTS.snapshot(account, T0 + 1, top=1)
    assert snapshot.member_count == 2 and [m.member_id for m in snapshot.top_members] == ["m1"]
    assert snapshot.coverage == ("manager",) and snapshot.missing_roles == ("vp",)
    assert snapshot.trend is not None and snapshot.trend.recent == pytest.approx(40, rel=1e-6)
    assert snapshot.trend.baseline == 0 and snapshot.trend.surging
    (later,) = ACCOUNTS.snapshot(account, T0 + 21 * DAY)
    assert later.trend is not None and later.trend.recent == 0 and not later.trend.surging


def test_ids_are_deterministic_and_the_state_round_trips() -> None:
    def run() -> tuple[list[str], bytes]:
        account = AccountState("acme")
        ids = []
        for update in [
            member("m1", [("demo_request", T0), ("demo_request", T0 + 1)]),
            member("v1", [("page_view", T0 + 2)], seniority="vp"),
        ]:
            result = ACCOUNTS.apply(account, update)
            ids += [c.change_id for c in result.changes] + [c.crossing_id for c in result.crossings]
        ids += [c.crossing_id for c in ACCOUNTS.advance(account, T0 + 30 * DAY).crossings]
        return ids, encode_account_state(account)

    first, second = run(), run()
    assert first == second and len(set(first[0])) == len(first[0]) == 4
    decoded = decode_account_state(first[1])
    assert encode_account_state(decoded) == first[1]


def test_the_example_model_rolls_up_the_demo_generators_accounts(tmp_path: Path) -> None:
    from streams.datasets.synthetic import JourneyGenerator

    model = load_model(example_model_path("b2b"))
    engine, accounts = Engine([model]), AccountEngine([model])
    generator = JourneyGenerator(80, seed=3)
    leads: dict[str, LeadState] = {}
    states: dict[str, AccountState] = {}
    for lead_id in generator.lead_ids:
        update = engine.score_profile(None, generator.profile(lead_id))
        leads[lead_id] = update.state
        for sent in member_updates(engine, {}, update, None, MemberCause.PROFILE, "p", generator.start_ms):
            states[sent.account_id] = accounts.apply(states.get(sent.account_id), sent).state
    for event in generator.events(4000):
        state = leads[event.lead_id]
        before = dict(state.accounts)
        update = engine.score_event(state, event)
        for sent in member_updates(engine, before, update, event.account_id, MemberCause.EVENT, event.event_id, 0):
            states[sent.account_id] = accounts.apply(states.get(sent.account_id), sent).state
    snapshots = [accounts.snapshot(state, event.occurred_at_ms)[0] for state in states.values()]
    assert any(s.coverage for s in snapshots) and any(s.levels for s in snapshots)
    assert not any(s.account_id.endswith("gmail.com") for s in snapshots)
