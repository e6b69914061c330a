"""Scoring model files: YAML in, validated immutable models out.

A model names itself (``id``), carries a ``version`` and a ``change_note`` so that every score can say which
model version produced it, lists its ``rules`` (points per event type) and its ``levels`` (named thresholds such
as MQL). Validation errors name the file, the rule and the field: ``b2b.yaml: rules[3] (id 'demo').points:
expected a number``.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from scoring.errors import ModelError

_IDENTIFIER = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"


class _Frozen(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid", strict=False)


class Rule(_Frozen):
    """Points given when a lead does ``event``."""

    id: str = Field(pattern=_IDENTIFIER)
    event: str = Field(min_length=1, max_length=64)
    points: float = Field(allow_inf_nan=False)
    description: str = ""


class Level(_Frozen):
    """A named threshold: a lead whose score is at least ``enter`` is at this level."""

    name: str = Field(pattern=_IDENTIFIER)
    enter: float = Field(allow_inf_nan=False)


class ScoringModel(_Frozen):
    """One scoring model, as read from one YAML file."""

    id: str = Field(pattern=_IDENTIFIER)
    version: int = Field(ge=1)
    change_note: str = Field(min_length=1)
    description: str = ""
    rules: tuple[Rule, ...] = Field(min_length=1)
    levels: tuple[Level, ...] = ()

    @field_validator("rules")
    @classmethod
    def _unique_rule_ids(cls, rules: tuple[Rule, ...]) -> tuple[Rule, ...]:
        _reject_duplicates("rule id", (rule.id for rule in rules))
        return rules

    @model_validator(mode="after")
    def _levels_ascend(self) -> ScoringModel:
        _reject_duplicates("level name", (level.name for level in self.levels))
        enters = [level.enter for level in self.levels]
        if enters != sorted(enters) or len(set(enters)) != len(enters):
            raise ValueError("levels must be listed with strictly increasing 'enter' scores")
        return self

    @property
    def event_types(self) -> frozenset[str]:
        """Every event type that some rule of this model scores."""
        return frozenset(rule.event for rule in self.rules)

    def rules_for(self, event_type: str) -> tuple[Rule, ...]:
        """The rules that score an event of ``event_type``, in file order."""
        return tuple(rule for rule in self.rules if rule.event == event_type)


def _reject_duplicates(what: str, values: Iterable[str]) -> None:
    seen: set[str] = set()
    for value in values:
        if value in seen:
            raise ValueError(f"duplicate {what} {value!r}")
        seen.add(value)


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
}


def _location(loc: Sequence[int | str], raw: Any) -> str:
    """Render a pydantic location as ``rules[3] (id 'demo').points``, naming the rule when it has an id."""
    text = ""
    node = raw
    for part in loc:
        if isinstance(part, int):
            text += f"[{part}]"
            node = node[part] if isinstance(node, list) and part < len(node) else None
            if isinstance(node, dict) and "id" in node:
                text += f" (id {node['id']!r})"
        else:
            text += f".{part}" if text else part
            node = node.get(part) if isinstance(node, dict) else None
    return text or "(top level)"


def _describe(error: ValidationError, raw: Any, source: str) -> str:
    first = error.errors()[0]
    message = _FRIENDLY.get(first["type"], first["msg"].removeprefix("Value error, "))
    return f"{source}: {_location(first['loc'], raw)}: {message}"


def parse_model(raw: Any, source: str = "<model>") -> ScoringModel:
    """Validate already-parsed YAML data. Raises :class:`ModelError` naming ``source`` and the field."""
    if not isinstance(raw, dict):
        raise ModelError(f"{source}: expected a mapping with id, version, change_note, rules")
    try:
        return ScoringModel.model_validate(raw)
    except ValidationError as exc:
        raise ModelError(_describe(exc, raw, source)) from None


def load_model(path: Path) -> ScoringModel:
    """Read and validate one model file."""
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise ModelError(f"{path}: cannot read model file: {exc.strerror}") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}" if mark is not None else ""
        raise ModelError(f"{path}: not valid YAML{where}") from None
    return parse_model(raw, source=path.name)


def load_models(paths: Iterable[Path]) -> tuple[ScoringModel, ...]:
    """Load several model files; model ids must be unique across them."""
    models = tuple(load_model(path) for path in paths)
    if not models:
        raise ModelError("no model files given: set LEADSCORE_MODEL_PATHS or pass a model file")
    try:
        _reject_duplicates("model id", (model.id for model in models))
    except ValueError as exc:
        raise ModelError(str(exc)) from None
    return models
