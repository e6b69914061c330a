"""The structure of a model file, as pydantic validates it (field types, ranges, cross-field rules).

``scoring.model`` compiles a validated :class:`ModelSpec` into the immutable model the engine runs.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from scoring.durations import parse_duration
from scoring.model.accountspec import AccountSpec
from scoring.model.filterspec import FiltersSpec
from scoring.model.routingspec import RouteSpec
from scoring.model.trendspec import TrendSpec

_IDENTIFIER = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
Duration = Annotated[int, BeforeValidator(parse_duration)]
Number = Annotated[float, Field(allow_inf_nan=False)]


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class DimensionSpec(_Spec):
    half_life: Duration | None = None
    window: Duration | None = None
    floor: Number | None = None
    ceiling: Number | None = None

    @model_validator(mode="after")
    def _floor_below_ceiling(self) -> DimensionSpec:
        if self.floor is not None and self.ceiling is not None and self.floor > self.ceiling:
            raise ValueError("floor must not be above ceiling")
        return self


class CapSpec(_Spec):
    points: Number = Field(gt=0)
    per: Duration


class RuleSpec(_Spec):
    id: str = Field(pattern=_IDENTIFIER)
    dimension: Literal["engagement", "fit"] = "engagement"
    event: str | None = Field(None, min_length=1, max_length=64)
    when: Any = None
    points: Number
    half_life: Duration | None = None
    window: Duration | None = None
    cap: CapSpec | None = None
    once_per: Duration | None = None
    description: str = ""

    @model_validator(mode="after")
    def _dimension_fields(self) -> RuleSpec:
        if self.dimension == "engagement" and self.event is None:
            raise ValueError("an engagement rule needs 'event' (the event type it scores)")
        if self.dimension == "fit" and (self.event or self.cap or self.once_per or self.window):
            raise ValueError("a fit rule scores profile attributes: no event, cap, once_per or window")
        if self.cap is not None and self.once_per is not None:
            raise ValueError("use either cap or once_per, not both")
        if self.cap is not None and self.cap.points < abs(self.points):
            raise ValueError("cap.points is below the rule's points: the rule could never count")
        return self


class LevelSpec(_Spec):
    name: str = Field(pattern=_IDENTIFIER)
    enter: Number
    leave: Number | None = None

    @model_validator(mode="after")
    def _leave_not_above_enter(self) -> LevelSpec:
        if self.leave is not None and self.leave > self.enter:
            raise ValueError("leave must not be above enter (hysteresis: enter at 60, leave below 50)")
        return self


class GradeSpec(_Spec):
    name: str = Field(min_length=1, max_length=8)
    min: Number | None = None


class CalibrationSpec(_Spec):
    """A logistic line from score to probability, ``p = 1 / (1 + exp(-(intercept + slope * score)))``, learnt on
    the leads named by ``learnt_on`` (``leadscore fit`` writes it; ``leadscore evaluate`` checks it on the leads it
    judges). Delete it when you change points: it belongs to the points it was learnt for."""

    intercept: Number
    slope: Number
    learnt_on: str = ""


class WeightsSpec(_Spec):
    engagement: Number = Field(1.0, ge=0)
    fit: Number = Field(1.0, ge=0)


class ModelSpec(_Spec):
    """The YAML file's structure, as validated by pydantic."""

    id: str = Field(pattern=_IDENTIFIER)
    version: int = Field(ge=1)
    change_note: str = Field(min_length=1)
    description: str = ""
    author: str = ""
    reason: str = ""  # why this version: the finding, ticket or experiment behind it (the audit shows it)
    segment: Any = None
    lists: dict[str, list[str]] = Field(default_factory=dict)
    engagement: DimensionSpec = DimensionSpec(floor=0.0)
    fit: DimensionSpec = DimensionSpec()
    combined: WeightsSpec = WeightsSpec()
    grades: list[GradeSpec] = Field(
        default_factory=lambda: [
            GradeSpec(name="A", min=60),
            GradeSpec(name="B", min=30),
            GradeSpec(name="C", min=10),
            GradeSpec(name="D"),
        ]
    )
    lateness: Duration = 7 * 86_400_000
    rules: list[RuleSpec] = Field(min_length=1)
    levels: list[LevelSpec] = Field(default_factory=list)
    calibration: CalibrationSpec | None = None
    routing: list[RouteSpec] = Field(default_factory=list)  # scoring.model.routingspec (ADR 039)
    trend: TrendSpec | None = None  # engagement trend and the surging flag (scoring/model/trendspec.py)
    filters: FiltersSpec | None = None  # events to ignore: scanners' clicks, bursts, bots (ADR 036)
    account: AccountSpec | None = None  # the account roll-up (scoring/model/accountspec.py, ADR 041)

    @model_validator(mode="after")
    def _consistent(self) -> ModelSpec:
        reject_duplicates("rule id", (rule.id for rule in self.rules))
        reject_duplicates("level name", (level.name for level in self.levels))
        enters = [level.enter for level in self.levels]
        if enters != sorted(enters) or len(set(enters)) != len(enters):
            raise ValueError("levels must be listed with strictly increasing 'enter' scores")
        floors = [grade.min for grade in self.grades]
        if not floors or floors[-1] is not None or any(f is None for f in floors[:-1]):
            raise ValueError("grades: every grade but the last needs 'min'; the last catches the rest")
        bounded = [floor for floor in floors[:-1] if floor is not None]  # all of them: checked just above
        if bounded != sorted(bounded, reverse=True):
            raise ValueError("grades must be listed from the highest 'min' down")
        return self


def reject_duplicates(what: str, values: Iterable[str]) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"duplicate {what} {value!r}")
        seen.add(value)
