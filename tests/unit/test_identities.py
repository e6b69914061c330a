"""Identities (ADR 042): the outcome of each identity record, and the exact merge of an absorbed state."""

from __future__ import annotations

import pytest

from scoring import Cause, Direction, Engine, LeadEvent, LeadProfile, LeadState, parse_model
from scoring.errors import InvalidEventError
from scoring.filterlog import FilterLog, Logged, Period, Send
from scoring.identities.aliases import (
    AlreadyMergedError,
    ErasedIdentityError,
    IdentityError,
    MergeCycleError,
    MergeIntoErasedError,
    Outcome,
    SelfMergeError,
    check_identity,
    decide_identity,
)
from scoring.identities.merge import merge_into, merge_states
from scoring.identities.records import Absorption, Alias, IdentityKind, IdentityRecord
from scoring.modelstate import rule_value
from scoring.outputs import derived_id
from tests.conftest import DAY, T0

HOUR = 3_600_000


def record(from_id: str = "anon-1", to_id: str = "lead-1", identity_id: str = "i1") -> IdentityRecord:
    return IdentityRecord(identity_id, IdentityKind.IDENTIFY, from_id, to_id, T0)


def alias(survivor_id: str, identity_id: str = "i0", erased: bool = False) -> Alias:
    return Alias(survivor_id, identity_id, IdentityKind.MERGE, erased=erased)


# ---- decisions ----------------------------------------------------------------------------------------------


def test_a_first_identify_proceeds_into_to_id() -> None:
    decision = decide_identity(record(), None, None)
    assert decision.outcome is Outcome.PROCEED and decision.survivor_id == "lead-1"


def test_to_id_merged_on_gives_its_survivor_one_hop() -> None:
    decision = decide_identity(record(), None, alias("lead-9"))
    assert decision.outcome is Outcome.PROCEED and decision.survivor_id == "lead-9"


def test_the_same_record_again_is_a_duplicate() -> None:
    assert decide_identity(record(), alias("lead-1", "i1"), None).outcome is Outcome.DUPLICATE
    # even when to_id was merged on since: the record was applied once
    assert decide_identity(record(), alias("lead-1", "i1"), alias("lead-9")).outcome is Outcome.DUPLICATE


def test_another_record_into_the_same_survivor_is_a_duplicate() -> None:
    decision = decide_identity(record(identity_id="i2"), alias("lead-1", "i1"), None)
    assert decision.outcome is Outcome.DUPLICATE and decision.survivor_id == "lead-1"


@pytest.mark.parametrize(
    ("rec", "from_alias", "to_alias", "error", "words"),
    [
        (record("a", "a"), None, None, SelfMergeError, "into itself"),
        (record("a", "b"), None, alias("a"), MergeCycleError, "'b' was merged into 'a'"),
        (record("a", "b"), None, alias("", erased=True), MergeIntoErasedError, "'b' was erased"),
        (record("a", "b"), alias("", erased=True), None, ErasedIdentityError, "'a' was erased"),
        (record("a", "b", "i2"), alias("c", "i1"), None, AlreadyMergedError, "already merged into 'c'"),
        (record("", "b"), None, None, IdentityError, "from_id is empty"),
        (record("a", " "), None, None, IdentityError, "to_id is empty"),
        (record("a" * 300, "b"), None, None, IdentityError, "longer than 256"),
    ],
)
def test_dead_letters_name_the_reason(rec, from_alias, to_alias, error, words) -> None:
    decision = decide_identity(rec, from_alias, to_alias)
    assert decision.outcome is Outcome.DEAD_LETTER and decision.error is error
    assert words in decision.reason
    assert issubclass(error, InvalidEventError) and error.__doc__
    assert isinstance(decision.exception(), error) and str(decision.exception()) == decision.reason


def test_only_a_dead_letter_has_an_exception() -> None:
    with pytest.raises(ValueError, match="no error"):
        decide_identity(record(), None, None).exception()


def test_check_identity_rejects_an_impossible_time() -> None:
    check_identity(record())
    with pytest.raises(IdentityError, match="occurred_at"):
        check_identity(IdentityRecord("i", IdentityKind.MERGE, "a", "b", 12))


# ---- merges -------------------------------------------------------------------------------------------------

MODEL = parse_model(
    {
        "id": "m",
        "version": 3,
        "change_note": "t",
        "engagement": {"half_life": "7d", "floor": None},
        "rules": [
            {"id": "view", "event": "page_view", "points": 10},
            {"id": "open", "event": "email_open", "points": 1, "once_per": "1d", "half_life": "never"},
            {"id": "click", "event": "email_click", "points": 2, "cap": {"points": 4, "per": "1h"}},
            {"id": "form", "event": "form_fill", "points": 5, "window": "1d", "half_life": "never"},
            {"id": "vp", "dimension": "fit", "when": {"field": "seniority", "equals": "vp"}, "points": 20},
        ],
        "levels": [{"name": "MQL", "enter": 25, "leave": 20}],
    }
)
ENGINE = Engine([MODEL])


def scored(lead_id: str, *events: tuple[str, int], profile: LeadProfile | None = None) -> LeadState:
    state = LeadState(lead_id)
    for n, (event_type, at_ms) in enumerate(events):
        state = ENGINE.score_event(state, LeadEvent(f"{lead_id}-{n}", lead_id, event_type, at_ms, "t")).state
    if profile is not None:
        state = ENGINE.score_profile(state, profile).state
    return state


def absorption(state: LeadState | None, absorbed_id: str = "A", at_ms: int = T0 + DAY) -> Absorption:
    return Absorption("ident", IdentityKind.MERGE, absorbed_id, "B", at_ms, state)


def value(state: LeadState, rule_id: str, at_ms: int) -> float:
    return rule_value(MODEL.by_id[rule_id], state.models["m"].rules[rule_id], at_ms)


def test_plain_rules_are_revalued_and_added() -> None:
    a, b = scored("A", ("page_view", T0)), scored("B", ("page_view", T0 + DAY), ("page_view", T0 + DAY))
    update, merged = merge_into(ENGINE, b, absorption(a))
    assert update.state is b and not update.duplicate
    assert value(b, "view", T0 + DAY) == pytest.approx(20 + 10 * 2 ** (-1 / 7))
    (change,) = update.changes
    assert change.cause is Cause.EVENT and change.cause_event_id == "ident" and change.lead_id == "B"
    assert change.previous_score == pytest.approx(20) and change.score == pytest.approx(20 + 10 * 2 ** (-1 / 7))
    assert [(c.rule_id, round(c.points, 6)) for c in change.contributions] == [("view", round(10 * 2 ** (-1 / 7), 6))]
    assert [(c.level, c.direction, c.cause) for c in update.crossings] == [("MQL", Direction.UP, Cause.EVENT)]
    assert merged.merge_id == derived_id("merge", "ident") and merged.events_merged == 1
    assert merged.scores == (("m", change.previous_score, change.score),)
    assert b.models["m"].events_scored == 3 and b.latest_ms == T0 + DAY and b.absorbed == ["A"]
    assert set(a.seen) < set(b.seen) and len(b.seen) == 3


def test_a_cap_keeps_the_earliest_of_both_sides() -> None:
    a = scored("A", ("email_click", T0 + 1), ("email_click", T0 + 3))
    b = scored("B", ("email_click", T0 + 2), ("email_click", T0 + 4))
    merge_into(ENGINE, b, absorption(a))
    rule_state = b.models["m"].rules["click"]
    assert rule_state.buckets == {(T0 + 1) // HOUR: [T0 + 1, T0 + 2]}
    assert value(b, "click", T0 + 4) == pytest.approx(2 * 2 ** (-3 / (7 * DAY)) + 2 * 2 ** (-2 / (7 * DAY)))


def test_once_per_counts_one_of_both_sides() -> None:
    a, b = scored("A", ("email_open", T0 + HOUR)), scored("B", ("email_open", T0 + 2 * HOUR))
    update, _ = merge_into(ENGINE, b, absorption(a))
    assert value(b, "open", T0 + DAY) == 1.0
    assert b.models["m"].rules["open"].buckets == {T0 // DAY: [T0 + HOUR]}
    assert not update.changes  # the score did not move: one open either way


def test_window_times_are_merged() -> None:
    a, b = scored("A", ("form_fill", T0)), scored("B", ("form_fill", T0 + HOUR))
    merge_into(ENGINE, b, absorption(a, at_ms=T0 + HOUR))
    assert b.models["m"].rules["form"].times == [T0, T0 + HOUR]
    assert value(b, "form", T0 + DAY) == 5.0  # the first one left the window


def test_fit_comes_from_the_later_profile() -> None:
    a = scored("A", ("page_view", T0), profile=LeadProfile("A", T0 + 2 * HOUR, seniority="vp"))
    b = scored("B", ("page_view", T0), profile=LeadProfile("B", T0 + HOUR, seniority="intern"))
    merge_into(ENGINE, b, absorption(a))
    assert b.models["m"].fit_points == {"vp": 20} and b.models["m"].fit_at_ms == T0 + 2 * HOUR
    older = scored("A", profile=LeadProfile("A", T0, seniority="vp"))
    c = scored("C", profile=LeadProfile("C", T0 + HOUR, seniority="intern"))
    merge_into(ENGINE, c, absorption(older))
    assert c.models["m"].fit_points == {}


def test_an_identify_to_a_lead_without_state_gives_it_the_history() -> None:
    a = scored("A", ("page_view", T0), ("page_view", T0 + 1), ("page_view", T0 + 2))
    update, merged = merge_into(ENGINE, None, absorption(a))
    assert update.state.lead_id == "B" and update.state.absorbed == ["A"]
    assert update.state.models["m"].events_scored == 3 and set(update.state.seen) == set(a.seen)
    assert [c.direction for c in update.crossings] == [Direction.UP]
    assert merged.scores[0][1] == 0.0 and merged.events_merged == 3


def test_an_absorption_without_state_only_records_the_id() -> None:
    b = scored("B", ("page_view", T0))
    update, merged = merge_into(ENGINE, b, absorption(None))
    assert b.absorbed == ["A"] and not update.changes and merged.events_merged == 0
    again, _ = merge_into(ENGINE, b, absorption(None))
    assert again.duplicate


def test_a_redelivered_absorption_changes_nothing() -> None:
    a, b = scored("A", ("page_view", T0)), scored("B", ("page_view", T0 + HOUR))
    merge_into(ENGINE, b, absorption(a))
    before = b.copy()
    update, merged = merge_into(ENGINE, b, absorption(a))
    assert update.duplicate and not update.changes and not update.crossings and b == before
    assert merged.merge_id == derived_id("merge", "ident")


def test_a_listed_id_with_unseen_events_is_merged() -> None:
    """The absorbed id is listed but its state has events the survivor never saw: not a re-delivery."""
    a, b = scored("A", ("page_view", T0)), scored("B", ("page_view", T0 + HOUR))
    b.absorbed.append("A")
    update, _ = merge_into(ENGINE, b, absorption(a))
    assert not update.duplicate and b.models["m"].events_scored == 2 and b.absorbed == ["A"]


def test_absorbed_lists_the_absorbed_leads_own_absorbed_ids() -> None:
    a = scored("A", ("page_view", T0))
    a.absorbed = ["anon-1", "anon-2"]
    b = scored("B", ("page_view", T0))
    b.absorbed = ["anon-0"]
    merge_into(ENGINE, b, absorption(a))
    assert b.absorbed == ["anon-0", "anon-1", "anon-2", "A"]


def test_decay_crossings_up_to_the_merge_come_first() -> None:
    b = scored("B", ("page_view", T0), ("page_view", T0 + 1), ("page_view", T0 + 2))  # 30: in MQL
    a = scored("A", ("page_view", T0 + 2))
    update, _ = merge_into(ENGINE, b, absorption(a, at_ms=T0 + 30 * DAY))  # decayed out of MQL long before
    assert [(c.direction, c.cause) for c in update.crossings] == [(Direction.DOWN, Cause.DECAY)]
    assert update.crossings[0].occurred_at_ms < T0 + 30 * DAY
    assert update.changes[0].occurred_at_ms == T0 + 30 * DAY


def test_merge_states_leaves_its_inputs_alone() -> None:
    a, b = scored("A", ("page_view", T0)), scored("B", ("page_view", T0 + HOUR))
    a_copy, b_copy = a.copy(), b.copy()
    merged = merge_states(ENGINE, b, a, "B")
    assert (a, b) == (a_copy, b_copy) and merged.absorbed == ["A"]
    assert merged.models["m"].score == pytest.approx(10 + 10 * 2 ** (-1 / (7 * 24)))


def test_accounts_are_the_survivors_unless_it_has_none() -> None:
    a, b = scored("A", ("page_view", T0)), scored("B", ("page_view", T0))
    a.accounts = {"m": "acme"}
    assert merge_states(ENGINE, b, a, "B").accounts == {"m": "acme"}
    b.accounts = {"m": "globex"}
    assert merge_states(ENGINE, b, a, "B").accounts == {"m": "globex"}


def test_the_events_account_id_is_the_survivors_unless_it_has_none_even_under_a_later_profile() -> None:
    a, b = scored("A", ("page_view", T0)), scored("B", ("page_view", T0))
    a.routing_fields = {"account_id": "acme", "email_domain": "acme.com"}
    a.models["m"].fit_at_ms = T0 + HOUR  # the absorbed side's profile is the later one: its fields win
    assert merge_states(ENGINE, b, a, "B").routing_fields == {"account_id": "acme", "email_domain": "acme.com"}
    b.routing_fields = {"account_id": "globex"}
    assert merge_states(ENGINE, b, a, "B").routing_fields == {"account_id": "globex", "email_domain": "acme.com"}


def test_filter_logs_are_united_sorted() -> None:
    from scoring.identities.merge import _merge_log

    ours = FilterLog([Logged(2, "b", ("r",))], [Send(5, "k")], [Period(0, 2)])
    theirs = FilterLog([Logged(1, "a", ("r",)), Logged(2, "b", ("r",))], [Send(3, "k")], [Period(0, 1), Period(1, 1)])
    united = _merge_log(ours, theirs)
    assert united is not None
    assert [e.event_id for e in united.events] == ["a", "b"]
    assert [s.at_ms for s in united.sends] == [3, 5]
    assert [(p.index, p.events) for p in united.periods] == [(0, 3), (1, 1)]
    assert _merge_log(None, theirs) == theirs and _merge_log(ours, None) is ours
