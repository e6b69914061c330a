"""The account engine: member updates in, the account's new state and its explained outputs out. Pure and
deterministic, exact in event time like the lead engine (ADR 041).

An update is applied at the account's time, ``max(latest update applied, the update's occurred_at_ms)``. Crossings
that time alone made before it come first, at their own exact times (cause DECAY). Output ids derive from their
cause. The final state and snapshots do not depend on the order of different members' updates; the changes and
crossings reported on the way do (they follow the internal topic's order).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from scoring.accounts.crossing import time_shape, transition_time
from scoring.accounts.records import (
    AccountCause,
    AccountChange,
    AccountCrossing,
    AccountSnapshot,
    MemberShare,
    MemberUpdate,
)
from scoring.accounts.state import AccountMember, AccountModelState, AccountState
from scoring.accounts.trend import record_gain, trend_reading
from scoring.accounts.values import (
    AccountValues,
    account_fields,
    fit_points,
    holds,
    member_record,
    member_share,
    moved,
    rules_moved,
    values_at,
)
from scoring.model.accountspec import AccountLevel, AccountModel
from scoring.model.compile import ScoringModel
from scoring.modelstate import ModelState
from scoring.outputs import Direction, derived_id

__all__ = ["AccountEngine", "AccountUpdate"]


@dataclass(frozen=True, slots=True)
class AccountUpdate:
    """The account's new state and what to emit. ``duplicate``: the member update was applied before (or older
    than what the account has of that member); nothing changed."""

    state: AccountState
    changes: tuple[AccountChange, ...] = ()
    crossings: tuple[AccountCrossing, ...] = ()
    duplicate: bool = False


@dataclass
class _Out:
    changes: list[AccountChange] = field(default_factory=list)
    crossings: list[AccountCrossing] = field(default_factory=list)

    def update(self, state: AccountState, duplicate: bool = False) -> AccountUpdate:
        return AccountUpdate(state, tuple(self.changes), tuple(self.crossings), duplicate)


def _not_newer(update: MemberUpdate, state: ModelState, stored: AccountMember) -> bool:
    return (
        state.events_scored <= stored.state.events_scored
        and state.fit_at_ms <= stored.state.fit_at_ms
        and update.fields_at_ms <= stored.fields_at_ms
    )


def _account(model: ScoringModel) -> AccountModel:
    account = model.account
    assert account is not None, "the account engine keeps only models with an account section"
    return account


class AccountEngine:
    """Rolls members up into accounts under every model with an ``account:`` section. Build once per process;
    every method is pure but for changing the given state in place."""

    def __init__(self, models: Sequence[ScoringModel]) -> None:
        self.models = tuple(model for model in models if model.account is not None)
        self._by_id = {model.id: model for model in self.models}

    def apply(self, state: AccountState | None, update: MemberUpdate) -> AccountUpdate:
        """Apply one member update to ``state`` in place (a new state when None). An update for a model without an
        account section (a reload removed it) changes nothing."""
        account = state if state is not None else AccountState(update.account_id)
        model = self._by_id.get(update.model_id)
        if model is None:
            return AccountUpdate(account, duplicate=True)
        out = _Out()
        model_state = account.models.get(model.id)
        if model_state is None:
            model_state = AccountModelState(model.version, levels_at_ms=update.occurred_at_ms)
        stored = model_state.members.get(update.member_id)
        member_state = update.state
        if (member_state is None and stored is None) or (
            member_state is not None and stored is not None and _not_newer(update, member_state, stored)
        ):
            return out.update(account, duplicate=True)
        account.models[model.id] = model_state
        self._member(model, account.account_id, model_state, update, stored, out)
        return out.update(account)

    def _member(
        self,
        model: ScoringModel,
        account_id: str,
        state: AccountModelState,
        update: MemberUpdate,
        stored: AccountMember | None,
        out: _Out,
    ) -> None:
        spec = _account(model)
        member_id, at_ms = update.member_id, update.occurred_at_ms
        now = max(state.anchor_ms, at_ms)
        self._decay(model, account_id, state, now, out)
        before = values_at(model, state, now)
        old_now = member_share(model, spec, stored, now) if stored is not None else 0.0
        old_at = member_share(model, spec, stored, at_ms) if stored is not None else 0.0
        new: AccountMember | None = None
        if update.state is None:
            del state.members[member_id]
        else:
            new = state.members[member_id] = AccountMember(
                update.state,
                dict(update.fields),
                update.fields_at_ms,
                max(at_ms, stored.updated_at_ms if stored else 0),
            )
        shares: list[MemberShare] = []
        while len(state.members) > spec.max_members:  # the least recently active leave (ties: the smallest id)
            evicted_id = min(state.members, key=lambda m: (state.members[m].updated_at_ms, m))
            evicted = state.members.pop(evicted_id)
            if evicted_id == member_id:
                new = None
            else:
                shares.append(member_record(spec, evicted_id, evicted, -member_share(model, spec, evicted, now), 0.0))
        state.model_version = model.version
        state.fields = account_fields(spec, state.members)
        state.fit_points = fit_points(spec, state.fields)
        after = values_at(model, state, now)
        state.score, state.anchor_ms = after.score, now
        self._levels(model, account_id, state, after, AccountCause.MEMBER, update, now, out)
        state.levels_at_ms = max(state.levels_at_ms, now)
        new_now = member_share(model, spec, new, now) if new is not None else 0.0
        if spec.trend is not None:
            gained = (member_share(model, spec, new, at_ms) if new is not None else 0.0) - old_at
            record_gain(spec.trend, state, at_ms, gained)
        if not moved(before.score, after.score) and before.coverage == after.coverage:
            return
        source = new if new is not None else stored
        if source is not None:
            shares.insert(0, member_record(spec, member_id, source, new_now - old_now, new_now))
        out.changes.append(
            AccountChange(
                change_id=derived_id(
                    "account", account_id, model.id, model.version, update.cause, update.cause_id, member_id
                ),
                account_id=account_id,
                model_id=model.id,
                model_version=model.version,
                previous_score=before.score,
                score=after.score,
                engagement=after.engagement,
                fit=after.fit,
                coverage=after.coverage,
                level=state.levels[-1] if state.levels else None,
                cause=AccountCause.MEMBER,
                member_cause=update.cause,
                cause_id=update.cause_id,
                occurred_at_ms=now,
                members=tuple(shares),
                rules=rules_moved(model, stored, new, now),
            )
        )

    def _levels(
        self,
        model: ScoringModel,
        account_id: str,
        state: AccountModelState,
        values: AccountValues,
        cause: AccountCause,
        update: MemberUpdate | None,
        at_ms: int,
        out: _Out,
    ) -> None:
        levels = _account(model).levels
        entered = [lv for lv in levels if lv.name not in state.levels and holds(lv, False, values)]
        left = [lv for lv in reversed(levels) if lv.name in state.levels and not holds(lv, True, values)]
        for level in entered:
            state.levels.append(level.name)
            out.crossings.append(self._cross(model, account_id, level, Direction.UP, values, cause, update, at_ms))
        for level in left:
            state.levels.remove(level.name)
            out.crossings.append(self._cross(model, account_id, level, Direction.DOWN, values, cause, update, at_ms))
        if len(state.levels) > 1:
            order = [lv.name for lv in levels]
            state.levels.sort(key=order.index)

    @staticmethod
    def _cross(
        model: ScoringModel,
        account_id: str,
        level: AccountLevel,
        direction: Direction,
        values: AccountValues,
        cause: AccountCause,
        update: MemberUpdate | None,
        at_ms: int,
    ) -> AccountCrossing:
        parts: tuple[object, ...] = ("account-crossing", account_id, model.id, level.name, direction, at_ms)
        if update is not None:  # several member updates may be applied at one account time
            parts += (update.member_id, update.cause_id)
        return AccountCrossing(
            crossing_id=derived_id(*parts),
            account_id=account_id,
            model_id=model.id,
            model_version=model.version,
            level=level.name,
            direction=direction,
            threshold=level.enter if direction is Direction.UP else level.leave,
            score=values.score,
            coverage=values.coverage,
            cause=cause,
            cause_id=update.cause_id if update is not None else None,
            occurred_at_ms=at_ms,
        )

    def _decay(self, model: ScoringModel, account_id: str, state: AccountModelState, until_ms: int, out: _Out) -> None:
        """Levels left (or entered) through time alone up to ``until_ms``, each at the exact time it happened."""
        since = state.levels_at_ms
        levels = _account(model).levels
        if until_ms > since and levels and state.members:
            while True:
                shape = time_shape(model, state, since)
                if len(shape.directions) <= 1:  # monotone: a level crossed by then is still crossed at until_ms
                    at_end = values_at(model, state, until_ms)
                    if all(holds(lv, lv.name in state.levels, at_end) == (lv.name in state.levels) for lv in levels):
                        break
                due = [
                    (at, lv)
                    for lv in levels
                    if (at := transition_time(model, state, lv, since, until_ms, shape)) is not None
                ]
                if not due:
                    break
                since, _ = min(due, key=lambda item: (item[0], item[1].enter))
                values = values_at(model, state, since)
                self._levels(model, account_id, state, values, AccountCause.DECAY, None, since, out)
        state.levels_at_ms = max(state.levels_at_ms, until_ms)

    def advance(self, state: AccountState, now_ms: int) -> AccountUpdate:
        """Crossings caused by time alone up to ``now_ms``, each at its exact time; changes ``state`` in place."""
        out = _Out()
        for model in self.models:
            model_state = state.models.get(model.id)
            if model_state is not None:
                self._decay(model, state.account_id, model_state, now_ms, out)
        return out.update(state)

    def next_due(self, state: AccountState, now_ms: int) -> int | None:
        """The earliest time (from ``now_ms`` on) at which time alone would move the account across a level."""
        times = []
        for model in self.models:
            model_state = state.models.get(model.id)
            if model_state is None or not model_state.members:
                continue
            after = max(now_ms, model_state.levels_at_ms)
            shape = time_shape(model, model_state, after)
            for level in _account(model).levels:
                at = transition_time(model, model_state, level, after, shape=shape)
                if at is not None:
                    times.append(at)
        return min(times, default=None)

    def snapshot(self, state: AccountState, now_ms: int, top: int = 5) -> tuple[AccountSnapshot, ...]:
        """Each account model's scores for the account at ``now_ms`` (at least its latest update's time), with
        its top members by value and, per level held, when time alone takes it out if nothing else happens."""
        snapshots = []
        for model in self.models:
            spec = _account(model)
            model_state = state.models.get(model.id) or AccountModelState(model.version)
            at = max(now_ms, model_state.anchor_ms)
            values = values_at(model, model_state, at)
            ranked = sorted(
                (
                    (member_share(model, spec, member, at), member_id)
                    for member_id, member in model_state.members.items()
                ),
                key=lambda item: (-item[0], item[1]),
            )[:top]
            members = model_state.members
            after = max(at, model_state.levels_at_ms)
            shape = time_shape(model, model_state, after)
            drops = tuple(
                (level.name, transition_time(model, model_state, level, after, shape=shape))
                for level in spec.levels
                if level.name in model_state.levels
            )
            group = spec.buying_group
            snapshots.append(
                AccountSnapshot(
                    account_id=state.account_id,
                    model_id=model.id,
                    model_version=model.version,
                    score=values.score,
                    engagement=values.engagement,
                    fit=values.fit,
                    levels=tuple(model_state.levels),
                    coverage=values.coverage,
                    missing_roles=tuple(r for r in group.roles if r not in values.coverage) if group else (),
                    member_count=len(members),
                    top_members=tuple(member_record(spec, m, members[m], 0.0, value) for value, m in ranked),
                    trend=None if spec.trend is None else trend_reading(spec.trend, model_state, at),
                    drops=drops,
                )
            )
        return tuple(snapshots)
