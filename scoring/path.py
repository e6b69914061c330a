"""The path to a level: the fewest actions that would take a lead into a level of a model if they happened now.

An **action** is one event of a rule's type that matches that rule's condition (an event made up by
:func:`scoring.pathevents.witness`, carrying only what the condition needs). The unconditioned rules of that type
count with it, as the engine counts them; other conditioned rules of the type are assumed not to match (the event
carries nothing they test), unless the made-up event does match them, in which case they count too. Each action
happens at "now" (the later of the time asked and the lead's latest event), so decay does not shrink it; caps,
``once_per`` and ceilings do: a rule offers only what is left in its current cap bucket, and a dimension's ceiling
can make a level unreachable. Fit cannot be acted on: it is what it is now.

The answer is the fewest events first, then the fewest points over the line (ADR 038), searched exactly
(:mod:`scoring.pathsearch`) up to :data:`~scoring.pathsearch.MAX_EVENTS` events, and **verified with the engine**:
the proposed events are scored on a copy of the lead's state and must take it into the level.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Literal

from scoring.engine import Engine
from scoring.errors import LeadscoreError
from scoring.events import LeadEvent, event_fields
from scoring.model.compile import Level, Rule, ScoringModel
from scoring.model.conditions import always
from scoring.modelstate import ModelState, rule_value, scores_at
from scoring.pathevents import describe, fields_of, witness
from scoring.pathsearch import MAX_EVENTS, Budgets, Move, greedy_set, smallest_sets
from scoring.state import LeadState

__all__ = ["Action", "Path", "PathStatus", "UnknownLevelError", "greedy_events", "path_record", "path_to", "paths_to"]

PathStatus = Literal["reachable", "already", "unreachable", "not_applicable"]


class UnknownLevelError(LeadscoreError):
    """No model (or not the model asked) has a level of that name. Ask for one of the levels the model file lists
    (``levels:``, e.g. MQL or SQL)."""


@dataclass(frozen=True, slots=True)
class Action:
    """One event to happen: of ``event_type``, carrying ``properties``, counted by ``rule_id`` (and by the other
    ``rules``, e.g. unconditioned ones of the type). ``points``: the engagement points it adds, in the order
    listed (before the ceiling and the engagement weight)."""

    rule_id: str
    event_type: str
    points: float
    description: str
    properties: dict[str, str]
    rules: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class Path:
    """How ``model_id``'s ``level`` can be reached now (``at_ms``). ``score_after``: the score once the
    ``actions`` happened (scored by the engine), ``threshold`` the level's ``enter``. ``reason`` says why a path is
    unreachable or not applicable."""

    model_id: str
    level: str
    status: PathStatus
    actions: tuple[Action, ...]
    score_now: float
    score_after: float
    threshold: float
    at_ms: int
    reason: str = ""


def path_record(path: Path) -> dict[str, object]:
    """``path`` as plain data (the query API's and ``leadscore score --path-to``'s JSON)."""
    return {
        "model_id": path.model_id,
        "level": path.level,
        "status": path.status,
        "reason": path.reason,
        "at": path.at_ms,
        "score_now": path.score_now,
        "score_after": path.score_after,
        "threshold": path.threshold,
        "actions": [
            {
                "rule_id": action.rule_id,
                "event_type": action.event_type,
                "points": action.points,
                "description": action.description,
                "properties": dict(action.properties),
                "rules": list(action.rules),
            }
            for action in path.actions
        ],
    }


@dataclass(frozen=True, slots=True)
class _Offer:
    rule: Rule
    made: dict[str, str]
    rules: tuple[Rule, ...]  # every rule the made-up event counts for


def paths_to(
    engine: Engine, state: LeadState, level: str, now_ms: int, model_id: str | None = None
) -> tuple[Path, ...]:
    """:func:`path_to` under each of the engine's models that has ``level`` (or only ``model_id``). Raises
    :class:`UnknownLevelError` when none has it."""
    models = [m for m in engine.models if model_id is None or m.id == model_id]
    if model_id is not None and not models:
        raise UnknownLevelError(f"no model {model_id!r} (models: {', '.join(m.id for m in engine.models)})")
    having = [m for m in models if any(lv.name == level for lv in m.levels)]
    if not having:
        names = sorted({lv.name for m in models for lv in m.levels})
        raise UnknownLevelError(f"no level {level!r} in {model_id or 'any model'} (levels: {', '.join(names)})")
    return tuple(path_to(model, state, level, now_ms) for model in having)


def path_to(model: ScoringModel, state: LeadState, level_name: str, now_ms: int) -> Path:
    """The smallest set of actions that takes the lead into ``level_name`` of ``model`` if they happen at
    ``now_ms`` (or at the lead's latest event, when later). See the module text."""
    level = next((lv for lv in model.levels if lv.name == level_name), None)
    if level is None:
        raise UnknownLevelError(f"model {model.id!r} has no level {level_name!r}")
    engine = Engine((model,))
    at_ms = max(now_ms, state.latest_ms)
    lead = engine.advance(state, at_ms).state  # levels left (or entered) by decay up to now
    model_state = lead.models.get(model.id) or ModelState(model.version, applies=model.segment is None)
    score_now = scores_at(model, model_state, at_ms).combined

    def answer(
        status: PathStatus, reason: str = "", actions: tuple[Action, ...] = (), after: float = score_now
    ) -> Path:
        return Path(model.id, level.name, status, actions, score_now, after, level.enter, at_ms, reason)

    if not model_state.applies:
        return answer("not_applicable", "the lead is outside the model's segment")
    if level.name in model_state.levels:
        return answer("already")
    problem = _problem(model, model_state, at_ms)
    if unreachable := _unreachable(model, level, problem):
        return answer("unreachable", unreachable)
    smallest = 1
    while smallest <= MAX_EVENTS:
        found = smallest_sets(
            problem.moves, problem.budgets, problem.score, level.enter, range(smallest, MAX_EVENTS + 1)
        )
        if found is None:
            break
        for chosen in found.sets:
            picked = [problem.offers[i] for i in problem.ordered(chosen)]
            after = _verify(engine, lead, model, level, picked, at_ms)
            if after is not None:
                reason = "" if found.exact else "the search was cut short: the greedy set, maybe not the smallest"
                return answer("reachable", reason, problem.actions(picked), after)
        if not found.exact:  # the greedy set of a cut-short search failed: searching again would give it again
            return answer("unreachable", "the search was cut short and its best set does not reach the level")
        smallest = len(found.sets[0]) + 1  # the engine disagreed (float rounding at the line): one event more
    return answer("unreachable", f"not within {MAX_EVENTS} events")


@dataclass(frozen=True, slots=True)
class _Problem:
    """The offers of one model for one lead now, as the search sees them."""

    offers: list[_Offer]
    moves: list[Move]
    budgets: Budgets
    index: dict[str, int]  # rule id -> its place in the budgets
    score: Callable[[float], float]  # the combined score as a function of the engagement points added

    def ordered(self, chosen: tuple[int, ...]) -> list[int]:
        """The chosen moves, the one worth most first (as a person would read them)."""
        fresh = [0] * len(self.budgets.points)
        return sorted(chosen, key=lambda i: (-self.budgets.gain(self.moves[i], fresh), i))

    def actions(self, picked: list[_Offer]) -> tuple[Action, ...]:
        uses = [0] * len(self.budgets.points)
        actions = []
        for offer in picked:
            move = Move(tuple(self.index[r.id] for r in offer.rules))
            points = self.budgets.gain(move, uses)
            for r in move.rules:
                uses[r] += 1
            properties, _, _ = fields_of(offer.made)
            rule = offer.rule
            rules = tuple(r.id for r in offer.rules)
            actions.append(Action(rule.id, rule.event or "", points, _description(rule), properties, rules))
        return tuple(actions)


def _description(rule: Rule) -> str:
    if rule.description:
        return rule.description
    if rule.condition is always:
        return f"any {rule.event}"
    return f"{rule.event} where {describe(rule.condition)}"


def _problem(model: ScoringModel, state: ModelState, at_ms: int) -> _Problem:
    offers = _offers(model, state, at_ms)
    rules: dict[str, Rule] = {}
    for offer in offers:
        for rule in offer.rules:
            rules.setdefault(rule.id, rule)
    index = {rule_id: n for n, rule_id in enumerate(rules)}
    budgets = Budgets(tuple(r.points for r in rules.values()), tuple(_budget(r, state, at_ms) for r in rules.values()))
    moves = [Move(tuple(index[r.id] for r in offer.rules)) for offer in offers]
    known = [
        (model.by_id[rule_id], rule_state) for rule_id, rule_state in state.rules.items() if rule_id in model.by_id
    ]
    raw = sum(rule_value(rule, rule_state, at_ms) for rule, rule_state in known)  # engagement before its clamp
    fit_part = model.fit_weight * scores_at(model, state, at_ms).fit

    def score(added: float) -> float:
        return model.engagement_weight * model.engagement.clamp(raw + added) + fit_part

    return _Problem(offers, moves, budgets, index, score)


def _offers(model: ScoringModel, state: ModelState, at_ms: int) -> list[_Offer]:
    """One offer per engagement rule with points and budget left whose condition an event can be made up for,
    with every rule of its type that event counts for; one per set of rules."""
    offers: dict[tuple[str, ...], _Offer] = {}
    for rule in model.rules:
        if rule.event is None or rule.points <= 0 or _budget(rule, state, at_ms) == 0:
            continue
        made = witness(rule.condition, rule.event)
        if made is None:
            continue
        properties, source, account = fields_of(made)
        fields = event_fields(LeadEvent("path", "path", rule.event, at_ms, source or "", properties, account))
        counted = tuple(r for r in model.rules_for(rule.event) if r.condition is always or r.condition(fields))
        offers.setdefault(tuple(r.id for r in counted), _Offer(rule, made, counted))
    return list(offers.values())


def _budget(rule: Rule, state: ModelState, at_ms: int) -> int | None:
    """How many more events ``rule`` counts at ``at_ms`` (None: no limit): what is left in its cap bucket."""
    if not rule.cap_per_ms:
        return None
    rule_state = state.rules.get(rule.id)
    used = len(rule_state.buckets.get(at_ms // rule.cap_per_ms, ())) if rule_state is not None else 0
    return max(0, rule.cap_count - used)


def _unreachable(model: ScoringModel, level: Level, problem: _Problem) -> str:
    """Why no set of events can reach the level now ('' when some may)."""
    if not problem.moves or model.engagement_weight == 0:
        return "no engagement action of this model adds points now (caps used up, or no such rules)"
    ceiling = model.engagement.ceiling
    if ceiling is not None and problem.score(float("inf")) < level.enter:
        return f"the engagement ceiling ({ceiling:g}) with fit as it is keeps the score below {level.enter:g}"
    points, budget = problem.budgets.points, problem.budgets.budget
    if all(budget[r] is not None for move in problem.moves for r in move.rules if points[r] > 0):
        most = sum(p * (b or 0) for p, b in zip(points, budget, strict=True) if p > 0)
        if problem.score(most) < level.enter:
            return f"caps: at most {most:g} engagement points can be added now"
    return ""


def _events(lead_id: str, model: ScoringModel, level: Level, picked: list[_Offer], at_ms: int) -> Iterator[LeadEvent]:
    for n, offer in enumerate(picked):
        properties, source, account = fields_of(offer.made)
        event_id = f"leadscore-path:{model.id}:{model.version}:{level.name}:{at_ms}:{n}"
        yield LeadEvent(
            event_id, lead_id, offer.rule.event or "", at_ms, source or "leadscore-path", properties, account
        )


def _verify(
    engine: Engine, lead: LeadState, model: ScoringModel, level: Level, picked: list[_Offer], at_ms: int
) -> float | None:
    """Score the proposed events on a copy of the lead's state: the score after them if the lead then holds the
    level, else None."""
    state = lead.copy()
    for event in _events(lead.lead_id, model, level, picked, at_ms):
        engine.score_event(state, event, at_ms)
    model_state = state.models[model.id]
    return model_state.score if level.name in model_state.levels else None


def greedy_events(
    model: ScoringModel, state: LeadState, level_name: str, now_ms: int, limit: int = MAX_EVENTS
) -> list[LeadEvent]:
    """The events of the greedy set, each the one worth most at that point, up to ``limit``: the most the lead
    can gain now one best event at a time (what an "unreachable" answer is checked against)."""
    level = next(lv for lv in model.levels if lv.name == level_name)
    at_ms = max(now_ms, state.latest_ms)
    lead = Engine((model,)).advance(state, at_ms).state
    model_state = lead.models.get(model.id) or ModelState(model.version, applies=model.segment is None)
    problem = _problem(model, model_state, at_ms)
    chosen = greedy_set(problem.moves, problem.budgets, lambda added: added, float("inf"), limit)
    return list(_events(state.lead_id, model, level, [problem.offers[i] for i in chosen], at_ms))
