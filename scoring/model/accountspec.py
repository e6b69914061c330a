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

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from scoring.durations import parse_duration
from scoring.errors import ModelError
from scoring.model.conditions import Condition, ConditionError, FieldValue, Lists, parse_condition
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

DEFAULT_FREE_MAIL = frozenset(
    {
        "gmail.com", "googlemail.com", "yahoo.com", "hotmail.com", "outlook.com", "live.com", "aol.com",
        "icloud.com", "gmx.de", "gmx.net", "web.de", "proton.me", "protonmail.com", "mail.com", "yandex.ru",
    }
)  # fmt: skip
#: The key under which a lead's state keeps the latest account id its events carried (``LeadState.routing_fields``).
EVENT_ACCOUNT_FIELD = "account_id"


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


@dataclass(frozen=True, slots=True)
class AccountFitRule:
    index: int
    id: str
    condition: Condition
    points: float
    description: str = ""


@dataclass(frozen=True, slots=True)
class BuyingGroup:
    """Roles as the file spells them; ``by_key``: casefolded member value -> that spelling."""

    field: str
    roles: tuple[str, ...]
    engaged_at: float

    def role_of(self, value: object) -> str | None:
        """The buying-group role a member's field value names (ignoring case), or None."""
        if value is None:
            return None
        key = str(value).casefold()
        return next((role for role in self.roles if role.casefold() == key), None)


@dataclass(frozen=True, slots=True)
class AccountLevel:
    name: str
    enter: float
    leave: float
    coverage: int = 0  # buying-group roles engaged needed to enter and to stay


@dataclass(frozen=True, slots=True)
class AccountTrend:
    """Gains per aligned bucket of ``window_ms``: the current bucket against the average of ``baseline`` before."""

    window_ms: int
    baseline: int
    ratio: float
    min_points: float


@dataclass(frozen=True)
class AccountModel:
    """The compiled ``account:`` section. ``sources``: ``"event"``, ``"email_domain"`` or ``"profile:<field>"``."""

    sources: tuple[str, ...]
    free_mail: frozenset[str] = DEFAULT_FREE_MAIL
    member_cap: float | None = None
    weight_field: str | None = None
    weight_values: Mapping[str, float] = field(default_factory=dict)
    weight_default: float = 1.0
    fit_rules: tuple[AccountFitRule, ...] = ()
    engagement_weight: float = 1.0
    fit_weight: float = 1.0
    buying_group: BuyingGroup | None = None
    levels: tuple[AccountLevel, ...] = ()
    trend: AccountTrend | None = None
    max_members: int = 500
    #: the member profile fields the account reads (weights, roles, fit rules), carried by member updates
    member_fields: frozenset[str] = frozenset()
    #: the fields fit rules read: the account's firmographics
    fit_fields: frozenset[str] = frozenset()

    def weight_of(self, fields: Mapping[str, object]) -> float:
        """A member's weight from its profile field (ignoring case), else the default."""
        if self.weight_field is None:
            return self.weight_default
        value = fields.get(self.weight_field)
        if value is None:
            return self.weight_default
        return self.weight_values.get(str(value).casefold(), self.weight_default)

    @property
    def profile_sources(self) -> tuple[str, ...]:
        return tuple(source.removeprefix("profile:") for source in self.sources if source.startswith("profile:"))


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


def account_kept_fields(accounts: Iterable[AccountModel | None]) -> frozenset[str]:
    """The profile fields the lead's state keeps for its accounts (``LeadState.routing_fields``): the members'
    fields, the profile sources, and ``email_domain`` for the email source."""
    kept: set[str] = set()
    for account in accounts:
        if account is not None:
            kept |= account.member_fields | set(account.profile_sources)
            if "email_domain" in account.sources:
                kept.add("email_domain")
    return frozenset(kept)


def kept_fields(
    before: Mapping[str, FieldValue], fields: Mapping[str, FieldValue], names: Iterable[str]
) -> dict[str, FieldValue]:
    """What a lead's state keeps of a new profile's ``fields``: those in ``names`` that are set, and the account id
    its events carried (:data:`EVENT_ACCOUNT_FIELD`, which no profile gives) from ``before``."""
    kept = {name: fields[name] for name in sorted(names) if fields.get(name) is not None}
    event_account = before.get(EVENT_ACCOUNT_FIELD)
    if event_account is not None:
        kept[EVENT_ACCOUNT_FIELD] = event_account
    return kept
