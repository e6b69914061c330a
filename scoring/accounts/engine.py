"""The account engine: member updates in, the account's new state and its explained outputs out. Pure and
deterministic, exact in event time like the lead engine (ADR 041).

An update is applied at the account's time, ``max(latest update applied, the update's occurred_at_ms)``. Crossings
that time alone made before it come first, at their own exact times (cause DECAY). Output ids derive from their
cause. The final state and snapshots do not depend on the order of different members' updates; the changes and
crossings reported on the way do (they follow the internal topic's order).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from scoring.accounts.book import Out, account_of_model, decay_levels, set_levels
from scoring.accounts.crossing import time_shape, transition_time
from scoring.accounts.records import (
    AccountCause,
    AccountChange,
    AccountCrossing,
    AccountSnapshot,
    MemberShare,
    MemberUpdate,
)
from scoring.accounts.rollup import roll_of, rolled
from scoring.accounts.snapshot import model_snapshot
from scoring.accounts.state import AccountMember, AccountModelState, AccountState
from scoring.accounts.trend import record_gain
from scoring.accounts.values import fit_points, member_record, member_share, moved, rules_moved
from scoring.model.compile import ScoringModel
from scoring.modelstate import ModelState
from scoring.outputs import derived_id

__all__ = ["AccountEngine", "AccountUpdate"]


@dataclass(frozen=True, slots=True)
class AccountUpdate:
    """The account's new state and what to emit. ``duplicate``: the member update was applied before (or older
    than what the account has of that member); nothing changed."""

    state: AccountState
    changes: tuple[AccountChange, ...] = ()
    crossings: tuple[AccountCrossing, ...] = ()
    duplicate: bool = False


def _done(state: AccountState, out: Out, duplicate: bool = False) -> AccountUpdate:
    return AccountUpdate(state, tuple(out.changes), tuple(out.crossings), duplicate)


def _not_newer(update: MemberUpdate, state: ModelState, stored: AccountMember) -> bool:
    return (
        state.events_scored <= stored.state.events_scored
        and state.fit_at_ms <= stored.state.fit_at_ms
        and update.fields_at_ms <= stored.fields_at_ms
    )


class AccountEngine:
    """Rolls members up into accounts under every model with an ``account:`` section. Build once per process;
    every method is pure but for changing the given state in place (and what it keeps beside it, never encoded:
    :mod:`scoring.accounts.rollup`)."""

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
        out = Out()
        model_state = account.models.get(model.id)
        if model_state is None:
            model_state = AccountModelState(model.version, levels_at_ms=update.occurred_at_ms)
        stored = model_state.members.get(update.member_id)
        member_state = update.state
        if (member_state is None and stored is None) or (
            member_state is not None and stored is not None and _not_newer(update, member_state, stored)
        ):
            return _done(account, out, duplicate=True)
        account.models[model.id] = model_state
        self._member(model, account.account_id, model_state, update, stored, out)
        return _done(account, out)

    def _member(
        self,
        model: ScoringModel,
        account_id: str,
        state: AccountModelState,
        update: MemberUpdate,
        stored: AccountMember | None,
        out: Out,
    ) -> None:
        """The account's values at its time before and after (the other members' shares there computed once and
        kept: only the member that changed is evaluated again), its levels, trend and change."""
        spec = account_of_model(model)
        member_id, at_ms = update.member_id, update.occurred_at_ms
        now = max(state.anchor_ms, at_ms)
        decay_levels(model, account_id, state, now, out)
        before = roll_of(model, state).point(state, now).values_with(spec, state.fit_points)
        old_now = member_share(model, spec, stored, now) if stored is not None else 0.0
        old_at = member_share(model, spec, stored, at_ms) if stored is not None else 0.0
        old: dict[str, AccountMember | None] = {member_id: stored}
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
                old[evicted_id] = evicted
                shares.append(member_record(spec, evicted_id, evicted, -member_share(model, spec, evicted, now), 0.0))
        roll = rolled(model, state, old)
        state.model_version = model.version
        state.fields = roll.fields()
        state.fit_points = fit_points(spec, state.fields)
        after = roll.point(state, now).values_with(spec, state.fit_points)
        state.score, state.anchor_ms = after.score, now
        set_levels(model, account_id, state, after, AccountCause.MEMBER, update, now, out)
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

    def advance(self, state: AccountState, now_ms: int) -> AccountUpdate:
        """Crossings caused by time alone up to ``now_ms``, each at its exact time; changes ``state`` in place."""
        out = Out()
        for model in self.models:
            model_state = state.models.get(model.id)
            if model_state is not None:
                decay_levels(model, state.account_id, model_state, now_ms, out)
        return _done(state, out)

    def next_due(self, state: AccountState, now_ms: int) -> int | None:
        """The earliest time (from ``now_ms`` on) at which time alone would move the account across a level."""
        times = []
        for model in self.models:
            model_state = state.models.get(model.id)
            if model_state is None or not model_state.members:
                continue
            after = max(now_ms, model_state.levels_at_ms)
            shape = time_shape(model, model_state, after)
            for level in account_of_model(model).levels:
                at = transition_time(model, model_state, level, after, shape=shape)
                if at is not None:
                    times.append(at)
        return min(times, default=None)

    def snapshot(self, state: AccountState, now_ms: int, top: int = 5) -> tuple[AccountSnapshot, ...]:
        """Each account model's scores for the account at ``now_ms`` (at least its latest update's time), with
        its top members by value and, per level held, when time alone takes it out if nothing else happens."""
        return tuple(
            model_snapshot(
                model, state.account_id, state.models.get(model.id) or AccountModelState(model.version), now_ms, top
            )
            for model in self.models
        )
