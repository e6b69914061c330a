"""When time alone first takes an account into or out of a level: the exact search behind the account's decay
crossings, its decay timer and the snapshot's drops.

The account's score and coverage are monotone transforms (cap, weight >= 0, the lead model's clamps, a threshold)
of its members' engagements. When every decaying term of every member moves one way (all toward lower values, or
all toward higher), the level's condition is monotone between the members' window expiries, which are probed
exactly: :func:`scoring.decay.first_time` finds the first millisecond. With terms moving both ways it probes a
grid of an eighth of the shortest half-life (as ``scoring.crossingtime`` does for a lead) and bisects.
"""

from __future__ import annotations

import bisect

from scoring.accounts.rollup import roll_of
from scoring.accounts.state import AccountModelState
from scoring.accounts.values import holds, values_at
from scoring.decay import HORIZON_HALF_LIVES, first_time
from scoring.model.accountspec import AccountLevel
from scoring.model.compile import ScoringModel

__all__ = ["TimeShape", "time_shape", "transition_time"]


class TimeShape:
    """What time alone can do to an account's members after ``since_ms``: which ways (True: down), the window
    expiries (the times the engagement jumps), and the half-lives of the decaying terms."""

    __slots__ = ("breakpoints", "directions", "half_lives")

    def __init__(self, directions: set[bool], breakpoints: list[int], half_lives: set[int]) -> None:
        self.directions = directions
        self.breakpoints = breakpoints
        self.half_lives = half_lives


def time_shape(model: ScoringModel, state: AccountModelState, since_ms: int) -> TimeShape:
    """From the counts the account keeps (:mod:`scoring.accounts.rollup`): every member's decaying terms and
    the window expiries after ``since_ms``."""
    roll = roll_of(model, state)
    directions = {down for (down, _), count in roll.decaying.items() if count}
    half_lives = {half_life for (_, half_life), count in roll.decaying.items() if count}
    breakpoints: set[int] = set()
    for down, times in ((True, roll.down), (False, roll.up)):
        start = bisect.bisect_right(times, since_ms)
        if start < len(times):
            directions.add(down)
            breakpoints.update(times[start:])
    return TimeShape(directions, sorted(breakpoints), half_lives)


def transition_time(
    model: ScoringModel,
    state: AccountModelState,
    level: AccountLevel,
    after_ms: int,
    until_ms: int | None = None,
    shape: TimeShape | None = None,
) -> int | None:
    """The first time ``>= after_ms`` (and ``<= until_ms`` when given) at which, with no new member update, the
    account enters ``level`` (not held) or leaves it (held); None when that does not happen. ``shape``: what
    :func:`time_shape` gave for ``after_ms`` (computed when not given)."""
    held = level.name in state.levels
    shape = shape if shape is not None else time_shape(model, state, after_ms)
    if (held and True not in shape.directions) or (not held and False not in shape.directions):
        return None  # time alone cannot move the account that way (also: nothing changes with time)
    horizon = after_ms + HORIZON_HALF_LIVES * max(shape.half_lives, default=0)
    end = max([horizon, *shape.breakpoints]) + 1
    if until_ms is not None:
        if until_ms < after_ms:
            return None
        end = min(end, until_ms)
    step = max(1, min(shape.half_lives) // 8) if len(shape.directions) > 1 and shape.half_lives else None

    def moved(at_ms: int) -> bool:
        return holds(level, held, values_at(model, state, at_ms)) != held

    return first_time(moved, after_ms, end, shape.breakpoints, step)
