"""The model file's ``account:`` section (ADR 041): how a lead maps to an account, and how its members' engagement
rolls up into an account score with fit, buying-group coverage, levels and a trend. Spec (pydantic), compiled
form and compile function; the roll-up itself is ``scoring/accounts``.

::

    account:
      from: [event, {profile: company_domain}, email_domain]   # sources of the account id, tried in order
      free_mail: free_mail        # a list of domains, or the name of one of the model's lists (default: common ones)
      member_cap: 40              # a member's engagement counts up to this
      weights: {field: seniority, values: {c-level: 1.5, manager: 1.0}, default: 1.0}
      fit: [{id: enterprise, when: {field: company_size, gte: 1000}, points: 20}]
      engagement_weight: 1.0
      fit_weight: 1.0
      buying_group: {field: seniority, roles: [c-level, vp, manager], engaged_at: 5}
      levels: [{name: sales-ready-account, enter: 80, leave: 60, coverage: 2}]
      trend: {window: 7d, baseline: 3, ratio: 1.5, min_points: 10}
      max_members: 500

Sources: ``event`` is the account id the lead's events carry (the latest one seen: an input without one keeps the
lead where its events put it), ``{profile: name}`` a profile field, ``email_domain`` the domain of the lead's
``email`` unless it is a free-mail domain. Role and weight values compare ignoring case.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from scoring.durations import parse_duration
from scoring.errors import ModelError
from scoring.model.accountmodel import (
    DEFAULT_FREE_MAIL,
    EVENT_ACCOUNT_FIELD,
    AccountFitRule,
    AccountLevel,
    AccountModel,
    AccountTrend,
    BuyingGroup,
    account_kept_fields,
    kept_fields,
)
from scoring.model.conditions import ConditionError, Lists, parse_condition
from scoring.model.routingspec import condition_fields

__all__ = [
    "DEFAULT_FREE_MAIL",
    "EVENT_ACCOUNT_FIELD",
    "AccountLevel",
    "AccountModel",
    "AccountSpec",
    "AccountTrend",
    "BuyingGroup",
    "account_kept_fields",
    "compile_account",
    "kept_fields",
]

_IDENTIFIER = r"^[A-Za-z0-9][A-Za-z0-9_.-]{0,63}$"
_Duration = Annotated[int, BeforeValidator(parse_duration)]
_Number = Annotated[float, Field(allow_inf_nan=False)]
_Weight = Annotated[float, Field(ge=0, allow_inf_nan=False)]


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class MemberWeightsSpec(_Spec):
    field: str = Field(min_length=1, max_length=128)
    values: dict[str, _Weight] = Field(default_factory=dict)
    default: _Weight = 1.0


class AccountFitSpec(_Spec):
    id: str = Field(pattern=_IDENTIFIER)
    when: object
    points: _Number
    description: str = ""


class BuyingGroupSpec(_Spec):
    field: str = Field(min_length=1, max_length=128)
    roles: list[str] = Field(min_length=1)
    engaged_at: _Number = Field(0.0, ge=0)


class AccountLevelSpec(_Spec):
    name: str = Field(pattern=_IDENTIFIER)
    enter: _Number
    leave: _Number | None = None
    coverage: int = Field(0, ge=0)

    @model_validator(mode="after")
    def _leave_not_above_enter(self) -> AccountLevelSpec:
        if self.leave is not None and self.leave > self.enter:
            raise ValueError("leave must not be above enter (hysteresis: enter at 80, leave below 60)")
        return self


class AccountTrendSpec(_Spec):
    window: _Duration = 7 * 86_400_000
    baseline: int = Field(3, ge=1, le=52)
    ratio: _Number = Field(1.5, gt=0)
    min_points: _Number = Field(10.0, ge=0)

    @model_validator(mode="after")
    def _a_window(self) -> AccountTrendSpec:
        if self.window <= 0:
            raise ValueError("window must be a duration such as 7d, not 'never'")
        return self


def _parse_source(raw: object) -> str:
    """``event``, ``email_domain`` or ``{profile: <field>}``: compiled as ``"event"``, ``"email_domain"`` or
    ``"profile:<field>"``."""
    if raw in ("event", "email_domain"):
        return str(raw)
    if isinstance(raw, dict) and set(raw) == {"profile"} and isinstance(raw["profile"], str) and raw["profile"]:
        return f"profile:{raw['profile']}"
    raise ValueError("expected one of: event, email_domain, {profile: <field name>}")


_Source = Annotated[str, BeforeValidator(_parse_source)]
_DEFAULT_SOURCES = ("event", "email_domain")


class AccountSpec(_Spec):
    """The ``account:`` section as pydantic validates it (see the module text)."""

    model_config = ConfigDict(frozen=True, extra="forbid", populate_by_name=True)

    sources: list[_Source] = Field(default_factory=lambda: list(_DEFAULT_SOURCES), alias="from", min_length=1)
    free_mail: list[str] | str | None = None
    member_cap: _Number | None = Field(None, gt=0)
    weights: MemberWeightsSpec | None = None
    fit: list[AccountFitSpec] = Field(default_factory=list)
    engagement_weight: _Weight = 1.0
    fit_weight: _Weight = 1.0
    buying_group: BuyingGroupSpec | None = None
    levels: list[AccountLevelSpec] = Field(default_factory=list)
    trend: AccountTrendSpec | None = None
    max_members: int = Field(500, ge=1, le=100_000)

    @model_validator(mode="after")
    def _consistent(self) -> AccountSpec:
        names = [level.name for level in self.levels]
        if len(set(names)) != len(names):
            raise ValueError("levels: duplicate level name")
        enters = [level.enter for level in self.levels]
        if enters != sorted(enters) or len(set(enters)) != len(enters):
            raise ValueError("levels must be listed with strictly increasing 'enter' scores")
        ids = [rule.id for rule in self.fit]
        if len(set(ids)) != len(ids):
            raise ValueError("fit: duplicate rule id")
        return self


def compile_account(spec: AccountSpec | None, lists: Lists, source: str) -> AccountModel | None:
    """The compiled section (None: the model has none); :class:`ModelError` names the file and the field."""
    if spec is None:
        return None
    where = f"{source}: account"
    if isinstance(spec.free_mail, str):
        if spec.free_mail not in lists:
            known = ", ".join(sorted(lists)) or "the model has none"
            raise ModelError(f"{where}.free_mail: no list named {spec.free_mail!r} (lists: {known})")
        free_mail = frozenset(domain.casefold() for domain in lists[spec.free_mail])
    elif spec.free_mail is not None:
        free_mail = frozenset(domain.strip().casefold() for domain in spec.free_mail)
    else:
        free_mail = DEFAULT_FREE_MAIL
    sources = tuple(spec.sources)
    if len(set(sources)) != len(sources):
        raise ModelError(f"{where}.from: a source is listed twice")
    rules = []
    for index, rule in enumerate(spec.fit):
        try:
            condition = parse_condition(rule.when, lists)
        except ConditionError as exc:
            raise ModelError(exc.at(f"{where}.fit[{index}] (id {rule.id!r}).when")) from None
        rules.append(AccountFitRule(index, rule.id, condition, rule.points, rule.description))
    group = spec.buying_group
    buying_group = None
    if group is not None:
        roles = tuple(role.strip() for role in group.roles)
        if len({role.casefold() for role in roles}) != len(roles) or not all(roles):
            raise ModelError(f"{where}.buying_group.roles: roles must be distinct and not empty")
        buying_group = BuyingGroup(group.field, roles, group.engaged_at)
    for index, level in enumerate(spec.levels):
        needed = len(buying_group.roles) if buying_group is not None else 0
        if level.coverage > needed:
            raise ModelError(
                f"{where}.levels[{index}] (name {level.name!r}).coverage: needs {level.coverage} roles engaged,"
                f" but the buying group has {needed}" + ("" if buying_group else " (add account.buying_group)")
            )
    fit_fields = frozenset().union(*(condition_fields(rule.condition) for rule in rules))
    weights = spec.weights
    member_fields = set(fit_fields)
    if weights is not None:
        member_fields.add(weights.field)
    if group is not None:
        member_fields.add(group.field)
    trend = spec.trend
    return AccountModel(
        sources=sources,
        free_mail=free_mail,
        member_cap=spec.member_cap,
        weight_field=weights.field if weights else None,
        weight_values={key.casefold(): value for key, value in weights.values.items()} if weights else {},
        weight_default=weights.default if weights else 1.0,
        fit_rules=tuple(rules),
        engagement_weight=spec.engagement_weight,
        fit_weight=spec.fit_weight,
        buying_group=buying_group,
        levels=tuple(
            AccountLevel(lv.name, lv.enter, lv.leave if lv.leave is not None else lv.enter, lv.coverage)
            for lv in spec.levels
        ),
        trend=None if trend is None else AccountTrend(trend.window, trend.baseline, trend.ratio, trend.min_points),
        max_members=spec.max_members,
        member_fields=frozenset(member_fields),
        fit_fields=fit_fields,
    )
