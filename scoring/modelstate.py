"""One lead's state under one model, and the exact arithmetic on it: counting, caps, windows, decay, evaluation.

Engagement points are kept per rule: ``value`` is the decayed sum, at the model state's ``anchor_ms`` (the latest
event time applied), of counted contributions of rules without a time-frame window; rules with a window keep the
times of their counted contributions instead, so that each drops out exactly when it gets too old. Rules with a
cap or ``once_per`` keep, per aligned time bucket, the times of the contributions that counted (the earliest ones,
so the result does not depend on arrival order). Fit points come from the latest profile and decay only when the
model gives fit a half-life.
"""

from __future__ import annotations

import bisect
from collections.abc import Mapping
from dataclasses import dataclass, field

from scoring.decay import HORIZON_HALF_LIVES, decay, first_time
from scoring.model import Rule, ScoringModel


@dataclass(slots=True)
class RuleState:
    value: float = 0.0
    times: list[int] = field(default_factory=list)
    buckets: dict[int, list[int]] = field(default_factory=dict)

    def copy(self) -> RuleState:
        return RuleState(self.value, list(self.times), {key: list(value) for key, value in self.buckets.items()})


@dataclass(slots=True)
class ModelState:
    """Mutable on purpose, for speed: the engine copies a state before it changes it."""

    model_version: int
    anchor_ms: int = 0
    rules: dict[str, RuleState] = field(default_factory=dict)
    fit_points: dict[str, float] = field(default_factory=dict)
    fit_at_ms: int = 0
    levels: list[str] = field(default_factory=list)
    score: float = 0.0
    events_scored: int = 0
    applies: bool = True
    levels_at_ms: int = 0  # levels are known to be right up to this time

    def copy(self) -> ModelState:
        return ModelState(
            self.model_version,
            self.anchor_ms,
            {key: value.copy() for key, value in self.rules.items()},
            dict(self.fit_points),
            self.fit_at_ms,
            list(self.levels),
            self.score,
            self.events_scored,
            self.applies,
            self.levels_at_ms,
        )


@dataclass(frozen=True, slots=True)
class Counted:
    """What counting one event under one rule did: the points it is worth now (0 when capped or too late)."""

    rule: Rule
    points_now: float
    counted: bool


def move_anchor(state: ModelState, model: ScoringModel, to_ms: int) -> None:
    """Revalue every rule at ``to_ms`` (later than the anchor) and drop what can no longer count."""
    if state.anchor_ms == 0:
        state.anchor_ms = to_ms
        return
    if to_ms <= state.anchor_ms:
        return
    elapsed = to_ms - state.anchor_ms
    state.anchor_ms = to_ms
    rules = _rules_by_id(model)
    for rule_id in list(state.rules):
        rule = rules.get(rule_id)
        rule_state = state.rules[rule_id]
        if rule is None:
            del state.rules[rule_id]  # the rule left the model
            continue
        rule_state.value *= decay(elapsed, rule.half_life_ms)
        if rule.window_ms:
            keep_from = bisect.bisect_right(rule_state.times, to_ms - rule.window_ms)
            del rule_state.times[:keep_from]
        if rule.cap_per_ms:
            oldest = (to_ms - max(model.lateness_ms, rule.window_ms)) // rule.cap_per_ms
            for bucket in [b for b in rule_state.buckets if b < oldest]:
                del rule_state.buckets[bucket]
        if not rule_state.times and not rule_state.buckets and abs(rule_state.value) < 1e-12:
            del state.rules[rule_id]


def count(state: ModelState, model: ScoringModel, rule: Rule, at_ms: int, now_ms: int) -> Counted:
    """Count one matching event of ``rule`` at ``at_ms`` (``state.anchor_ms`` must already be >= ``at_ms``)."""
    rule_state = state.rules.get(rule.id)
    if rule_state is None:
        rule_state = state.rules[rule.id] = RuleState()
    if rule.window_ms and at_ms <= now_ms - rule.window_ms:
        return Counted(rule, 0.0, False)  # already outside the time frame
    replaced: int | None = None
    if rule.cap_per_ms:
        if at_ms < state.anchor_ms - model.lateness_ms:
            return Counted(rule, 0.0, False)  # later than the model's lateness: cap buckets are gone
        times = rule_state.buckets.setdefault(at_ms // rule.cap_per_ms, [])
        if len(times) >= rule.cap_count:
            if at_ms >= times[-1]:
                return Counted(rule, 0.0, False)  # the cap is full with earlier events
            replaced = times.pop()  # an earlier event arrived late: it counts instead of the latest one
        bisect.insort(times, at_ms)
    worth_now = rule.points * decay(now_ms - at_ms, rule.half_life_ms)
    if replaced is not None:
        _uncount(rule_state, rule, replaced, state.anchor_ms)
        worth_now -= rule.points * decay(now_ms - replaced, rule.half_life_ms) * _live(rule, replaced, now_ms)
    if rule.window_ms:
        bisect.insort(rule_state.times, at_ms)
    else:
        rule_state.value += rule.points * decay(state.anchor_ms - at_ms, rule.half_life_ms)
    return Counted(rule, worth_now, True)


def _uncount(rule_state: RuleState, rule: Rule, at_ms: int, anchor_ms: int) -> None:
    if rule.window_ms:
        index = bisect.bisect_left(rule_state.times, at_ms)
        if index < len(rule_state.times) and rule_state.times[index] == at_ms:
            del rule_state.times[index]
    else:
        rule_state.value -= rule.points * decay(anchor_ms - at_ms, rule.half_life_ms)


def _live(rule: Rule, at_ms: int, now_ms: int) -> float:
    return 0.0 if rule.window_ms and at_ms <= now_ms - rule.window_ms else 1.0


def _rules_by_id(model: ScoringModel) -> Mapping[str, Rule]:
    return model.by_id


# ---- evaluation -------------------------------------------------------------------------------------------


def rule_value(rule: Rule, rule_state: RuleState, anchor_ms: int, now_ms: int) -> float:
    """What ``rule`` contributes at ``now_ms`` (>= anchor), decayed, with expired window entries left out."""
    value = rule_state.value * decay(now_ms - anchor_ms, rule.half_life_ms)
    if rule.window_ms:
        start = bisect.bisect_right(rule_state.times, now_ms - rule.window_ms)
        for at_ms in rule_state.times[start:]:
            value += rule.points * decay(now_ms - at_ms, rule.half_life_ms)
    return value


def engagement_raw(model: ScoringModel, state: ModelState, now_ms: int) -> float:
    rules = _rules_by_id(model)
    return sum(
        rule_value(rules[rule_id], rule_state, state.anchor_ms, now_ms)
        for rule_id, rule_state in state.rules.items()
        if rule_id in rules
    )


def fit_raw(model: ScoringModel, state: ModelState, now_ms: int) -> float:
    rules = _rules_by_id(model)
    return sum(
        points * decay(max(0, now_ms - state.fit_at_ms), rules[rule_id].half_life_ms)
        for rule_id, points in state.fit_points.items()
        if rule_id in rules
    )


@dataclass(frozen=True, slots=True)
class Scores:
    engagement: float
    fit: float
    combined: float
    grade: str


def scores_at(model: ScoringModel, state: ModelState, now_ms: int) -> Scores:
    """Engagement and fit (each clamped to its floor and ceiling), their weighted sum, and the fit grade."""
    engagement = model.engagement.clamp(engagement_raw(model, state, now_ms))
    fit = model.fit.clamp(fit_raw(model, state, now_ms))
    combined = model.engagement_weight * engagement + model.fit_weight * fit
    return Scores(engagement, fit, combined, model.grade_for(fit))


def contributions_at(model: ScoringModel, state: ModelState, now_ms: int) -> dict[str, float]:
    """Every rule's current (decayed) value, engagement and fit, before floors and ceilings."""
    rules = _rules_by_id(model)
    values = {
        rule_id: rule_value(rules[rule_id], rule_state, state.anchor_ms, now_ms)
        for rule_id, rule_state in state.rules.items()
        if rule_id in rules
    }
    for rule_id, points in state.fit_points.items():
        if rule_id in rules:
            values[rule_id] = points * decay(max(0, now_ms - state.fit_at_ms), rules[rule_id].half_life_ms)
    return values


def is_monotone(model: ScoringModel, state: ModelState, now_ms: int) -> bool:
    """True when every contribution has the same sign: the score then only falls (or only rises) with time."""
    signs = {value > 0 for value in contributions_at(model, state, now_ms).values() if value != 0}
    return len(signs) <= 1


def first_time_score(
    model: ScoringModel, state: ModelState, now_ms: int, below: float | None = None, at_least: float | None = None
) -> int | None:
    """The first time ``>= now_ms`` at which, with no new input, the combined score is ``< below`` (or
    ``>= at_least``). None when that never happens. Exact to the millisecond where the score is monotone (all
    contributions of one sign, the usual case); otherwise found on a grid of an eighth of the shortest half-life.
    """
    rules = _rules_by_id(model)
    half_lives = [rules[r].half_life_ms for r in state.rules if r in rules and rules[r].half_life_ms]
    half_lives += [rules[r].half_life_ms for r in state.fit_points if r in rules and rules[r].half_life_ms]
    breakpoints = sorted(
        at_ms + rules[r].window_ms
        for r, s in state.rules.items()
        if r in rules and rules[r].window_ms
        for at_ms in s.times
        if at_ms + rules[r].window_ms > now_ms
    )
    if not half_lives and not breakpoints:
        return None  # nothing changes with time
    end = max([now_ms + HORIZON_HALF_LIVES * max(half_lives, default=0), *breakpoints]) + 1
    step = None if is_monotone(model, state, now_ms) else max(1, min(half_lives, default=end - now_ms) // 8)

    def condition(at_ms: int) -> bool:
        score = scores_at(model, state, at_ms).combined
        return score < below if below is not None else score >= at_least  # type: ignore[operator]

    return first_time(condition, now_ms, end, breakpoints, step)
