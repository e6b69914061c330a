"""An account's values at a time: each member's weighted, capped engagement, the account's engagement, fit, score
and buying-group coverage; and whether a level holds. Pure functions of the state and the time.

A member's engagement ``E_m(t)`` is its lead's engagement under the lead model (with the model's floor and
ceiling), from the copy of its state its latest member update carried; it counts ``weight_m * min(member_cap,
E_m(t))``. Sums use ``math.fsum`` (exactly rounded), so members' order never changes a score.
"""

from __future__ import annotations

from collections.abc import Mapping

from scoring.accounts.records import MemberShare
from scoring.accounts.rollup import AccountValues, member_terms, roll_of
from scoring.accounts.state import AccountMember, AccountModelState
from scoring.model.accountspec import AccountLevel, AccountModel
from scoring.model.compile import ScoringModel
from scoring.model.conditions import FieldValue
from scoring.modelstate import contributions_at
from scoring.outputs import Contribution

__all__ = [
    "AccountValues",
    "account_fields",
    "fit_points",
    "holds",
    "member_engagement",
    "member_record",
    "member_share",
    "moved",
    "rules_moved",
    "values_at",
]


#: Score moves smaller than this (relative) are float noise, not changes (as for leads).
EPSILON = 1e-9


def moved(before: float, after: float) -> bool:
    return abs(after - before) > EPSILON * max(1.0, abs(before), abs(after))


def member_engagement(model: ScoringModel, member: AccountMember, at_ms: int) -> float:
    """``E_m(at_ms)``: the member's engagement under the lead model (0 where the model does not apply to it):
    ``scores_at(model, member.state, at_ms).engagement``, the same float, from the member's compiled terms."""
    account = model.account
    assert account is not None, "member_engagement needs a model with an account section"
    return member_terms(model, account, member).engagement_at(at_ms)


def member_share(model: ScoringModel, account: AccountModel, member: AccountMember, at_ms: int) -> float:
    """The member's part in the account's engagement: ``weight * min(member_cap, E_m)``."""
    terms = member_terms(model, account, member)
    engagement = terms.engagement_at(at_ms)
    if account.member_cap is not None and engagement > account.member_cap:
        engagement = account.member_cap
    return terms.weight * engagement


def member_record(
    account: AccountModel, member_id: str, member: AccountMember, points: float, value: float
) -> MemberShare:
    """The :class:`MemberShare` of a member: its role (the buying group's spelling, else the raw value), weight,
    what a change moved through it (``points``) and its part now (``value``)."""
    group = account.buying_group
    raw = member.fields.get(group.field) if group is not None else None
    role = (group.role_of(raw) or str(raw)) if group is not None and raw is not None else None
    return MemberShare(member_id, role, account.weight_of(member.fields), points, value)


def fit_points(account: AccountModel, fields: Mapping[str, FieldValue]) -> dict[str, float]:
    """The account fit rules that match the account's fields: rule id -> points (fit does not decay)."""
    return {rule.id: rule.points for rule in account.fit_rules if rule.condition(fields)}


def values_at(model: ScoringModel, state: AccountModelState, at_ms: int) -> AccountValues:
    """The account's values at ``at_ms`` under ``model``'s account section (which must be set): the engagement
    ``math.fsum`` of the members' shares, fit, score and coverage (kept for the latest times asked)."""
    account = model.account
    assert account is not None, "values_at needs a model with an account section"
    return roll_of(model, state).point(state, at_ms).values_with(account, state.fit_points)


def holds(level: AccountLevel, held: bool, values: AccountValues) -> bool:
    """Whether the account is in ``level`` given its values and whether it was in it (hysteresis on the score;
    the coverage is needed to enter and to stay)."""
    if len(values.coverage) < level.coverage:
        return False
    return values.score >= level.leave if held else values.score >= level.enter


def account_fields(account: AccountModel, members: Mapping[str, AccountMember]) -> dict[str, FieldValue]:
    """The account's firmographics: per field its fit rules read, the value of the member with the newest profile
    (``fields_at_ms``, then the greatest member id) that has it. A function of the members, whatever their order."""
    found: dict[str, tuple[int, str, FieldValue]] = {}
    for member_id, member in members.items():
        for name in account.fit_fields:
            value = member.fields.get(name)
            if value is None:
                continue
            best = found.get(name)
            if best is None or (member.fields_at_ms, member_id) > best[:2]:
                found[name] = (member.fields_at_ms, member_id, value)
    return {name: found[name][2] for name in sorted(found)}


def rules_moved(
    model: ScoringModel, old: AccountMember | None, new: AccountMember | None, at_ms: int
) -> tuple[Contribution, ...]:
    """The member's engagement rules whose value moved: what each added (or took) and its value now."""
    before = contributions_at(model, old.state, at_ms) if old is not None else {}
    after = contributions_at(model, new.state, at_ms) if new is not None else {}
    engagement = {rule.id for rule in model.rules if rule.dimension == "engagement"}
    found = []
    for rule_id in sorted((set(before) | set(after)) & engagement):
        points = after.get(rule_id, 0.0) - before.get(rule_id, 0.0)
        if moved(0.0, points):
            found.append(Contribution(rule_id, points, after.get(rule_id, 0.0)))
    return tuple(found)
