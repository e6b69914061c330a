"""The model file's ``routing:`` section: which route (a queue or an owner pool) a lead entering a level goes to,
and how an owner within it is picked (ADR 039). Spec (pydantic), compiled form and compile function.

::

    routing:
      - id: emea-enterprise
        level: MQL                        # route when the lead enters this level
        when: {all: [{field: attributes.region, equals: EMEA}, {field: grade, in: [A, B]}]}
        owners: [{id: anna, weight: 2}, {id: ben}]
        assign: weighted                  # round_robin (default) or weighted
        capacity: {leads: 20, per: 7d}    # per owner and aligned event-time period; full owners are skipped
        on_exit: release                  # emit a release when the lead leaves the level (default: keep)
      - id: mql-fallback                  # no `when`: the level's fallback
        level: MQL
        owners: [{id: inside-sales}]

Conditions use the model's condition language on the lead's profile fields (as fit rules see them) and the
synthetic fields ``score``, ``engagement``, ``fit``, ``grade`` and ``level`` at the crossing.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, field_validator

from scoring.durations import parse_duration
from scoring.errors import ModelError
from scoring.model.conditions import All, AnyOf, Compare, Condition, ConditionError, Lists, Not, always, parse_condition

_IDENTIFIER = r"^[A-Za-z0-9][A-Za-z0-9_.@-]{0,63}$"
#: Fields a route's condition may read that the crossing itself supplies (the rest are the lead's profile fields).
SYNTHETIC_FIELDS = frozenset({"score", "engagement", "fit", "grade", "level"})
ASSIGN_MODES = ("round_robin", "weighted")
EXIT_MODES = ("keep", "release")
Duration = Annotated[int, BeforeValidator(parse_duration)]  # as in scoring.model.spec (which imports this module)


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class OwnerSpec(_Spec):
    id: str = Field(pattern=_IDENTIFIER)
    weight: int = Field(1, ge=1)


class CapacitySpec(_Spec):
    leads: int = Field(ge=1)
    per: Duration

    @field_validator("per")
    @classmethod
    def _a_period(cls, value: int) -> int:
        if value <= 0:
            raise ValueError("a capacity counts per period: give one such as 7d, not 'never'")
        return value


class RouteSpec(_Spec):
    id: str = Field(pattern=_IDENTIFIER)
    level: str = Field(min_length=1)
    when: object = None
    owners: list[OwnerSpec] = Field(min_length=1)
    assign: str = "round_robin"
    capacity: CapacitySpec | None = None
    on_exit: str = "keep"
    description: str = ""

    @field_validator("assign")
    @classmethod
    def _known_assign(cls, value: str) -> str:
        if value not in ASSIGN_MODES:
            raise ValueError(f"expected one of: {', '.join(ASSIGN_MODES)}")
        return value

    @field_validator("on_exit")
    @classmethod
    def _known_exit(cls, value: str) -> str:
        if value not in EXIT_MODES:
            raise ValueError(f"expected one of: {', '.join(EXIT_MODES)}")
        return value

    @field_validator("owners")
    @classmethod
    def _unique_owners(cls, owners: list[OwnerSpec]) -> list[OwnerSpec]:
        ids = [owner.id for owner in owners]
        duplicate = next((owner_id for n, owner_id in enumerate(ids) if owner_id in ids[:n]), None)
        if duplicate is not None:
            raise ValueError(f"duplicate owner id {duplicate!r}")
        return owners


@dataclass(frozen=True, slots=True)
class Owner:
    id: str
    weight: int = 1


@dataclass(frozen=True, slots=True)
class Capacity:
    """At most ``leads`` assignments per owner in each aligned event-time period of ``per_ms``."""

    leads: int
    per_ms: int


@dataclass(frozen=True, slots=True)
class Route:
    """A compiled route. ``fields``: the fields its condition reads (the profile's must be kept in the lead's state)."""

    index: int
    id: str
    level: str
    owners: tuple[Owner, ...]
    condition: Condition = always
    weighted: bool = False
    capacity: Capacity | None = None
    release_on_exit: bool = False
    fields: frozenset[str] = frozenset()
    description: str = ""

    @property
    def catch_all(self) -> bool:
        """A route without ``when``: it takes every lead entering its level (the level's fallback)."""
        return self.condition is always


def condition_fields(condition: Condition) -> frozenset[str]:
    """Every field ``condition`` reads (its comparisons' ``field``, through ``all``, ``any`` and ``not``)."""
    if isinstance(condition, Compare):
        return frozenset({condition.field})
    if isinstance(condition, All | AnyOf):
        return frozenset().union(*(condition_fields(part) for part in condition.parts))
    if isinstance(condition, Not):
        return condition_fields(condition.part)
    return frozenset()


def kept_profile_fields(routes: Iterable[Route]) -> frozenset[str]:
    """The profile fields ``routes`` read: the ones a lead's state keeps from its latest profile."""
    return frozenset().union(*(route.fields for route in routes)) - SYNTHETIC_FIELDS


def compile_routing(specs: Sequence[RouteSpec], levels: Sequence[str], lists: Lists, source: str) -> tuple[Route, ...]:
    """Compile the ``routing:`` section; raise :class:`ModelError` naming the file, the route and the field."""
    routes: list[Route] = []
    seen: set[str] = set()
    for index, spec in enumerate(specs):
        where = f"{source}: routing[{index}] (id {spec.id!r})"
        if spec.id in seen:
            raise ModelError(f"{where}.id: duplicate route id {spec.id!r}")
        seen.add(spec.id)
        if spec.level not in levels:
            known = ", ".join(levels) or "the model has none"
            raise ModelError(f"{where}.level: no level named {spec.level!r} (levels: {known})")
        shadowing = next((r for r in routes if r.level == spec.level and r.catch_all), None)
        if shadowing is not None:
            raise ModelError(
                f"{where}: can never match: routing[{shadowing.index}] (id {shadowing.id!r}) before it has no "
                f"'when' and takes every lead entering {spec.level}; move the fallback last"
            )
        condition = always if spec.when is None else _condition(spec.when, lists, f"{where}.when")
        routes.append(
            Route(
                index=index,
                id=spec.id,
                level=spec.level,
                owners=tuple(Owner(owner.id, owner.weight) for owner in spec.owners),
                condition=condition,
                weighted=spec.assign == "weighted",
                capacity=None if spec.capacity is None else Capacity(spec.capacity.leads, spec.capacity.per),
                release_on_exit=spec.on_exit == "release",
                fields=condition_fields(condition),
                description=spec.description,
            )
        )
    return tuple(routes)


def _condition(raw: object, lists: Lists, where: str) -> Condition:
    try:
        return parse_condition(raw, lists)
    except ConditionError as exc:
        raise ModelError(exc.at(where)) from None
