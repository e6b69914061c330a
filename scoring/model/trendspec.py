"""The model file's ``trend:`` section (ADR 037): its YAML shape, its compiled form, and the compile step.

``trend: {window: 7d, baseline: 28d, bucket: 1d, enter_ratio: 2.0, leave_ratio: 1.2, min_points: 10, level: surging}``

- *recent*: the engagement points a lead gained (rule points of counted events, undecayed; negative rules subtract)
  in the ``window`` ending now; *baseline*: its average gain per ``window`` over the ``baseline`` before that.
- A lead starts surging when ``recent >= min_points`` and ``recent >= enter_ratio * baseline``; it stays surging
  while ``recent >= min_points`` and ``recent >= leave_ratio * baseline`` (hysteresis: ``leave_ratio`` is at most
  ``enter_ratio``). A lead without history has baseline 0: it surges once it gains ``min_points`` in a window.
- Time is counted in aligned buckets of ``bucket`` (``window`` and ``baseline`` are whole numbers of buckets): the
  window is the current bucket and the ones before it, so a gain leaves it at a bucket boundary. Exact at bucket
  granularity: the trend only changes at events and at bucket boundaries.
- Crossings go to the lead-thresholds topic as ``ThresholdCrossed`` with ``level`` named by ``level``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from scoring.durations import format_duration, parse_duration
from scoring.errors import ModelError

__all__ = ["Trend", "TrendSpec", "compile_trend"]

_Duration = Annotated[int, BeforeValidator(parse_duration)]
_Ratio = Annotated[float, Field(gt=0, allow_inf_nan=False)]


class TrendSpec(BaseModel):
    """The ``trend:`` section as pydantic validates it (see the module text)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    window: _Duration = 7 * 86_400_000
    baseline: _Duration = 28 * 86_400_000
    bucket: _Duration = 86_400_000
    enter_ratio: _Ratio = 2.0
    leave_ratio: _Ratio = 1.2
    min_points: _Ratio = 10.0
    level: str = Field("surging", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$")

    @model_validator(mode="after")
    def _consistent(self) -> TrendSpec:
        if not (self.window and self.baseline and self.bucket):
            raise ValueError("window, baseline and bucket must be durations, not 'never'")
        for name, value in (("window", self.window), ("baseline", self.baseline)):
            if value % self.bucket:
                raise ValueError(
                    f"{name} ({format_duration(value)}) must be a whole number of buckets"
                    f" ({format_duration(self.bucket)} each)"
                )
        if self.leave_ratio > self.enter_ratio:
            raise ValueError("leave_ratio must not be above enter_ratio (hysteresis: enter at 2.0, leave below 1.2)")
        return self


@dataclass(frozen=True, slots=True)
class Trend:
    """The compiled ``trend:`` section. Durations in ms; ``window_buckets`` and ``baseline_buckets`` count buckets."""

    window_ms: int
    baseline_ms: int
    bucket_ms: int
    enter_ratio: float
    leave_ratio: float
    min_points: float
    level: str = "surging"

    @property
    def window_buckets(self) -> int:
        return self.window_ms // self.bucket_ms

    @property
    def baseline_buckets(self) -> int:
        return self.baseline_ms // self.bucket_ms


def compile_trend(spec: TrendSpec | None, level_names: frozenset[str], source: str) -> Trend | None:
    """The compiled trend (None: the model has none). Its ``level`` must not be one of the model's levels: the
    crossings of both share the lead-thresholds topic and are told apart by that name."""
    if spec is None:
        return None
    if spec.level in level_names:
        raise ModelError(
            f"{source}: trend.level: {spec.level!r} is also the name of one of the model's levels; give the trend"
            " another (the default is 'surging')"
        )
    return Trend(
        spec.window, spec.baseline, spec.bucket, spec.enter_ratio, spec.leave_ratio, spec.min_points, spec.level
    )
