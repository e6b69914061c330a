"""The account's trend (ADR 041): the positive moves of its members' parts (weighted, capped engagement) at their
updates, per aligned bucket of the trend's ``window``, in integer millionths (sums independent of order). The
reading at a time: the gains of its bucket (``recent``) against the average of the ``baseline`` buckets before it.
A reading only: accounts have no surge crossings.
"""

from __future__ import annotations

from scoring.accounts.records import AccountTrendReading
from scoring.accounts.state import AccountModelState
from scoring.model.accountspec import AccountTrend
from scoring.trendstate import MICRO

__all__ = ["record_gain", "trend_reading"]


def record_gain(trend: AccountTrend, state: AccountModelState, at_ms: int, gained: float) -> None:
    """Count a positive move of a member's part at its update into its bucket; keep the buckets the reading
    needs (the current one and ``baseline`` before it, relative to the latest update: order independent)."""
    latest = state.anchor_ms // trend.window_ms
    oldest = latest - trend.baseline
    bucket = at_ms // trend.window_ms
    micros = round(gained * MICRO)
    if micros > 0 and bucket >= oldest:
        state.gains[bucket] = state.gains.get(bucket, 0) + micros
    for old in [b for b in state.gains if b < oldest]:
        del state.gains[old]


def trend_reading(trend: AccountTrend, state: AccountModelState, at_ms: int) -> AccountTrendReading:
    """Gains in the bucket of ``at_ms`` against the average of the ``baseline`` buckets before it."""
    current = at_ms // trend.window_ms
    recent = state.gains.get(current, 0) / MICRO
    baseline = sum(state.gains.get(current - k, 0) for k in range(1, trend.baseline + 1)) / MICRO / trend.baseline
    surging = recent > 0 and recent >= trend.min_points and recent >= trend.ratio * baseline
    return AccountTrendReading(recent, baseline, surging)
