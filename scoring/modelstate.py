"""One lead's state under one model, and the exact arithmetic on it: counting, caps, windows, decay, evaluation.

Engagement points are kept per rule. ``value`` is the decayed sum, valued at the rule's ``at_ms``, of the counted
contributions of a rule without a time-frame window; a rule with a window keeps the times of its counted
contributions instead, so that each drops out exactly when it gets too old. A rule with a cap or ``once_per``
keeps, per aligned time bucket, the times of the contributions that counted: the earliest ones, so the result
does not depend on arrival order. Fit points come from the latest profile and decay only when the model gives fit
a half-life. Evaluating at a later time only multiplies by ``2 ** (-elapsed / half_life)``: nothing is stepped.
"""

from __future__ import annotations

import bisect
import math
from dataclasses import dataclass

import msgspec

from scoring.decay import LN2, decay
from scoring.filterlog import FilterLog
from scoring.model.compile import Rule, ScoringModel
from scoring.trendstate import TrendState


class RuleState(msgspec.Struct, array_like=True):
    """One rule's counted contributions (see the module text). A msgspec Struct: state format 2 encodes it as
    MessagePack, fields by position (append new fields at the end, with a default)."""

    value: float = 0.0
    at_ms: int = 0  # the time ``value`` is valued at
    times: list[int] = msgspec.field(default_factory=list)
    buckets: dict[int, list[int]] = msgspec.field(default_factory=dict)

    def copy(self) -> RuleState:
        return RuleState(self.value, self.at_ms, list(self.times), {b: list(t) for b, t in self.buckets.items()})


class ModelState(msgspec.Struct, array_like=True):
    """Changed in place by the engine's ``score_*`` methods; :meth:`copy` is deep. Fields by position in state
    format 2, as :class:`RuleState`."""

    model_version: int
    anchor_ms: int = 0  # the latest event time applied
    rules: dict[str, RuleState] = msgspec.field(default_factory=dict)
    fit_points: dict[str, float] = msgspec.field(default_factory=dict)
    fit_at_ms: int = 0
    levels: list[str] = msgspec.field(default_factory=list)
    score: float = 0.0
    events_scored: int = 0
    applies: bool = True
    levels_at_ms: int = 0  # levels are known to be right up to this time
    trend: TrendState | None = None  # gains per bucket and the surging flag (scoring/trend.py); None: no trend
    filter_log: FilterLog | None = None  # only for a model whose filters may take events back (ADR 036)

    def copy(self) -> ModelState:
        """A deep copy: changing it never changes this one."""
        return ModelState(
            self.model_version,
            self.anchor_ms,
            {rule_id: rule_state.copy() for rule_id, rule_state in self.rules.items()},
            dict(self.fit_points),
            self.fit_at_ms,
            list(self.levels),
            self.score,
            self.events_scored,
            self.applies,
            self.levels_at_ms,
            None if self.trend is None else self.trend.copy(),
            self.filter_log.copy() if self.filter_log is not None else None,
        )


def count(
    state: ModelState, model: ScoringModel, rule: Rule, at_ms: int, now_ms: int, replaced_out: list[int] | None = None
) -> float | None:
    """Count one matching event of ``rule`` at ``at_ms`` into ``state`` (in place); ``state.anchor_ms`` must
    already include ``at_ms``. Returns the points the event is worth at ``now_ms``, or None when it does not count
    (capped, or too late): then ``state`` is left as it was. ``replaced_out``: gets the time of a later capped
    contribution this earlier event took the place of (the trend takes its gain back)."""
    if rule.window_ms and at_ms <= now_ms - rule.window_ms:
        return None  # already outside the time frame
    if rule.cap_per_ms and at_ms < state.anchor_ms - model.lateness_ms:
        return None  # later than the model's lateness: its cap bucket is gone
    rule_state = state.rules.get(rule.id)
    if rule.cap_per_ms and rule_state is not None:
        # the event's own bucket is never pruned (it is within the lateness): check the cap before changing anything
        full = rule_state.buckets.get(at_ms // rule.cap_per_ms)
        if full is not None and len(full) >= rule.cap_count and at_ms >= full[-1]:
            return None  # the cap is full with earlier events
    if rule_state is None:
        rule_state = state.rules[rule.id] = RuleState(at_ms=at_ms)
    else:
        _prune(rule_state, model, rule, state.anchor_ms)
    replaced: int | None = None
    if rule.cap_per_ms:
        times = rule_state.buckets.setdefault(at_ms // rule.cap_per_ms, [])
        if len(times) >= rule.cap_count:
            replaced = times.pop()  # an earlier event arrived late: it counts instead of the latest one
            if replaced_out is not None:
                replaced_out.append(replaced)
        bisect.insort(times, at_ms)
    worth_now = rule.points * decay(now_ms - at_ms, rule.half_life_ms)
    if replaced is not None:
        _add(rule_state, rule, replaced, -1.0)
        if not (rule.window_ms and replaced <= now_ms - rule.window_ms):
            worth_now -= rule.points * decay(now_ms - replaced, rule.half_life_ms)
    _add(rule_state, rule, at_ms, 1.0)
    return worth_now


def uncount(state: ModelState, rule: Rule, at_ms: int, now_ms: int) -> float:
    """Take back one contribution of ``rule`` made at ``at_ms`` that :func:`count` counted (the caller knows it
    did): out of its cap bucket, its window times or its decayed value. Returns the points that takes away at
    ``now_ms`` (nothing once a window dropped it). A cap's freed place is the caller's to offer again."""
    rule_state = state.rules[rule.id]
    if rule.cap_per_ms:
        times = rule_state.buckets.get(at_ms // rule.cap_per_ms)
        if times is not None and at_ms in times:
            times.remove(at_ms)
    _add(rule_state, rule, at_ms, -1.0)
    if rule.window_ms and at_ms <= now_ms - rule.window_ms:
        return 0.0
    return -rule.points * decay(now_ms - at_ms, rule.half_life_ms)


def _add(rule_state: RuleState, rule: Rule, at_ms: int, sign: float) -> None:
    """Add (sign 1) or remove (sign -1) one contribution made at ``at_ms``."""
    if rule.window_ms:
        if sign > 0:
            bisect.insort(rule_state.times, at_ms)
        else:
            index = bisect.bisect_left(rule_state.times, at_ms)
            if index < len(rule_state.times) and rule_state.times[index] == at_ms:
                del rule_state.times[index]
        return
    if at_ms > rule_state.at_ms:  # revalue at the later time, so that values only ever shrink
        rule_state.value *= decay(at_ms - rule_state.at_ms, rule.half_life_ms)
        rule_state.at_ms = at_ms
    rule_state.value += sign * rule.points * decay(rule_state.at_ms - at_ms, rule.half_life_ms)


def _prune(rule_state: RuleState, model: ScoringModel, rule: Rule, anchor_ms: int) -> None:
    """Drop window entries and cap buckets that can no longer matter."""
    if rule.window_ms and rule_state.times:
        del rule_state.times[: bisect.bisect_right(rule_state.times, anchor_ms - rule.window_ms)]
    if rule.cap_per_ms and rule_state.buckets:
        oldest = (anchor_ms - max(model.lateness_ms, rule.window_ms)) // rule.cap_per_ms
        for bucket in [b for b in rule_state.buckets if b < oldest]:
            del rule_state.buckets[bucket]


def add_contribution(rule_state: RuleState, rule: Rule, at_ms: int, sign: float) -> None:
    """Add (sign 1) or take back (sign -1) one contribution of ``rule`` made at ``at_ms``, and nothing else (no
    cap bucket, no check): for callers that keep the buckets themselves (scoring/identities/merge.py)."""
    _add(rule_state, rule, at_ms, sign)


def prune(rule_state: RuleState, model: ScoringModel, rule: Rule, anchor_ms: int) -> None:
    """Drop the window entries and cap buckets of ``rule_state`` that can no longer matter at ``anchor_ms``."""
    _prune(rule_state, model, rule, anchor_ms)


# ---- evaluation -------------------------------------------------------------------------------------------


def rule_value(rule: Rule, rule_state: RuleState, now_ms: int) -> float:
    """What ``rule`` contributes at ``now_ms``, decayed, with window entries that have expired left out."""
    value = rule_state.value * decay(now_ms - rule_state.at_ms, rule.half_life_ms) if rule_state.value else 0.0
    if rule.window_ms:
        start = bisect.bisect_right(rule_state.times, now_ms - rule.window_ms)
        for at_ms in rule_state.times[start:]:
            value += rule.points * decay(now_ms - at_ms, rule.half_life_ms)
    return value


def fit_value(rule: Rule, points: float, state: ModelState, now_ms: int) -> float:
    return points * decay(max(0, now_ms - state.fit_at_ms), rule.half_life_ms)


@dataclass(frozen=True, slots=True)
class Scores:
    engagement: float
    fit: float
    combined: float
    grade: str


def scores_at(model: ScoringModel, state: ModelState, now_ms: int) -> Scores:
    """Engagement and fit (each clamped to its floor and ceiling), their weighted sum, and the fit grade."""
    rules = model.by_id
    engagement = 0.0
    for rule_id, rule_state in state.rules.items():
        rule = rules.get(rule_id)
        if rule is None:
            continue
        if rule.window_ms:
            engagement += rule_value(rule, rule_state, now_ms)
            continue
        value = rule_state.value  # rule_value inlined (the hot path): the same arithmetic, the same float
        if value:
            elapsed = now_ms - rule_state.at_ms
            if elapsed and rule.half_life_ms:
                value *= math.exp(-LN2 * elapsed / rule.half_life_ms)
        else:
            value = 0.0
        engagement += value
    fit = 0.0
    for rule_id, points in state.fit_points.items():
        rule = rules.get(rule_id)
        if rule is not None:
            fit += fit_value(rule, points, state, now_ms)
    engagement, fit = model.engagement.clamp(engagement), model.fit.clamp(fit)
    return Scores(engagement, fit, model.engagement_weight * engagement + model.fit_weight * fit, model.grade_for(fit))


def contributions_at(model: ScoringModel, state: ModelState, now_ms: int) -> dict[str, float]:
    """Every rule's current (decayed) value, engagement and fit, before floors and ceilings."""
    rules = model.by_id
    values = {rid: rule_value(rules[rid], rs, now_ms) for rid, rs in state.rules.items() if rid in rules}
    for rule_id, points in state.fit_points.items():
        if rule_id in rules:
            values[rule_id] = fit_value(rules[rule_id], points, state, now_ms)
    return values
