"""Routing (ADR 039): the model file's routing: section, the route requests an update makes, and the assignment."""

from collections import Counter
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from scoring import Engine, LeadProfile, ModelError, parse_model
from scoring.model.compile import ScoringModel
from scoring.routing import (
    Action,
    Decision,
    LeadRouting,
    RouteRequest,
    RouteState,
    decode_request,
    encode_request,
    route,
    route_requests,
)
from tests.conftest import DAY, T0, make_event

OWNERS = [{"id": "anna"}, {"id": "ben"}, {"id": "carl"}]


def model(routing: list[dict[str, Any]], **extra: Any) -> ScoringModel:
    raw = {
        "id": "b2b",
        "version": 1,
        "change_note": "routing tests",
        "rules": [
            {"id": "demo", "event": "demo_request", "points": 60},
            {"id": "unsubscribe", "event": "unsubscribe", "points": -30},
            {"id": "bank", "dimension": "fit", "when": {"field": "industry", "equals": "banking"}, "points": 40},
        ],
        "engagement": {"floor": None},
        "levels": [{"name": "MQL", "enter": 60, "leave": 50}, {"name": "SQL", "enter": 200}],
        "routing": routing,
        **extra,
    }
    return parse_model(raw, "b2b.yaml")


def request(lead_id: str, at_ms: int = T0, entered: bool = True, **fields: Any) -> RouteRequest:
    return RouteRequest(f"crossing-{lead_id}-{at_ms}-{entered}", lead_id, "b2b", 1, "MQL", entered, at_ms, fields)


class Agent:
    """The routing agent's fold, without Faust: one state per route and per lead, requests in log order."""

    def __init__(self, scoring_model: ScoringModel) -> None:
        self.model = scoring_model
        self.routes: dict[str, RouteState] = {}
        self.leads: dict[str, LeadRouting] = {}

    def send(self, req: RouteRequest) -> Decision | None:
        routed = route(self.model, self.routes, self.leads.get(req.lead_id), req)
        if routed.lead is not None:
            self.leads[req.lead_id] = routed.lead
        self.routes.update(routed.states)
        return routed.decision

    def owners(self, requests: list[RouteRequest]) -> list[str | None]:
        decisions = [self.send(req) for req in requests]
        return [None if d is None or d.action is Action.UNROUTED else d.owner_id for d in decisions]


# ---- the routing: section -------------------------------------------------------------------------------


def test_a_model_without_routing_routes_nothing() -> None:
    assert model([]).routing == ()
    engine_model = model([])
    update = Engine([engine_model]).apply_event(None, make_event("lead-1", "demo_request"))
    assert update.crossings and route_requests([engine_model], update) == []


@pytest.mark.parametrize(
    ("routing", "message"),
    [
        ([{"id": "r", "level": "SQLX", "owners": OWNERS}], "routing[0] (id 'r').level: no level named 'SQLX'"),
        ([{"id": "r", "level": "MQL", "owners": []}], "routing[0] (id 'r').owners: must not be empty"),
        (
            [{"id": "r", "level": "MQL", "owners": [{"id": "a"}, {"id": "a"}]}],
            "routing[0] (id 'r').owners: duplicate owner id 'a'",
        ),
        (
            [{"id": "r", "level": "MQL", "owners": OWNERS, "assign": "random"}],
            "routing[0] (id 'r').assign: expected one of: round_robin, weighted",
        ),
        (
            [{"id": "r", "level": "MQL", "owners": OWNERS, "on_exit": "drop"}],
            "routing[0] (id 'r').on_exit: expected one of: keep, release",
        ),
        (
            [{"id": "r", "level": "MQL", "owners": OWNERS, "capacity": {"leads": 5, "per": "never"}}],
            "routing[0] (id 'r').capacity.per: a capacity counts per period",
        ),
        (
            [{"id": "r", "level": "MQL", "owners": [{"id": "a", "weight": 0}]}],
            "routing[0] (id 'r').owners[0] (id 'a').weight: must be at least 1",
        ),
        (
            [{"id": "r", "level": "MQL", "owners": OWNERS}, {"id": "r", "level": "SQL", "owners": OWNERS}],
            "routing[1] (id 'r').id: duplicate route id 'r'",
        ),
        (
            [{"id": "all", "level": "MQL", "owners": OWNERS}, {"id": "emea", "level": "MQL", "owners": OWNERS}],
            "routing[1] (id 'emea'): can never match: routing[0] (id 'all') before it has no 'when'",
        ),
        (
            [{"id": "r", "level": "MQL", "when": {"all": [{"field": "grade", "gte": "A"}]}, "owners": OWNERS}],
            "routing[0] (id 'r').when.all[0].gte: expected a number",
        ),
    ],
)
def test_invalid_routing_names_the_file_the_route_and_the_field(routing: list[dict[str, Any]], message: str) -> None:
    with pytest.raises(ModelError) as raised:
        model(routing)
    assert str(raised.value).startswith(f"b2b.yaml: {message}"), str(raised.value)


def test_compiled_routes_know_their_fields_and_options() -> None:
    compiled = model(
        [
            {
                "id": "emea",
                "level": "MQL",
                "when": {
                    "all": [{"field": "attributes.region", "equals": "EMEA"}, {"not": {"field": "grade", "in": ["D"]}}]
                },
                "owners": [{"id": "anna", "weight": 2}, {"id": "ben"}],
                "assign": "weighted",
                "capacity": {"leads": 20, "per": "7d"},
                "on_exit": "release",
            },
            {"id": "fallback", "level": "MQL", "owners": [{"id": "inside-sales"}]},
        ]
    ).routing
    emea, fallback = compiled
    assert emea.fields == {"attributes.region", "grade"} and emea.weighted and emea.release_on_exit
    assert emea.capacity is not None and (emea.capacity.leads, emea.capacity.per_ms) == (20, 7 * DAY)
    assert [(o.id, o.weight) for o in emea.owners] == [("anna", 2), ("ben", 1)]
    assert fallback.catch_all and not emea.catch_all and not fallback.release_on_exit


# ---- route requests: what the scoring side sends ------------------------------------------------------------------


REGIONAL = [
    {
        "id": "emea",
        "level": "MQL",
        "when": {"field": "attributes.region", "equals": "EMEA"},
        "owners": [{"id": "anna"}],
    },
    {"id": "banks", "level": "MQL", "when": {"field": "grade", "in": ["A", "B"]}, "owners": [{"id": "ben"}]},
]


def test_an_entry_carries_the_kept_profile_fields_and_the_scores_at_the_crossing() -> None:
    scoring_model = model(REGIONAL)
    engine = Engine([scoring_model])
    assert engine.routing_fields == {"attributes.region"}  # grade is synthetic: not kept
    profile = LeadProfile("lead-1", T0, industry="banking", title="CFO", attributes={"region": "EMEA", "tier": "1"})
    state = engine.apply_profile(None, profile).state
    assert state.routing_fields == {"attributes.region": "EMEA"}  # only what routing reads
    update = engine.apply_event(state, make_event("lead-1", "demo_request", T0 + 1000))
    [req] = route_requests([scoring_model], update)
    assert (req.lead_id, req.level, req.entered, req.occurred_at_ms) == ("lead-1", "MQL", True, T0 + 1000)
    assert req.crossing_id == update.crossings[0].crossing_id
    assert req.fields == {
        "attributes.region": "EMEA",
        "score": 100.0,
        "engagement": 60.0,
        "fit": 40.0,
        "grade": "B",
        "level": "MQL",
    }
    assert decode_request(encode_request(req)) == req


def test_an_older_profile_does_not_replace_the_kept_fields() -> None:
    engine = Engine([model(REGIONAL)])
    newer = engine.apply_profile(None, LeadProfile("lead-1", T0 + 5000, attributes={"region": "EMEA"})).state
    older = engine.apply_profile(newer, LeadProfile("lead-1", T0, attributes={"region": "APAC"})).state
    assert older.routing_fields == {"attributes.region": "EMEA"}
    assert older.copy().routing_fields == {"attributes.region": "EMEA"}


def test_an_exit_is_requested_only_for_a_level_whose_route_releases() -> None:
    keeping = model([{"id": "all", "level": "MQL", "owners": OWNERS}])
    releasing = model([{"id": "all", "level": "MQL", "owners": OWNERS, "on_exit": "release"}])
    for scoring_model, expected in [(keeping, [True]), (releasing, [True, False])]:
        engine = Engine([scoring_model])
        entered = engine.apply_event(None, make_event("lead-1", "demo_request", T0))
        left = engine.apply_event(entered.state, make_event("lead-1", "unsubscribe", T0 + 1000))
        requests = route_requests([scoring_model], entered) + route_requests([scoring_model], left)
        assert [r.entered for r in requests] == expected
        assert all(r.fields == {} for r in requests if not r.entered)


# ---- the assignment ---------------------------------------------------------------------------------------------


def test_the_first_matching_route_wins_and_the_catch_all_takes_the_rest() -> None:
    agent = Agent(model([*REGIONAL, {"id": "fallback", "level": "MQL", "owners": [{"id": "inside"}]}]))
    emea_bank = request("l1", **{"attributes.region": "EMEA", "grade": "A"})
    bank = request("l2", grade="B")
    other = request("l3", grade="D")
    assert agent.owners([emea_bank, bank, other]) == ["anna", "ben", "inside"]


def test_a_lead_no_route_matches_is_unrouted_with_a_reason_and_not_remembered() -> None:
    agent = Agent(model(REGIONAL))
    decision = agent.send(request("l1", grade="D"))
    assert decision is not None and decision.action is Action.UNROUTED and decision.owner_id is None
    assert decision.reason == "no route of model 'b2b' for level 'MQL' matches the lead"
    assert "l1" not in agent.leads  # a request sent again (after adding a fallback) is routed anew


def test_round_robin_takes_the_owners_in_turn() -> None:
    agent = Agent(model([{"id": "all", "level": "MQL", "owners": OWNERS}]))
    owners = agent.owners([request(f"l{n}", T0 + n) for n in range(7)])
    assert owners == ["anna", "ben", "carl", "anna", "ben", "carl", "anna"]


def test_weighted_follows_the_weights_interleaved() -> None:
    pool = [{"id": "anna", "weight": 3}, {"id": "ben", "weight": 1}, {"id": "carl", "weight": 2}]
    agent = Agent(model([{"id": "all", "level": "MQL", "owners": pool, "assign": "weighted"}]))
    owners = agent.owners([request(f"l{n}", T0 + n) for n in range(600)])
    assert owners[:6] == ["anna", "carl", "anna", "ben", "carl", "anna"]  # smooth: never three in a row
    assert Counter(owners) == {"anna": 300, "carl": 200, "ben": 100}


def test_capacity_counts_per_event_time_period_skips_full_owners_and_resets() -> None:
    capped = {"id": "capped", "level": "MQL", "owners": OWNERS[:2], "capacity": {"leads": 2, "per": "1d"}}
    agent = Agent(model([capped]))
    day0 = [request(f"a{n}", T0 + n) for n in range(5)]
    assert agent.owners(day0) == ["anna", "ben", "anna", "ben", None]
    unrouted = agent.send(request("late", T0 + 10))
    assert unrouted is not None and unrouted.reason == "every owner of 'capped' is at capacity"
    start_of_day1 = (T0 // DAY + 1) * DAY  # periods are aligned to the epoch, in event time
    assert agent.owners([request(f"b{n}", start_of_day1 + n) for n in range(3)]) == ["anna", "ben", "anna"]
    assert agent.owners([request("day0-again", start_of_day1 - 1)]) == [None]  # its own period is still full


def test_a_full_route_overflows_to_the_levels_fallback() -> None:
    capped = {"id": "capped", "level": "MQL", "when": {"field": "grade", "equals": "A"}, "owners": OWNERS[:1]}
    capped["capacity"] = {"leads": 1, "per": "7d"}
    fallback = {"id": "fallback", "level": "MQL", "owners": [{"id": "inside"}]}
    agent = Agent(model([capped, fallback]))
    first, second = agent.send(request("l1", grade="A")), agent.send(request("l2", T0 + 1, grade="A"))
    assert first is not None and (first.route_id, first.owner_id, first.reason) == ("capped", "anna", "matched")
    assert second is not None and (second.route_id, second.owner_id) == ("fallback", "inside")
    assert second.reason == "every owner of 'capped' is at capacity: fallback"


def test_a_re_delivered_request_gets_the_same_decision_and_changes_nothing() -> None:
    agent = Agent(model([{"id": "all", "level": "MQL", "owners": OWNERS}]))
    first = agent.send(request("l1"))
    routes_before = {key: state.turn for key, state in agent.routes.items()}
    routed = route(agent.model, agent.routes, agent.leads["l1"], request("l1"))
    assert routed.decision is not None and first is not None
    assert (routed.decision.routing_id, routed.decision.owner_id) == (first.routing_id, first.owner_id)
    assert routed.lead is None and routed.states == {}
    assert agent.owners([request("l2", T0 + 1)]) == ["ben"]  # the rotation did not move for the duplicate
    assert {key: state.turn for key, state in agent.routes.items()} != routes_before


def test_release_on_exit_then_the_next_entry_is_routed_again() -> None:
    agent = Agent(model([{"id": "all", "level": "MQL", "owners": OWNERS, "on_exit": "release"}]))
    assigned = agent.send(request("l1", T0))
    released = agent.send(request("l1", T0 + 1000, entered=False))
    again = agent.send(request("l1", T0 + 2000))
    assert assigned is not None and released is not None and again is not None
    assert (released.action, released.owner_id, released.route_id) == (Action.RELEASED, "anna", "all")
    assert released.routing_id != assigned.routing_id
    assert (again.action, again.owner_id) == (Action.ASSIGNED, "ben")
    assert agent.send(request("l2", T0 + 3000, entered=False)) is None  # never routed: nothing to release


def test_keep_on_exit_gives_a_returning_lead_back_to_its_owner() -> None:
    agent = Agent(model([{"id": "all", "level": "MQL", "owners": OWNERS}]))
    assert agent.owners([request("l1", T0), request("l2", T0 + 1)]) == ["anna", "ben"]
    assert agent.send(request("l1", T0 + 10, entered=False)) is None
    returning = agent.send(request("l1", T0 + 20))
    assert returning is not None and (returning.owner_id, returning.action) == ("anna", Action.ASSIGNED)
    assert returning.reason.startswith("entered again")
    assert agent.owners([request("l3", T0 + 30)]) == ["carl"]  # a kept lead takes nobody's turn


def test_the_same_request_log_gives_the_same_owners() -> None:
    pool = [{"id": "anna", "weight": 2}, {"id": "ben"}]
    routing = [
        {"id": "all", "level": "MQL", "owners": pool, "assign": "weighted", "capacity": {"leads": 3, "per": "1d"}}
    ]
    log = [request(f"l{n % 7}", T0 + n * DAY // 5, entered=n % 3 != 2) for n in range(40)]
    first = [d.routing_id if d else None for d in map(Agent(model(routing)).send, log)]
    second = [d.routing_id if d else None for d in map(Agent(model(routing)).send, log)]
    assert first == second and any(first)


@given(st.lists(st.integers(0, 4 * DAY), min_size=1, max_size=60), st.integers(1, 4))
def test_no_owner_ever_gets_more_than_its_capacity_in_a_period(offsets: list[int], leads: int) -> None:
    routing = [{"id": "r", "level": "MQL", "owners": OWNERS, "capacity": {"leads": leads, "per": "1d"}}]
    agent = Agent(model(routing, lateness="30d"))
    counted: Counter[tuple[str, int]] = Counter()
    for n, offset in enumerate(offsets):
        decision = agent.send(request(f"lead-{n}", T0 + offset))
        assert decision is not None
        if decision.action is Action.ASSIGNED and decision.owner_id is not None:
            counted[(decision.owner_id, (T0 + offset) // DAY)] += 1
        else:  # unrouted only when every owner is full in that period
            assert all(counted[(owner["id"], (T0 + offset) // DAY)] == leads for owner in OWNERS)
    assert max(counted.values()) <= leads
