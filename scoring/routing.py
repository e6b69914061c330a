"""Routing leads that enter a level to an owner (ADR 039): the route requests an update makes, and the assignment.

The scoring side is per lead: :func:`route_requests` turns the level crossings of an :class:`Update` that the
model's ``routing:`` covers into :class:`RouteRequest` values (an entry carries the lead's fields at the crossing;
an exit, of a level whose routes release, carries none). The assignment needs state shared by every lead (whose
turn it is, how many leads each owner had this period), so the shell applies requests one at a time, in one order,
with :func:`route` (pure): the first route whose condition matches, an owner by round robin or smooth weighted
round robin among those below their capacity for the crossing's event-time period, the level's fallback route
when all are full. A request already decided (same crossing id) gets the same decision again and changes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from enum import StrEnum

import msgspec
from msgspec.structs import replace

from scoring.model.compile import ScoringModel
from scoring.model.conditions import FieldValue
from scoring.model.routingspec import Route
from scoring.modelstate import scores_at
from scoring.outputs import Direction, Update, derived_id, event_digest

__all__ = [
    "Action",
    "Decision",
    "LeadRouting",
    "RouteRequest",
    "RouteState",
    "Routed",
    "assign",
    "decode_request",
    "encode_request",
    "erasure_requests",
    "route",
    "route_requests",
]


class Action(StrEnum):
    ASSIGNED = "ASSIGNED"  # the lead goes to ``owner_id`` of ``route_id``
    RELEASED = "RELEASED"  # it left the level of a route with ``on_exit: release``: ``owner_id`` no longer has it
    UNROUTED = "UNROUTED"  # no route matches, or every owner is at capacity: the shell dead-letters the request


class RouteRequest(msgspec.Struct, array_like=True, frozen=True):
    """One level crossing to route (``entered``) or release. MessagePack by position on the internal topic: append
    new fields at the end, with a default."""

    crossing_id: str
    lead_id: str
    model_id: str
    model_version: int
    level: str
    entered: bool
    occurred_at_ms: int
    fields: dict[str, FieldValue] = msgspec.field(default_factory=dict)
    erase: bool = False  # the lead was erased: forget its routing under the model (no decision, nothing emitted)


class RouteState(msgspec.Struct, array_like=True):
    """One route's shared state. ``owners``: the owner ids ``turn`` and ``current`` refer to (a model reload that
    changes them starts the rotation over; the counts, by owner id, stay)."""

    owners: list[str] = msgspec.field(default_factory=list)
    turn: int = 0  # round robin: the index of the owner whose turn is next
    current: list[int] = msgspec.field(default_factory=list)  # smooth weighted round robin: current weights
    counts: dict[int, dict[str, int]] = msgspec.field(default_factory=dict)  # period -> owner id -> leads
    latest_ms: int = 0  # the latest crossing time counted


class LeadRouting(msgspec.Struct, array_like=True):
    """One lead's routing under one model: decisions by crossing digest (for re-delivered requests, kept for the
    model's lateness) and, per level, the route and owner that hold the lead (until a release)."""

    decisions: dict[str, tuple[str, str, str, int]] = msgspec.field(default_factory=dict)  # action, route, owner, at
    held: dict[str, tuple[str, str]] = msgspec.field(default_factory=dict)  # level -> (route id, owner id)


@dataclass(frozen=True, slots=True)
class Decision:
    """What :func:`route` decided for one request; ``routing_id`` derives from the crossing id and the action."""

    routing_id: str
    request: RouteRequest
    action: Action
    route_id: str | None
    owner_id: str | None
    reason: str


@dataclass(frozen=True, slots=True)
class Routed:
    """:func:`route`'s result: the decision (None: nothing to emit) and the states it changed (write them)."""

    decision: Decision | None
    lead: LeadRouting | None = None  # the lead's new routing (None: unchanged)
    states: dict[str, RouteState] = field(default_factory=dict)  # route id -> new state


_ENCODER = msgspec.msgpack.Encoder()
_DECODER = msgspec.msgpack.Decoder(RouteRequest)


def encode_request(request: RouteRequest) -> bytes:
    return _ENCODER.encode(request)


def decode_request(data: bytes) -> RouteRequest:
    """Raise :class:`msgspec.DecodeError` (a ValueError) on bytes that are no route request."""
    return _DECODER.decode(data)


def route_requests(models: Sequence[ScoringModel], update: Update) -> list[RouteRequest]:
    """The route requests of ``update``'s crossings, in their order: an entry of a level with routes, and an exit
    of a level with a route that releases. An entry carries the lead's kept profile fields and, at the crossing,
    ``score`` (exact), ``engagement``, ``fit`` and ``grade`` (the model's scores at the crossing time, or at the
    lead's latest event when the crossing came earlier: time alone crossing just before an input) and ``level``."""
    if not update.crossings:
        return []
    by_id = {model.id: model for model in models if model.routing}
    requests = []
    for crossing in update.crossings:
        model = by_id.get(crossing.model_id)
        routes = [] if model is None else [r for r in model.routing if r.level == crossing.level]
        if not routes:
            continue
        entered = crossing.direction is Direction.UP
        fields: dict[str, FieldValue] = {}
        if entered and model is not None:
            state = update.state.models[model.id]
            scores = scores_at(model, state, max(crossing.occurred_at_ms, state.anchor_ms))
            fields = dict(update.state.routing_fields)
            fields.update(score=crossing.score, engagement=scores.engagement, fit=scores.fit, grade=scores.grade)
            fields["level"] = crossing.level
        elif not any(r.release_on_exit for r in routes):
            continue
        requests.append(
            RouteRequest(
                crossing.crossing_id,
                crossing.lead_id,
                crossing.model_id,
                crossing.model_version,
                crossing.level,
                entered,
                crossing.occurred_at_ms,
                fields,
            )
        )
    return requests


def erasure_requests(models: Sequence[ScoringModel], lead_id: str, request_id: str) -> list[RouteRequest]:
    """Per model with routes: a request that makes the routing agent forget the erased lead's decisions and holders
    (its entries in the routing table), so an erasure leaves no trace of the lead in the routing state."""
    return [
        RouteRequest(f"erasure:{request_id}", lead_id, model.id, model.version, "", False, 0, erase=True)
        for model in models
        if model.routing
    ]


def route(
    model: ScoringModel, states: Mapping[str, RouteState], lead: LeadRouting | None, request: RouteRequest
) -> Routed:
    """Decide one request under ``model``'s routes, given the routes' states and the lead's routing (None: none)."""
    lead = lead or LeadRouting()
    remembered = lead.decisions.get(event_digest(request.crossing_id))
    if remembered is not None:
        action, route_id, owner_id, _ = remembered
        return Routed(_decision(request, Action(action), route_id or None, owner_id or None, "re-delivered"))
    if not request.entered:
        return _release(model, lead, request)
    held = lead.held.get(request.level)
    if held is not None:  # it left the level under a route that keeps: its owner keeps it
        reason = "entered again: kept by its owner (on_exit: keep)"
        return _remember(model, lead, _decision(request, Action.ASSIGNED, held[0], held[1], reason), None)
    routes = [r for r in model.routing if r.level == request.level]
    matched = next((r for r in routes if r.condition(request.fields)), None)
    if matched is None:
        reason = f"no route of model {model.id!r} for level {request.level!r} matches the lead"
        return Routed(_decision(request, Action.UNROUTED, None, None, reason))
    fallback = next((r for r in reversed(routes) if r.catch_all), None)
    for candidate in [matched] if fallback in (None, matched) else [matched, fallback]:
        owner, state = assign(candidate, states.get(candidate.id), request.occurred_at_ms, model.lateness_ms)
        if owner is not None:
            reason = "matched" if candidate is matched else f"every owner of {matched.id!r} is at capacity: fallback"
            decision = _decision(request, Action.ASSIGNED, candidate.id, owner, reason)
            return _remember(model, lead, decision, candidate, {candidate.id: state})
    tried = " and ".join(repr(r.id) for r in ([matched] if fallback in (None, matched) else [matched, fallback]))
    return Routed(_decision(request, Action.UNROUTED, matched.id, None, f"every owner of {tried} is at capacity"))


def _release(model: ScoringModel, lead: LeadRouting, request: RouteRequest) -> Routed:
    held = lead.held.get(request.level)
    if held is None:
        return Routed(None)  # never routed (or routed before routing released): nothing to release
    releasing = next((r for r in model.routing if r.id == held[0]), None)
    if releasing is not None and not releasing.release_on_exit:
        return Routed(None)  # its route keeps the lead with its owner
    decision = _decision(request, Action.RELEASED, held[0], held[1], f"left {request.level}: on_exit release")
    return _remember(model, lead, decision, None)


def _remember(
    model: ScoringModel,
    lead: LeadRouting,
    decision: Decision,
    holding: Route | None,
    states: dict[str, RouteState] | None = None,
) -> Routed:
    """The lead's routing after ``decision``: remembered by crossing digest (older decisions than the model's
    lateness dropped), the level held by ``holding`` (ASSIGNED) or let go (RELEASED)."""
    request = decision.request
    at_ms = request.occurred_at_ms
    decisions = {
        digest: remembered
        for digest, remembered in lead.decisions.items()
        if remembered[3] >= at_ms - model.lateness_ms
    }
    decisions[event_digest(request.crossing_id)] = (
        decision.action.value,
        decision.route_id or "",
        decision.owner_id or "",
        at_ms,
    )
    held = dict(lead.held)
    if decision.action is Action.RELEASED:
        held.pop(request.level, None)
    elif decision.route_id is not None and decision.owner_id is not None:
        held[request.level] = (decision.route_id, decision.owner_id)
    return Routed(decision, LeadRouting(decisions, held), states or {})


def _decision(
    request: RouteRequest, action: Action, route_id: str | None, owner_id: str | None, reason: str
) -> Decision:
    return Decision(derived_id("routing", request.crossing_id, action), request, action, route_id, owner_id, reason)


def assign(route: Route, state: RouteState | None, at_ms: int, lateness_ms: int = 0) -> tuple[str | None, RouteState]:
    """The owner of ``route`` for a lead crossing at ``at_ms``, and the route's new state (``state`` itself is
    not changed); ``(None, state)`` when every owner is at capacity for that period. Periods are aligned to the
    epoch (``at_ms // per``); counts of periods ended more than ``lateness_ms`` before the latest crossing are
    dropped (a crossing later than that counts in a fresh period)."""
    ids = [owner.id for owner in route.owners]
    state = state or RouteState()
    if state.owners != ids:
        state = RouteState(ids, 0, [0] * len(ids), state.counts, state.latest_ms)
    capacity = route.capacity
    period = at_ms // capacity.per_ms if capacity is not None else 0
    counts = state.counts.get(period, {})
    free = [capacity is None or counts.get(owner_id, 0) < capacity.leads for owner_id in ids]
    if not any(free):
        return None, state
    turn, current = state.turn, list(state.current)
    if route.weighted:
        pick = _smooth_weighted(route, free, current)
    else:
        pick = next(n % len(ids) for n in range(turn, turn + len(ids)) if free[n % len(ids)])
        turn = (pick + 1) % len(ids)
    owner_id = ids[pick]
    latest = max(state.latest_ms, at_ms)
    kept = dict(state.counts)
    if capacity is not None:
        kept[period] = {**counts, owner_id: counts.get(owner_id, 0) + 1}
        oldest = (latest - lateness_ms) // capacity.per_ms
        kept = {p: c for p, c in kept.items() if p >= oldest}
    return owner_id, replace(state, turn=turn, current=current, counts=kept, latest_ms=latest)


def _smooth_weighted(route: Route, free: list[bool], current: list[int]) -> int:
    """Smooth weighted round robin (as nginx): each free owner gains its weight, the highest (the first on a tie)
    is picked and loses the free owners' total weight. Over any run the picks follow the weights, interleaved."""
    total = 0
    for index, owner in enumerate(route.owners):
        if free[index]:
            current[index] += owner.weight
            total += owner.weight
    pick = max((n for n in range(len(current)) if free[n]), key=lambda n: (current[n], -n))
    current[pick] -= total
    return pick
