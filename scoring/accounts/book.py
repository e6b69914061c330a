"""An account's levels (ADR 041): the crossings its values make at a time, and those time alone makes up to a
time, each at the exact millisecond it happened (cause DECAY). Used by :mod:`scoring.accounts.engine`."""

from __future__ import annotations

from dataclasses import dataclass, field

from scoring.accounts.crossing import time_shape, transition_time
from scoring.accounts.records import AccountCause, AccountChange, AccountCrossing, MemberUpdate
from scoring.accounts.state import AccountModelState
from scoring.accounts.values import AccountValues, holds, values_at
from scoring.model.accountspec import AccountLevel, AccountModel
from scoring.model.compile import ScoringModel
from scoring.outputs import Direction, derived_id

__all__ = ["Out", "account_of_model", "decay_levels", "set_levels"]


@dataclass
class Out:
    """What an engine call emits, in order."""

    changes: list[AccountChange] = field(default_factory=list)
    crossings: list[AccountCrossing] = field(default_factory=list)


def account_of_model(model: ScoringModel) -> AccountModel:
    account = model.account
    assert account is not None, "the account engine keeps only models with an account section"
    return account


def set_levels(
    model: ScoringModel,
    account_id: str,
    state: AccountModelState,
    values: AccountValues,
    cause: AccountCause,
    update: MemberUpdate | None,
    at_ms: int,
    out: Out,
) -> None:
    """Enter the levels ``values`` reach and leave those they no longer hold, in the file's order."""
    levels = account_of_model(model).levels
    entered = [lv for lv in levels if lv.name not in state.levels and holds(lv, False, values)]
    left = [lv for lv in reversed(levels) if lv.name in state.levels and not holds(lv, True, values)]
    for level in entered:
        state.levels.append(level.name)
        out.crossings.append(_cross(model, account_id, level, Direction.UP, values, cause, update, at_ms))
    for level in left:
        state.levels.remove(level.name)
        out.crossings.append(_cross(model, account_id, level, Direction.DOWN, values, cause, update, at_ms))
    if len(state.levels) > 1:
        order = [lv.name for lv in levels]
        state.levels.sort(key=order.index)


def _cross(
    model: ScoringModel,
    account_id: str,
    level: AccountLevel,
    direction: Direction,
    values: AccountValues,
    cause: AccountCause,
    update: MemberUpdate | None,
    at_ms: int,
) -> AccountCrossing:
    parts: tuple[object, ...] = ("account-crossing", account_id, model.id, level.name, direction, at_ms)
    if update is not None:  # several member updates may be applied at one account time
        parts += (update.member_id, update.cause_id)
    return AccountCrossing(
        crossing_id=derived_id(*parts),
        account_id=account_id,
        model_id=model.id,
        model_version=model.version,
        level=level.name,
        direction=direction,
        threshold=level.enter if direction is Direction.UP else level.leave,
        score=values.score,
        coverage=values.coverage,
        cause=cause,
        cause_id=update.cause_id if update is not None else None,
        occurred_at_ms=at_ms,
    )


def decay_levels(model: ScoringModel, account_id: str, state: AccountModelState, until_ms: int, out: Out) -> None:
    """Levels left (or entered) through time alone up to ``until_ms``, each at the exact time it happened."""
    since = state.levels_at_ms
    levels = account_of_model(model).levels
    if until_ms > since and levels and state.members:
        while True:
            shape = time_shape(model, state, since)
            if len(shape.directions) <= 1:  # monotone: a level crossed by then is still crossed at until_ms
                at_end = values_at(model, state, until_ms)
                if all(holds(lv, lv.name in state.levels, at_end) == (lv.name in state.levels) for lv in levels):
                    break
            due = [
                (at, lv)
                for lv in levels
                if (at := transition_time(model, state, lv, since, until_ms, shape)) is not None
            ]
            if not due:
                break
            since, _ = min(due, key=lambda item: (item[0], item[1].enter))
            set_levels(model, account_id, state, values_at(model, state, since), AccountCause.DECAY, None, since, out)
    state.levels_at_ms = max(state.levels_at_ms, until_ms)
