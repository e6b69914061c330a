"""An account's snapshot under one account model at a time (ADR 041): its values, top members by value, the
buying group's missing roles, the trend's reading and, per level held, when time alone takes it out."""

from __future__ import annotations

from scoring.accounts.crossing import time_shape, transition_time
from scoring.accounts.records import AccountSnapshot
from scoring.accounts.rollup import roll_of
from scoring.accounts.state import AccountModelState
from scoring.accounts.trend import trend_reading
from scoring.accounts.values import member_record
from scoring.model.compile import ScoringModel

__all__ = ["model_snapshot"]


def model_snapshot(
    model: ScoringModel, account_id: str, state: AccountModelState, now_ms: int, top: int
) -> AccountSnapshot:
    """``state``'s snapshot at ``now_ms`` (at least its latest update's time); ``model`` has an account section."""
    spec = model.account
    assert spec is not None, "a snapshot needs a model with an account section"
    at = max(now_ms, state.anchor_ms)
    point = roll_of(model, state).point(state, at)
    values = point.values_with(spec, state.fit_points)
    members = state.members
    ranked = sorted(((value, member_id) for member_id, value in point.shares.items()), key=lambda i: (-i[0], i[1]))
    after = max(at, state.levels_at_ms)
    held = [level for level in spec.levels if level.name in state.levels]
    shape = time_shape(model, state, after) if held else None
    drops = tuple((level.name, transition_time(model, state, level, after, shape=shape)) for level in held)
    group = spec.buying_group
    return AccountSnapshot(
        account_id=account_id,
        model_id=model.id,
        model_version=model.version,
        score=values.score,
        engagement=values.engagement,
        fit=values.fit,
        levels=tuple(state.levels),
        coverage=values.coverage,
        missing_roles=tuple(r for r in group.roles if r not in values.coverage) if group else (),
        member_count=len(members),
        top_members=tuple(member_record(spec, m, members[m], 0.0, value) for value, m in ranked[:top]),
        trend=None if spec.trend is None else trend_reading(spec.trend, state, at),
        drops=drops,
    )
