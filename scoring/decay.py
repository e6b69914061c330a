"""Exponential decay in event time, and the exact first time a decaying score meets a condition.

A contribution of ``p`` points made at ``t`` is worth ``p * 2 ** (-(T - t) / half_life)`` at ``T``. Sums of such
terms are kept as one value per rule at an anchor time and rescaled when the anchor moves, which makes the result
independent of the order in which events arrive (up to float rounding, far below 1e-9 relative).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable

LN2 = math.log(2.0)
#: After this many half-lives a term is below 2**-60 of its size: the search horizon.
HORIZON_HALF_LIVES = 60
MAX_GRID_POINTS = 2000


def decay(elapsed_ms: int, half_life_ms: int) -> float:
    """Factor by which a value shrinks over ``elapsed_ms``; 1.0 without decay (half-life 0)."""
    if half_life_ms == 0 or elapsed_ms == 0:
        return 1.0
    return math.exp(-LN2 * elapsed_ms / half_life_ms)


def first_time(
    predicate: Callable[[int], bool],
    start_ms: int,
    end_ms: int,
    breakpoints: Iterable[int] = (),
    step_ms: int | None = None,
    hint_ms: int | None = None,
) -> int | None:
    """The smallest integer time in ``[start_ms, end_ms]`` where ``predicate`` holds, or None.

    ``predicate`` must be monotone (false, then true) between consecutive ``breakpoints`` when ``step_ms`` is None;
    otherwise the interval is also probed every ``step_ms`` and the first true probe is narrowed by bisection.
    Breakpoints are times where the function jumps (time-frame windows expiring); each is probed exactly.
    ``hint_ms``, an estimate of the answer, may be given when ``predicate`` is monotone over the whole interval:
    if it holds at the hint and not a millisecond before, that is the answer (two calls instead of ~40).
    """
    if predicate(start_ms):
        return start_ms
    if hint_ms is not None and start_ms < hint_ms <= end_ms and predicate(hint_ms) and not predicate(hint_ms - 1):
        return hint_ms
    probes = {end_ms, *(b for b in breakpoints if start_ms < b < end_ms)}
    if step_ms is not None and step_ms > 0:
        step = max(step_ms, (end_ms - start_ms) // MAX_GRID_POINTS or 1)
        probes.update(range(start_ms + step, end_ms, step))
    previous = start_ms
    for probe in sorted(probes):
        if predicate(probe):
            return _bisect(predicate, previous, probe)
        previous = probe
    return None


def _bisect(predicate: Callable[[int], bool], false_at: int, true_at: int) -> int:
    while true_at - false_at > 1:
        middle = (false_at + true_at) // 2
        if predicate(middle):
            true_at = middle
        else:
            false_at = middle
    return true_at
