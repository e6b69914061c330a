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
reading is constant and stepping again changes nothing. That replay is swept once per change of the gains or the
settled past into a :class:`Timeline`, kept on the state (not encoded) for the several questions an event asks
(the flag now, the next change by time, the reading for the snapshot): each is then a bisection.

``surging`` in the state is the flag as last reported: a change of it is a
:class:`~scoring.outputs.ThresholdCrossing` at the event, or at the exact bucket boundary where time alone moved it
(cause DECAY), found by :func:`next_trend_change` for the decay timer.
"""

from __future__ import annotations

import bisect

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
    target = (state.anchor_ms - model.lateness_ms) // trend.bucket_ms - 1
    if trend_state.settled_bucket is None or target > trend_state.settled_bucket:
        _settle(trend, trend_state, target)


def trend_reading(model: ScoringModel, state: ModelState, now_ms: int) -> TrendReading | None:
    """The lead's trend at ``now_ms`` (None: the model has none). ``surging`` is False while the model does not
    apply to the lead."""
    trend = model.trend
    if trend is None:
        return None
    trend_state = state.trend
    if trend_state is None:
        return TrendReading(0.0, 0.0, False)
    timeline = timeline_of(trend, trend_state)
    bucket = now_ms // trend.bucket_ms
    recent, baseline = timeline.reading(bucket)
    return TrendReading(recent, baseline, state.applies and timeline.flag_at(bucket))


def surging_by_time(model: ScoringModel, state: ModelState, lead_id: str, now_ms: int) -> list[ThresholdCrossing]:
    """The crossings time alone made after the flag was last reported, up to ``now_ms``, each at its bucket
    boundary (cause DECAY); the state's flag follows them. Call only while the model applies to the lead."""
    trend, trend_state = model.trend, state.trend
    if trend is None or trend_state is None or now_ms <= trend_state.checked_ms:
        return []
    since, until = trend_state.checked_ms // trend.bucket_ms, now_ms // trend.bucket_ms
    trend_state.checked_ms = now_ms
    if until <= since:  # the same bucket as last checked: time alone changed nothing
        return []
    timeline = timeline_of(trend, trend_state)
    return [
        _cross(model, trend, trend_state, timeline, lead_id, bucket, Cause.DECAY, None, bucket * trend.bucket_ms)
        for bucket in timeline.changes_unlike(since, until, trend_state.surging)
    ]


def surging_after_input(
    model: ScoringModel, state: ModelState, lead_id: str, now_ms: int, cause: Cause, cause_id: str
) -> list[ThresholdCrossing]:
    """After an input (event, profile, retraction) changed ``state``: the crossing when the flag at ``now_ms``
    differs from the one last reported (a lead the model no longer applies to stops surging)."""
    trend, trend_state = model.trend, state.trend
    if trend is None or trend_state is None:
        return []
    bucket = now_ms // trend.bucket_ms
    timeline = timeline_of(trend, trend_state) if state.applies else None
    flag = timeline is not None and timeline.flag_at(bucket)
    trend_state.checked_ms = max(trend_state.checked_ms, now_ms)
    if flag == trend_state.surging:
        return []
    timeline = timeline or timeline_of(trend, trend_state)
    return [_cross(model, trend, trend_state, timeline, lead_id, bucket, cause, cause_id, now_ms)]


def next_trend_change(model: ScoringModel, state: ModelState, after_ms: int) -> int | None:
    """The bucket boundary at which time alone next changes the reported flag (not before ``after_ms``: one
    already due gives ``after_ms``), or None when it never does."""
    trend, trend_state = model.trend, state.trend
    if trend is None or trend_state is None:
        return None
    since = trend_state.checked_ms // trend.bucket_ms
    bucket = timeline_of(trend, trend_state).first_unlike(since, trend_state.surging)
    return None if bucket is None else max(bucket * trend.bucket_ms, after_ms)


# ---- the arithmetic -----------------------------------------------------------------------------------------


def bar(trend: Trend, surging: bool, baseline: float) -> float:
    """What ``recent`` must reach to start surging (``surging`` False) or to stay surging (True)."""
    return max(trend.min_points, (trend.leave_ratio if surging else trend.enter_ratio) * baseline)


class Timeline:
    """The reading and the flag at every bucket, from the kept gains and the settled past, swept once: the
    buckets where the reading changes (``points``: a bucket with gains, and where those leave the window and the
    baseline), the sums there, and the buckets after the settled one where the flag flips. Immutable once built;
    kept on the state by :func:`timeline_of` while its gains, settled past and trend are the ones it was built
    from (the hot path asks it several times per event, and gains change at most once per event)."""

    __slots__ = ("flips", "gains", "points", "scale", "settled_bucket", "settled_flag", "sums", "trend", "window")
    sums: list[tuple[int, int]]
    flips: list[int]

    def __init__(self, trend: Trend, trend_state: TrendState) -> None:
        self.trend, gains = trend, trend_state.gains.copy()
        self.gains, settled = gains, trend_state.settled_bucket
        self.settled_bucket, self.settled_flag = settled, trend_state.settled_flag
        self.window = window = trend.window_ms // trend.bucket_ms
        span = trend.baseline_ms // trend.bucket_ms + window
        self.scale = scale = (span - window) * MICRO
        if len(gains) == 1:
            (key,) = gains
            points = [key, key + window, key + span]
        else:
            points = sorted({*gains, *[key + window for key in gains], *[key + span for key in gains]})
        self.points = points
        self.sums = sums = []  # at each point: the gains of the window and of the baseline
        self.flips = flips = []
        get, flag = gains.get, self.settled_flag
        after = settled if settled is not None else points[0] - 1 if points else 0  # flags step after the settled
        enter, leave, minimum = trend.enter_ratio, trend.leave_ratio, trend.min_points
        recent = older = 0
        for point in points:
            leaving = get(point - window, 0)
            recent += get(point, 0) - leaving
            older += leaving - get(point - span, 0)
            sums.append((recent, older))
            if point > after:  # bar(trend, flag, baseline), inlined: the hot loop
                needed = (leave if flag else enter) * (older * window / scale)
                if (recent / MICRO >= (minimum if minimum >= needed else needed)) != flag:
                    flag = not flag
                    flips.append(point)

    def reading(self, bucket: int) -> tuple[float, float]:
        """``(recent, baseline)`` in points at ``bucket``."""
        index = bisect.bisect_right(self.points, bucket) - 1
        if index < 0:
            return 0.0, 0.0
        recent, older = self.sums[index]
        return recent / MICRO, older * self.window / self.scale

    def flag_at(self, bucket: int) -> bool:
        """The flag at the end of ``bucket`` (the settled one's, stepped at every change after it)."""
        return self.settled_flag != bool(bisect.bisect_right(self.flips, bucket) % 2)

    def _first_after(self, since: int) -> int:
        """The index in ``points`` of the first change of the reading after ``since`` and the settled bucket."""
        settled = self.settled_bucket
        return bisect.bisect_right(self.points, since if settled is None or since > settled else settled)

    def first_unlike(self, since: int, flag: bool) -> int | None:
        """The first change of the reading after ``since`` where the flag is not ``flag`` (None: there is none)."""
        points, flips = self.points, self.flips
        index = self._first_after(since)
        if index == len(points):
            return None
        first = points[index]
        flipped = bisect.bisect_right(flips, first)
        if (self.settled_flag != bool(flipped % 2)) != flag:
            return first
        return flips[flipped] if flipped < len(flips) else None

    def changes_unlike(self, since: int, until: int, flag: bool) -> list[int]:
        """The buckets in ``(since, until]`` where a flag reported as ``flag`` at ``since`` changes, stepping at
        every change of the reading."""
        points, flips = self.points, self.flips
        index = self._first_after(since)
        if index == len(points) or points[index] > until:
            return []
        first = points[index]
        flipped = bisect.bisect_right(flips, first)
        start = [first] if (self.settled_flag != bool(flipped % 2)) != flag else []
        return start + flips[flipped : bisect.bisect_right(flips, until)]


def timeline_of(trend: Trend, trend_state: TrendState) -> Timeline:
    """The :class:`Timeline` of ``trend_state`` under ``trend``: the one kept on it when it still fits, else a new
    one (then kept)."""
    kept = trend_state.kept_timeline()
    if (
        type(kept) is Timeline
        and kept.settled_bucket == trend_state.settled_bucket
        and kept.settled_flag == trend_state.settled_flag
        and kept.gains == trend_state.gains
        and (kept.trend is trend or kept.trend == trend)
    ):
        return kept
    timeline = Timeline(trend, trend_state)
    trend_state.keep_timeline(timeline)
    return timeline


def _settle(trend: Trend, trend_state: TrendState, target: int) -> None:
    """Move the settled bucket up to ``target``, the last one no event can reach (older than the lateness), and
    prune the buckets no later reading needs (older than window + baseline before it)."""
    gains = trend_state.gains
    if gains and min(gains) <= target:  # else no reading changes up to the target: the flag stays
        trend_state.settled_flag = timeline_of(trend, trend_state).flag_at(target)
    trend_state.settled_bucket = target
    oldest = target - trend.window_buckets - trend.baseline_buckets
    for bucket in [b for b in trend_state.gains if b <= oldest]:
        del trend_state.gains[bucket]


def _cross(
    model: ScoringModel,
    trend: Trend,
    trend_state: TrendState,
    timeline: Timeline,
    lead_id: str,
    bucket: int,
    cause: Cause,
    cause_id: str | None,
    at_ms: int,
) -> ThresholdCrossing:
    """The crossing of the flag's change at ``bucket`` (the state's flag follows it)."""
    recent, baseline = timeline.reading(bucket)
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
        threshold=bar(trend, was, baseline),
        score=recent,
        cause=cause,
        cause_event_id=cause_id,
        occurred_at_ms=at_ms,
    )
