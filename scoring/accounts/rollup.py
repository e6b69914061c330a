"""What the account engine keeps beside an account's state between calls (not encoded): per member, its terms
compiled once (weight, role, decaying terms, window expiries) and its engagement at the latest time asked; per
account model, the members' shares and engaged roles at the latest times asked, the firmographics' sources and
the time shape's counts, moved member by member as updates come instead of re-summed over every member.

Every figure is the same float the plain definition gives (``scoring.modelstate.scores_at``'s engagement, summed
with ``math.fsum``): a cached value is reused only for the same member objects, model and time, and a member's
engagement is evaluated with the same operations in the same order. A state read back, or copied, starts with
nothing kept and rebuilds it on first use (``msgspec`` ``dict=True``: the kept objects sit beside the fields).
"""

from __future__ import annotations

import bisect
import math
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass

from scoring.accounts.state import AccountMember, AccountModelState
from scoring.decay import LN2
from scoring.model.accountspec import AccountModel
from scoring.model.compile import Rule, ScoringModel
from scoring.model.conditions import FieldValue
from scoring.modelstate import RuleState, rule_value

__all__ = ["AccountValues", "MemberTerms", "Point", "Roll", "member_terms", "roll_of", "rolled"]

#: Times whose members' shares an account keeps (the latest asked).
KEPT_POINTS = 3


@dataclass(frozen=True, slots=True)
class AccountValues:
    engagement: float
    fit: float
    score: float
    coverage: tuple[str, ...]  # the buying-group roles engaged, in the file's order


_Term = tuple[float, int, int, Rule | None, RuleState | None]


class MemberTerms:
    """One member under one model: compiled from its (never changed) state copy and fields."""

    __slots__ = ("at_ms", "decaying", "engagement", "expiries", "model", "role", "terms", "weight")

    def __init__(self, model: ScoringModel, account: AccountModel, member: AccountMember) -> None:
        self.model = model
        self.weight = account.weight_of(member.fields)
        group = account.buying_group
        self.role = group.role_of(member.fields.get(group.field)) if group is not None else None
        #: (value, at_ms, half_life, None, None) per plain rule; (0, 0, 0, rule, state) per rule with a window;
        #: in the state's order. None: the model does not apply to the member (engagement 0, unclamped).
        self.terms: list[_Term] | None = None
        self.decaying: list[tuple[bool, int]] = []  # (down, half-life) per decaying term (the time shape)
        self.expiries: list[tuple[int, bool]] = []  # (window expiry, down) per windowed contribution
        self.at_ms: int | None = None
        self.engagement = 0.0
        state = member.state
        if not state.applies:
            return
        rules = model.by_id
        if state.rules:
            self.terms = []
        for rule_id, rule_state in state.rules.items():
            rule = rules.get(rule_id)
            if rule is None:
                continue
            if rule.window_ms:
                self.terms.append((0.0, 0, 0, rule, rule_state))  # type: ignore[union-attr]
            elif rule_state.value:  # a zero term adds +0.0: it never changes the sum
                self.terms.append((rule_state.value, rule_state.at_ms, rule.half_life_ms, None, None))  # type: ignore[union-attr]
            if not rule.points:
                continue
            if rule.half_life_ms and (rule_state.value or rule_state.times):
                self.decaying.append((rule.points > 0, rule.half_life_ms))
            if rule.window_ms:
                self.expiries += [(at_ms + rule.window_ms, rule.points > 0) for at_ms in rule_state.times]

    def engagement_at(self, now_ms: int) -> float:
        """``scores_at(model, state, now_ms).engagement`` (0 where the model does not apply): the same float."""
        if self.at_ms == now_ms:
            return self.engagement
        terms = self.terms
        if terms is None:
            engagement = 0.0
        else:
            engagement = 0.0
            for value, at_ms, half_life, rule, rule_state in terms:
                if rule is not None:
                    engagement += rule_value(rule, rule_state, now_ms)  # type: ignore[arg-type]
                    continue
                elapsed = now_ms - at_ms
                if elapsed and half_life:
                    value *= math.exp(-LN2 * elapsed / half_life)
                engagement += value
            engagement = self.model.engagement.clamp(engagement)
        self.at_ms, self.engagement = now_ms, engagement
        return engagement


def member_terms(model: ScoringModel, account: AccountModel, member: AccountMember) -> MemberTerms:
    kept = member.__dict__.get("_terms")
    if isinstance(kept, MemberTerms) and kept.model is model:
        return kept
    terms = member.__dict__["_terms"] = MemberTerms(model, account, member)
    return terms


class Point:
    """The members' shares (``weight * min(cap, E)``) and engaged roles at one time, and the account's values
    they give with the fit points ``fit``."""

    __slots__ = ("engaged", "fit", "shares", "values")

    def __init__(self, shares: dict[str, float], engaged: dict[str, str]) -> None:
        self.shares = shares
        self.engaged = engaged
        self.fit: dict[str, float] | None = None
        self.values: AccountValues | None = None

    def values_with(self, account: AccountModel, fit_points: dict[str, float]) -> AccountValues:
        """The account's values: ``math.fsum`` of the shares (whatever their order), fit, score, coverage."""
        if self.values is not None and self.fit == fit_points:
            return self.values
        group = account.buying_group
        engagement = math.fsum(self.shares.values())
        fit = math.fsum(fit_points.values())
        engaged = set(self.engaged.values())
        coverage = tuple(role for role in group.roles if role in engaged) if group is not None else ()
        score = account.engagement_weight * engagement + account.fit_weight * fit
        self.values, self.fit = AccountValues(engagement, fit, score, coverage), dict(fit_points)
        return self.values


class Roll:
    """What an account model's state keeps beside its fields, for the member objects it was built on."""

    __slots__ = ("account", "compiled", "decaying", "down", "found", "model", "points", "size", "source", "up")

    def __init__(self, model: ScoringModel, account: AccountModel, state: AccountModelState) -> None:
        self.model, self.account = model, account
        self.source = state.members  # the dict it follows: only the engine changes it, through ``rolled``
        self.size = len(state.members)
        self.points: dict[int, Point] = {}
        self.decaying: Counter[tuple[bool, int]] = Counter()
        self.down: list[int] = []  # window expiries of terms whose expiry lowers the engagement, sorted
        self.up: list[int] = []
        self.compiled = {member_id: member_terms(model, account, m) for member_id, m in state.members.items()}
        for terms in self.compiled.values():
            self._count(terms, 1)
        self.found: dict[str, tuple[int, str, FieldValue]] = {}
        for name in account.fit_fields:
            self._find(name, state.members)

    def valid_for(self, model: ScoringModel, state: AccountModelState) -> bool:
        """Built on ``state``'s members dict (a state read back or copied has a new one) and followed since."""
        return self.model is model and self.source is state.members and self.size == len(state.members)

    def share(self, member: AccountMember, at_ms: int) -> tuple[float, str | None]:
        """The member's share at ``at_ms`` and its role if that engages it."""
        terms = member_terms(self.model, self.account, member)
        engagement = terms.engagement_at(at_ms)
        account, group = self.account, self.account.buying_group
        role = terms.role if group is not None and engagement >= group.engaged_at and engagement > 0 else None
        if account.member_cap is not None and engagement > account.member_cap:
            engagement = account.member_cap
        return terms.weight * engagement, role

    def point(self, state: AccountModelState, at_ms: int) -> Point:
        found = self.points.pop(at_ms, None)
        if found is not None:
            self.points[at_ms] = found  # the most recently used last: probes evict the oldest
            return found
        point = self.points[at_ms] = _point(self.model, self.account, self.compiled, at_ms)
        while len(self.points) > KEPT_POINTS:
            del self.points[next(iter(self.points))]
        return point

    def fields(self) -> dict[str, FieldValue]:
        return {name: self.found[name][2] for name in sorted(self.found)}

    def _count(self, terms: MemberTerms, sign: int) -> None:
        for key in terms.decaying:
            self.decaying[key] += sign
        for expiry, down in terms.expiries:
            times = self.down if down else self.up
            if sign > 0:
                bisect.insort(times, expiry)
            else:
                del times[bisect.bisect_left(times, expiry)]

    def _find(self, name: str, members: Mapping[str, AccountMember]) -> None:
        """The member with the newest profile (``fields_at_ms``, then the greatest id) that has field ``name``."""
        best: tuple[int, str, FieldValue] | None = None
        for member_id, member in members.items():
            value = member.fields.get(name)
            if value is not None and (best is None or (member.fields_at_ms, member_id) > best[:2]):
                best = (member.fields_at_ms, member_id, value)
        if best is None:
            self.found.pop(name, None)
        else:
            self.found[name] = best

    def moved(self, state: AccountModelState, old: Mapping[str, AccountMember | None]) -> None:
        """Follow the members ``old`` names (id -> the member before, None: new) to what ``state`` has now."""
        members = state.members
        for at_ms in list(self.points)[:-1]:  # only the latest time asked (the update's) is moved along
            del self.points[at_ms]
        for member_id, before in old.items():
            after = members.get(member_id)
            if before is not None:
                self._count(member_terms(self.model, self.account, before), -1)
            self.compiled.pop(member_id, None)
            if after is not None:
                self._count(compiled := member_terms(self.model, self.account, after), 1)
                self.compiled[member_id] = compiled
            for at_ms, point in self.points.items():
                point.values = None
                point.shares.pop(member_id, None)
                point.engaged.pop(member_id, None)
                if after is not None:
                    point.shares[member_id], role = self.share(after, at_ms)
                    if role is not None:
                        point.engaged[member_id] = role
        for name in self.account.fit_fields:
            best = self.found.get(name)
            if best is not None and best[1] in old:
                member = members.get(best[1])
                value = member.fields.get(name) if member is not None else None
                if member is None or value is None or member.fields_at_ms < best[0]:
                    self._find(name, members)
                    continue
                best = self.found[name] = (member.fields_at_ms, best[1], value)
            for member_id in old:
                member = members.get(member_id)
                value = member.fields.get(name) if member is not None else None
                if (
                    member is not None
                    and value is not None
                    and (best is None or (member.fields_at_ms, member_id) > best[:2])
                ):
                    best = self.found[name] = (member.fields_at_ms, member_id, value)
        self.size = len(members)


def _point(model: ScoringModel, account: AccountModel, compiled: Mapping[str, MemberTerms], now_ms: int) -> Point:
    """Every member's share and engaged role at ``now_ms``: :meth:`MemberTerms.engagement_at` and
    :meth:`Roll.share` inlined (the hot loop), the same operations in the same order."""
    clamps = model.engagement
    floor, ceiling = clamps.floor, clamps.ceiling
    cap = account.member_cap
    group = account.buying_group
    engaged_at = group.engaged_at if group is not None else 0.0
    exp, minus_ln2 = math.exp, -LN2
    shares: dict[str, float] = {}
    engaged: dict[str, str] = {}
    for member_id, member in compiled.items():
        terms = member.terms
        engagement = 0.0
        if terms is not None:
            for value, at_ms, half_life, rule, rule_state in terms:
                if rule is not None:
                    engagement += rule_value(rule, rule_state, now_ms)  # type: ignore[arg-type]
                    continue
                elapsed = now_ms - at_ms
                if elapsed and half_life:
                    value *= exp(minus_ln2 * elapsed / half_life)
                engagement += value
            if floor is not None and engagement < floor:  # ``Clamp.clamp`` inlined
                engagement = floor
            elif ceiling is not None and engagement > ceiling:
                engagement = ceiling
        if group is not None and engagement >= engaged_at and engagement > 0 and member.role is not None:
            engaged[member_id] = member.role
        if cap is not None and engagement > cap:
            engagement = cap
        shares[member_id] = member.weight * engagement
    return Point(shares, engaged)


def roll_of(model: ScoringModel, state: AccountModelState) -> Roll:
    """What ``state`` keeps under ``model`` (which must have an account section), rebuilt when stale."""
    kept = state.__dict__.get("_roll")
    if isinstance(kept, Roll) and kept.valid_for(model, state):
        return kept
    account = model.account
    assert account is not None, "an account roll-up needs a model with an account section"
    roll = state.__dict__["_roll"] = Roll(model, account, state)
    return roll


def rolled(model: ScoringModel, state: AccountModelState, old: Mapping[str, AccountMember | None]) -> Roll:
    """After the engine changed the members ``old`` names (``roll_of`` was valid before): the roll moved along."""
    kept = state.__dict__.get("_roll")
    if not isinstance(kept, Roll) or kept.model is not model:
        return roll_of(model, state)
    kept.moved(state, old)
    return kept
