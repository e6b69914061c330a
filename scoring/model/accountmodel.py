"""The compiled ``account:`` section (ADR 041): the immutable :class:`AccountModel` the account engine runs, and the
profile fields a lead's state keeps for its accounts. The YAML shape and the compile function are
:mod:`scoring.model.accountspec`."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field

from scoring.model.conditions import Condition, FieldValue

DEFAULT_FREE_MAIL = frozenset(
    {
        "gmail.com", "googlemail.com", "yahoo.com", "hotmail.com", "outlook.com", "live.com", "aol.com",
        "icloud.com", "gmx.de", "gmx.net", "web.de", "proton.me", "protonmail.com", "mail.com", "yandex.ru",
    }
)  # fmt: skip
#: The key under which a lead's state keeps the latest account id its events carried (``LeadState.routing_fields``).
EVENT_ACCOUNT_FIELD = "account_id"


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
