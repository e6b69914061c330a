"""Scoring model files: YAML in, validated and compiled immutable models out.

A model names itself (``id``), carries a ``version`` and a ``change_note`` so that every score says which model
version produced it. It has two dimensions: **engagement** (rules on behavioural events) and **fit** (rules on
profile attributes), each with an optional half-life, time-frame window, floor and ceiling; fit grades; levels
with hysteresis; named lists; and an optional segment condition that selects the leads it applies to.
Errors name the file, the rule and the field: ``b2b.yaml: rules[3] (id 'demo').points: expected a number``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from pydantic import ValidationError

from scoring.errors import ModelError
from scoring.model.accountspec import AccountModel, compile_account
from scoring.model.conditions import Condition, ConditionError, Lists, always, parse_condition
from scoring.model.filterspec import Filters, compile_filters
from scoring.model.routingspec import Route, compile_routing
from scoring.model.spec import ModelSpec, reject_duplicates
from scoring.model.trendspec import Trend, compile_trend
from scoring.model.yamlfile import describe_validation_error, read_yaml_file


@dataclass(frozen=True, slots=True)
class Rule:
    """A compiled rule. Durations in ms; 0 means none (no decay, no window, no cap)."""

    index: int
    id: str
    dimension: str
    event: str | None
    points: float
    condition: Condition = always
    half_life_ms: int = 0
    window_ms: int = 0
    cap_count: int = 0
    cap_per_ms: int = 0
    description: str = ""


@dataclass(frozen=True, slots=True)
class Dimension:
    floor: float | None = None
    ceiling: float | None = None

    def clamp(self, value: float) -> float:
        if self.floor is not None and value < self.floor:
            return self.floor
        if self.ceiling is not None and value > self.ceiling:
            return self.ceiling
        return value


@dataclass(frozen=True, slots=True)
class Level:
    name: str
    enter: float
    leave: float


@dataclass(frozen=True, slots=True)
class Grade:
    name: str
    min: float | None


@dataclass(frozen=True, slots=True)
class CalibrationLine:
    """The model file's ``calibration``: score to probability, learnt on ``learnt_on`` (see ``CalibrationSpec``)."""

    intercept: float
    slope: float
    learnt_on: str = ""


@dataclass(frozen=True)
class ScoringModel:
    id: str
    version: int
    change_note: str
    rules: tuple[Rule, ...]
    levels: tuple[Level, ...] = ()
    engagement: Dimension = Dimension(floor=0.0)
    fit: Dimension = Dimension()
    engagement_weight: float = 1.0
    fit_weight: float = 1.0
    grades: tuple[Grade, ...] = (Grade("A", 60), Grade("B", 30), Grade("C", 10), Grade("D", None))
    segment: Condition | None = None
    lateness_ms: int = 7 * 86_400_000
    description: str = ""
    author: str = ""
    reason: str = ""
    content_sha256: str = ""  # of the file it was loaded from (empty when parsed from data)
    calibration: CalibrationLine | None = None  # the engine never reads it; evaluation does
    routing: tuple[Route, ...] = ()  # who a lead entering a level goes to (scoring.model.routingspec, ADR 039)
    trend: Trend | None = None  # engagement trend and the surging flag (scoring/trend.py)
    filters: Filters | None = None  # events the engine ignores (scoring/filters.py); None: none
    account: AccountModel | None = None  # the account roll-up (scoring/accounts, ADR 041); None: none
    _by_event: Mapping[str, tuple[Rule, ...]] = field(default_factory=dict, repr=False)

    def __post_init__(self) -> None:
        by_event: dict[str, list[Rule]] = {}
        for rule in self.rules:
            if rule.event is not None:
                by_event.setdefault(rule.event, []).append(rule)
        object.__setattr__(self, "_by_event", {key: tuple(value) for key, value in by_event.items()})
        object.__setattr__(self, "fit_rules", tuple(r for r in self.rules if r.dimension == "fit"))
        object.__setattr__(self, "by_id", {rule.id: rule for rule in self.rules})

    fit_rules: tuple[Rule, ...] = ()
    by_id: Mapping[str, Rule] = field(default_factory=dict, repr=False)

    @property
    def event_types(self) -> frozenset[str]:
        """Every event type that some rule of this model scores, or that its filters name."""
        return frozenset(self._by_event) | (self.filters.event_types if self.filters is not None else frozenset())

    def rules_for(self, event_type: str) -> tuple[Rule, ...]:
        """The engagement rules that score an event of ``event_type``, in file order."""
        return self._by_event.get(event_type, ())

    def grade_for(self, fit: float) -> str:
        for grade in self.grades:
            if grade.min is None or fit >= grade.min:
                return grade.name
        return self.grades[-1].name


def compile_model(spec: ModelSpec, source: str) -> ScoringModel:
    lists: Lists = {name: frozenset(items) for name, items in spec.lists.items()}
    rules = []
    for index, rule in enumerate(spec.rules):
        where = f"{source}: rules[{index}] (id {rule.id!r}).when"
        dimension = spec.engagement if rule.dimension == "engagement" else spec.fit
        half_life = rule.half_life if rule.half_life is not None else (dimension.half_life or 0)
        window = rule.window if rule.window is not None else (dimension.window or 0)
        cap_count, cap_per = 0, 0
        if rule.cap is not None:
            cap_count, cap_per = int(rule.cap.points // abs(rule.points)) if rule.points else 1, rule.cap.per
        elif rule.once_per is not None:
            cap_count, cap_per = 1, rule.once_per
        rules.append(
            Rule(
                index,
                rule.id,
                rule.dimension,
                rule.event,
                rule.points,
                _condition(rule.when, lists, where) if rule.when is not None else always,
                half_life,
                window,
                cap_count,
                cap_per,
                rule.description,
            )
        )
    levels = tuple(Level(lv.name, lv.enter, lv.leave if lv.leave is not None else lv.enter) for lv in spec.levels)
    return ScoringModel(
        id=spec.id,
        version=spec.version,
        change_note=spec.change_note,
        rules=tuple(rules),
        levels=levels,
        engagement=Dimension(spec.engagement.floor, spec.engagement.ceiling),
        fit=Dimension(spec.fit.floor, spec.fit.ceiling),
        engagement_weight=spec.combined.engagement,
        fit_weight=spec.combined.fit,
        grades=tuple(Grade(g.name, g.min) for g in spec.grades),
        segment=_condition(spec.segment, lists, f"{source}: segment") if spec.segment is not None else None,
        lateness_ms=spec.lateness,
        description=spec.description,
        author=spec.author,
        reason=spec.reason,
        calibration=None
        if spec.calibration is None
        else CalibrationLine(spec.calibration.intercept, spec.calibration.slope, spec.calibration.learnt_on),
        routing=compile_routing(spec.routing, [level.name for level in levels], lists, source),
        trend=compile_trend(spec.trend, frozenset(level.name for level in levels), source),
        filters=compile_filters(spec.filters, lists, source),
        account=compile_account(spec.account, lists, source),
    )


def _condition(raw: Any, lists: Lists, where: str) -> Condition:
    try:
        return parse_condition(raw, lists)
    except ConditionError as exc:
        raise ModelError(exc.at(where)) from None


_FRIENDLY = {
    "float_parsing": "expected a number",
    "float_type": "expected a number",
    "finite_number": "expected a finite number",
    "int_parsing": "expected a whole number",
    "int_type": "expected a whole number",
    "int_from_float": "expected a whole number",
    "string_type": "expected text",
    "missing": "required field is missing",
    "extra_forbidden": "unknown field (check the spelling)",
    "too_short": "must not be empty",
    "string_pattern_mismatch": "must be letters, digits, '_', '.' or '-' (at most 64)",
    "literal_error": "expected one of: engagement, fit",
    "greater_than": "must be above 0",
    "greater_than_equal": "must be at least 1",
}


def parse_model(raw: Any, source: str = "<model>") -> ScoringModel:
    """Validate and compile already-parsed YAML data. Raises :class:`ModelError` naming ``source`` and the field."""
    if not isinstance(raw, dict):
        raise ModelError(f"{source}: expected a mapping with id, version, change_note, rules")
    try:
        spec = ModelSpec.model_validate(raw)
    except ValidationError as exc:
        raise ModelError(describe_validation_error(exc, raw, source, _FRIENDLY)) from None
    return compile_model(spec, source)


def load_model(path: Path) -> ScoringModel:
    """Read, validate and compile one model file."""
    content, raw = read_yaml_file(path, "model file", ModelError)
    return replace(parse_model(raw, source=path.name), content_sha256=hashlib.sha256(content).hexdigest())


def load_models(paths: Iterable[Path]) -> tuple[ScoringModel, ...]:
    """Load several model files; model ids must be unique across them."""
    models = tuple(load_model(path) for path in paths)
    if not models:
        raise ModelError("no model files given: set LEADSCORE_MODEL_PATHS or pass a model file")
    try:
        reject_duplicates("model id", (model.id for model in models))
    except ValueError as exc:
        raise ModelError(str(exc)) from None
    return models
