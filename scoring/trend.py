"""The engagement trend and the surging flag (ADR 037; the model file's ``trend:``, ``scoring/model/trendspec.py``).

Gains are kept per aligned bucket (``at_ms // bucket_ms``) in :class:`~scoring.trendstate.TrendState`, as integer
millionths of a point, so that any arrival order gives the same sums. At a time in bucket ``c``:

- ``recent`` = the gains of buckets ``(c - w, c]`` (``w`` = the window's buckets),
- ``baseline`` = the gains of buckets ``(c - w - b, c - w]`` (``b`` = the baseline's buckets) times ``w / b``,
- the flag steps once per bucket, from the flag at the end of the bucket before: a lead not surging starts when
  ``recent >= max(min_points, enter_ratio * baseline)``, a surging one stays while
  ``recent >= max(min_points, leave_ratio * baseline)``.

The flag is a function of the gains and the time (order independent), so it is replayed from the last bucket no
event can reach any more (``settled_bucket``, older than the model's lateness) over the buckets where the reading
changes: a bucket with gains, and the ones where those gains leave the window and the baseline. Between those the
reading is constant and stepping again changes nothing. ``surging`` in the state is the flag as last reported: a
change of it is a :class:`~scoring.outputs.ThresholdCrossing` at the event, or at the exact bucket boundary where
time alone moved it (cause DECAY), found by :func:`next_trend_change` for the decay timer.
"""

from __future__ import annotations

import bisect
from collections.abc import Iterator

from scoring.model.compile import ScoringModel
from scoring.model.trendspec import Trend
from scoring.modelstate import ModelState
from scoring.outputs import Cause, Direction, ThresholdCrossing, TrendReading, derived_id
from scoring.trendstate import MICRO, TrendState

__all__ = [
    "TrendReading",
    "next_trend_change",
    "record_gain",
    "surging_after_input",
    "surging_by_time",
    "trend_reading",
]


def record_gain(model: ScoringModel, state: ModelState, at_ms: int, points: float) -> None:
    """Add ``points`` gained at ``at_ms`` (negative: taken back) to the trend of ``model`` in ``state``; nothing
    for a model without a trend, or a gain older than the model's lateness (``state.anchor_ms`` must already
    include ``at_ms``). Call :func:`surging_after_input` once the input is applied."""
    trend = model.trend
    if trend is None or not points or at_ms < state.anchor_ms - model.lateness_ms:
        return
    trend_state = state.trend
    if trend_state is None or trend_state.bucket_ms != trend.bucket_ms:  # new, or a reload changed the bucket
        surging = trend_state is not None and trend_state.surging
        trend_state = state.trend = TrendState(trend.bucket_ms, surging=surging, checked_ms=state.anchor_ms)
    bucket = at_ms // trend.bucket_ms
    if trend_state.settled_bucket is not None and bucket <= trend_state.settled_bucket:
        return  # the lateness was raised by a reload: that past is settled
    gain = trend_state.gains.get(bucket, 0) + round(points * MICRO)
    if gain:
        trend_state.gains[bucket] = gain
    else:
        trend_state.gains.pop(bucket, None)
    _settle(model, trend, trend_state, state.anchor_ms)


def trend_reading(model: ScoringModel, state: ModelState, now_ms: int) -> TrendReading | None:
    """The lead's trend at ``now_ms`` (None: the model has none). ``surging`` is False while the model does not
    apply to the lead."""
    trend = model.trend
    if trend is None:
        return None
    trend_state = state.trend
    if trend_state is None:
        return TrendReading(0.0, 0.0, False)
    sweep = _Sweep(trend, trend_state)
    bucket = now_ms // trend.bucket_ms
    recent, baseline = sweep.reading(bucket)
    return TrendReading(recent, baseline, state.applies and _flag_at(trend, trend_state, sweep, bucket))


def surging_by_time(model: ScoringModel, state: ModelState, lead_id: str, now_ms: int) -> list[ThresholdCrossing]:
    """The crossings time alone made after the flag was last reported, up to ``now_ms``, each at its bucket
    boundary (cause DECAY); the state's flag follows them. Call only while the model applies to the lead."""
    trend, trend_state = model.trend, state.trend
    if trend is None or trend_state is None or now_ms <= trend_state.checked_ms:
        return []
    crossings = []
    sweep = _Sweep(trend, trend_state)
    since = trend_state.checked_ms // trend.bucket_ms
    for bucket, flag in _flags(trend, trend_state, sweep, now_ms // trend.bucket_ms):
        if bucket > since and flag != trend_state.surging:
            at_ms = bucket * trend.bucket_ms
            crossings.append(_cross(model, trend, trend_state, sweep, lead_id, bucket, Cause.DECAY, None, at_ms))
    trend_state.checked_ms = now_ms
    return crossings


def surging_after_input(
    model: ScoringModel, state: ModelState, lead_id: str, now_ms: int, cause: Cause, cause_id: str
) -> list[ThresholdCrossing]:
    """After an input (event, profile, retraction) changed ``state``: the crossing when the flag at ``now_ms``
    differs from the one last reported (a lead the model no longer applies to stops surging)."""
    trend, trend_state = model.trend, state.trend
    if trend is None or trend_state is None:
        return []
    sweep = _Sweep(trend, trend_state)
    bucket = now_ms // trend.bucket_ms
    flag = state.applies and _flag_at(trend, trend_state, sweep, bucket)
    trend_state.checked_ms = max(trend_state.checked_ms, now_ms)
    if flag == trend_state.surging:
        return []
    return [_cross(model, trend, trend_state, sweep, lead_id, bucket, cause, cause_id, now_ms)]


def next_trend_change(model: ScoringModel, state: ModelState, after_ms: int) -> int | None:
    """The bucket boundary at which time alone next changes the reported flag (not before ``after_ms``: one
    already due gives ``after_ms``), or None when it never does."""
    trend, trend_state = model.trend, state.trend
    if trend is None or trend_state is None:
        return None
    since = trend_state.checked_ms // trend.bucket_ms
    for bucket, flag in _flags(trend, trend_state, _Sweep(trend, trend_state), None):
        if bucket > since and flag != trend_state.surging:
            return max(bucket * trend.bucket_ms, after_ms)
    return None


# ---- the arithmetic -----------------------------------------------------------------------------------------


class _Sweep:
    """Prefix sums of the kept gains, for the reading at any bucket and the buckets where it changes."""

    def __init__(self, trend: Trend, trend_state: TrendState) -> None:
        self.trend = trend
        self.keys = sorted(trend_state.gains)
        self.prefix = [0]
        for key in self.keys:
            self.prefix.append(self.prefix[-1] + trend_state.gains[key])

    def _upto(self, bucket: int) -> int:
        return self.prefix[bisect.bisect_right(self.keys, bucket)]

    def reading(self, bucket: int) -> tuple[float, float]:
        """``(recent, baseline)`` in points at ``bucket``."""
        window, baseline = self.trend.window_buckets, self.trend.baseline_buckets
        recent_end, baseline_end = self._upto(bucket - window), self._upto(bucket - window - baseline)
        recent = (self._upto(bucket) - recent_end) / MICRO
        return recent, (recent_end - baseline_end) * window / (baseline * MICRO)

    def changes(self, after: int | None, until: int | None) -> list[int]:
        """Buckets in ``(after, until]`` where the reading differs from the bucket before (ascending)."""
        window, span = self.trend.window_buckets, self.trend.window_buckets + self.trend.baseline_buckets
        points = {shifted for key in self.keys for shifted in (key, key + window, key + span)}
        return sorted(p for p in points if (after is None or p > after) and (until is None or p <= until))


def _bar(trend: Trend, surging: bool, baseline: float) -> float:
    """What ``recent`` must reach to start surging (``surging`` False) or to stay surging (True)."""
    return max(trend.min_points, (trend.leave_ratio if surging else trend.enter_ratio) * baseline)


def _flags(trend: Trend, trend_state: TrendState, sweep: _Sweep, until: int | None) -> Iterator[tuple[int, bool]]:
    """``(bucket, flag at its end)`` at every change of the reading after the settled bucket, up to ``until``."""
    flag = trend_state.settled_flag
    for bucket in sweep.changes(trend_state.settled_bucket, until):
        recent, baseline = sweep.reading(bucket)
        flag = recent >= _bar(trend, flag, baseline)
        yield bucket, flag


def _flag_at(trend: Trend, trend_state: TrendState, sweep: _Sweep, bucket: int) -> bool:
    flag = trend_state.settled_flag
    for _, step in _flags(trend, trend_state, sweep, bucket):
        flag = step
    return flag


def _settle(model: ScoringModel, trend: Trend, trend_state: TrendState, anchor_ms: int) -> None:
    """Move the settled bucket up to the last one no event can reach (older than the lateness), and prune the
    buckets no later reading needs (older than window + baseline before it)."""
    target = (anchor_ms - model.lateness_ms) // trend.bucket_ms - 1
    if trend_state.settled_bucket is not None and target <= trend_state.settled_bucket:
        return
    trend_state.settled_flag = _flag_at(trend, trend_state, _Sweep(trend, trend_state), target)
    trend_state.settled_bucket = target
    oldest = target - trend.window_buckets - trend.baseline_buckets
    for bucket in [b for b in trend_state.gains if b <= oldest]:
        del trend_state.gains[bucket]


def _cross(
    model: ScoringModel,
    trend: Trend,
    trend_state: TrendState,
    sweep: _Sweep,
    lead_id: str,
    bucket: int,
    cause: Cause,
    cause_id: str | None,
    at_ms: int,
) -> ThresholdCrossing:
    """The crossing of the flag's change at ``bucket`` (the state's flag follows it)."""
    recent, baseline = sweep.reading(bucket)
    was = trend_state.surging
    trend_state.surging = not was
    direction = Direction.DOWN if was else Direction.UP
    return ThresholdCrossing(
        crossing_id=derived_id(
            "crossing", lead_id, model.id, model.version, trend.level, direction, cause, cause_id or at_ms
        ),
        lead_id=lead_id,
        model_id=model.id,
        model_version=model.version,
        level=trend.level,
        direction=direction,
        threshold=_bar(trend, was, baseline),
        score=recent,
        cause=cause,
        cause_event_id=cause_id,
        occurred_at_ms=at_ms,
    )
