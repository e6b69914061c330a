"""One lead's trend bookkeeping under one model (ADR 037): gains per bucket, the settled past and the flag.

Kept apart from :mod:`scoring.trend` (the arithmetic) so that :class:`scoring.modelstate.ModelState` can hold it
without an import cycle.
"""

from __future__ import annotations

import msgspec

#: Gains are kept in millionths of a point, as integers: sums are then exact, whatever the arrival order.
MICRO = 1_000_000


class TrendState(msgspec.Struct, array_like=True, dict=True):
    """A msgspec Struct inside ``ModelState.trend``: state format 2 encodes it by position (append new fields at
    the end, with a default).

    ``gains``: per aligned bucket (``at_ms // bucket_ms``), the points gained in it, in millionths. Buckets up to
    ``settled_bucket`` can no longer change (events that old are past the model's lateness): the surging flag at
    the end of that bucket is ``settled_flag``, and buckets too old to matter after it are pruned. ``surging`` is
    the flag as last reported (its crossings emitted), right at ``checked_ms``.

    Not encoded: the timeline :mod:`scoring.trend` derived from these fields, kept between calls (``dict=True``
    lets it sit beside the fields) and rebuilt when they no longer match it."""

    bucket_ms: int
    gains: dict[int, int] = msgspec.field(default_factory=dict)
    settled_bucket: int | None = None
    settled_flag: bool = False
    surging: bool = False
    checked_ms: int = 0

    def copy(self) -> TrendState:
        copied = TrendState(
            self.bucket_ms, dict(self.gains), self.settled_bucket, self.settled_flag, self.surging, self.checked_ms
        )
        copied.keep_timeline(self.kept_timeline())  # immutable: shared, and checked against the copy's fields
        return copied

    def kept_timeline(self) -> object:
        """What :meth:`keep_timeline` kept (None: nothing)."""
        return self.__dict__.get("_timeline")

    def keep_timeline(self, timeline: object) -> None:
        """Keep ``timeline`` beside the fields (not encoded, not compared)."""
        self.__dict__["_timeline"] = timeline
