"""When time alone first takes a lead's score under one model across a line: the exact search the levels and the
decay timer rely on (``first_time_score``), and the facts about the score's shape over time it rests on (which
ways it can move, whether it is monotone between window expiries)."""

from __future__ import annotations

import math

from scoring.decay import HORIZON_HALF_LIVES, first_time
from scoring.model.compile import ScoringModel
from scoring.modelstate import ModelState, rule_value, scores_at


def _expiries(
    model: ScoringModel, state: ModelState, after_ms: int, until_ms: int | None = None
) -> list[tuple[int, bool]]:
    """(time, points > 0) of every window entry that expires in (after_ms, until_ms]: the score jumps there."""
    rules = model.by_id
    return sorted(
        (at_ms + rule.window_ms, rule.points > 0)
        for rule_id, rule_state in state.rules.items()
        if (rule := rules.get(rule_id)) is not None and rule.window_ms
        for at_ms in rule_state.times
        if after_ms < at_ms + rule.window_ms and (until_ms is None or at_ms + rule.window_ms <= until_ms)
    )


def _directions(model: ScoringModel, state: ModelState, since_ms: int, until_ms: int | None = None) -> set[bool]:
    """Which ways time alone can move the score after ``since_ms`` (True: down). A decaying term moves it toward
    zero, a window entry that expires in ``(since_ms, until_ms]`` makes it jump by minus its points."""
    rules = model.by_id
    directions: set[bool] = set()
    for rule_id, rule_state in state.rules.items():
        rule = rules.get(rule_id)
        if rule is None:
            continue
        if rule.half_life_ms and rule.points:
            directions.add(rule.points > 0)
        if rule.window_ms:
            for at_ms in rule_state.times:
                expiry = at_ms + rule.window_ms
                if since_ms < expiry and (until_ms is None or expiry <= until_ms):
                    directions.add(rule.points > 0)
                    break
    for rule_id, points in state.fit_points.items():
        rule = rules.get(rule_id)
        if rule is not None and rule.half_life_ms and points:
            directions.add(points > 0)
    return directions


def _decaying_signs(model: ScoringModel, state: ModelState) -> set[bool]:
    rules = model.by_id
    signs = {rules[r].points > 0 for r in state.rules if r in rules and rules[r].half_life_ms and rules[r].points}
    signs |= {p > 0 for r, p in state.fit_points.items() if r in rules and rules[r].half_life_ms and p}
    return signs


def monotone_between(model: ScoringModel, state: ModelState, since_ms: int, until_ms: int) -> bool:
    """True when the score moves in one direction only over ``[since_ms, until_ms]`` (decay and jumps agree)."""
    return len(_directions(model, state, since_ms, until_ms)) <= 1


def needs_grid(model: ScoringModel, state: ModelState) -> bool:
    """Whether the score may go up and down between window expiries, so that only a grid search finds a crossing.
    Decaying terms that share one half-life add up to a single exponential, C + A * 2 ** (-t / h), whatever their
    signs: monotone. Only several half-lives with terms of both signs need the grid (a fitted model with negative
    rules on one half-life used to take it, at ~1 ms per event)."""
    rules = model.by_id
    half_lives = {rules[r].half_life_ms for r in state.rules if r in rules and rules[r].half_life_ms}
    half_lives |= {rules[r].half_life_ms for r in state.fit_points if r in rules and rules[r].half_life_ms}
    return len(half_lives) > 1 and len(_decaying_signs(model, state)) > 1


def first_time_score(
    model: ScoringModel,
    state: ModelState,
    now_ms: int,
    below: float | None = None,
    at_least: float | None = None,
    score_now: float | None = None,
) -> int | None:
    """The first time ``>= now_ms`` at which, with no new input, the combined score is ``< below`` (or
    ``>= at_least``); None when that never happens. Exact to the millisecond when all decaying terms have one
    sign or share one half-life (the score is then monotone between window expiries, which are probed exactly);
    otherwise found on a grid of an eighth of the shortest half-life. ``score_now``: the combined score at
    ``now_ms`` when the caller has it (it is not computed again).
    """
    directions = _directions(model, state, now_ms)
    if (below is not None and True not in directions) or (at_least is not None and False not in directions):
        return None  # time alone cannot move the score that way (also: nothing changes with time)
    rules = model.by_id
    half_lives = [rules[r].half_life_ms for r in state.rules if r in rules and rules[r].half_life_ms]
    half_lives += [rules[r].half_life_ms for r in state.fit_points if r in rules and rules[r].half_life_ms]
    breakpoints = [at for at, _ in _expiries(model, state, now_ms)]
    end = max([now_ms + HORIZON_HALF_LIVES * max(half_lives, default=0), *breakpoints]) + 1
    step = max(1, min(half_lives) // 8) if len(set(half_lives)) > 1 and needs_grid(model, state) else None

    def condition(at_ms: int) -> bool:
        score = score_now if at_ms == now_ms and score_now is not None else scores_at(model, state, at_ms).combined
        if below is not None:
            return score < below
        if at_least is not None:
            return score >= at_least
        raise TypeError("first_time_score needs below or at_least")

    target = below if below is not None else at_least
    hint = _closed_form(model, state, now_ms, target) if len(directions) == 1 and target is not None else None
    return first_time(condition, now_ms, end, breakpoints, step, hint)


def _closed_form(model: ScoringModel, state: ModelState, now_ms: int, target: float) -> int | None:
    """When the decaying engagement terms share one half-life and fit does not decay, the score is
    ``C + A * 2 ** (-t / h)`` until a window expires or a clamp binds: solve it for ``target``. Only an estimate;
    :func:`first_time` checks it to the millisecond and searches when it is off."""
    rules = model.by_id
    half_lives = {rules[r].half_life_ms for r in state.rules if r in rules and rules[r].half_life_ms}
    if len(half_lives) != 1 or any(rules[r].half_life_ms for r in state.fit_points if r in rules):
        return None
    half_life = half_lives.pop()
    decaying = constant = 0.0
    for rule_id, rule_state in state.rules.items():
        rule = rules.get(rule_id)
        if rule is not None:
            value = rule_value(rule, rule_state, now_ms)
            if rule.half_life_ms:
                decaying += value
            else:
                constant += value
    fit = model.fit.clamp(sum(points for r, points in state.fit_points.items() if r in rules))
    if decaying == 0 or model.engagement_weight == 0:
        return None
    share = ((target - model.fit_weight * fit) / model.engagement_weight - constant) / decaying
    if not 0 < share < 1:
        return None
    return now_ms + math.ceil(half_life * math.log2(1 / share))
