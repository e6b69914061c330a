"""The lead side of the account roll-up (ADR 041, 043): after a lead is scored, what its accounts must hear.

:func:`scoring.accounts.members.member_updates` decides (one :class:`~scoring.accounts.records.MemberUpdate` per
model with an ``account:`` section that the update touched, a LEFT for the old account first when the lead moved);
a merge adds the absorbed lead's LEFT (on its partition) and the survivor's MERGE (on the survivor's, ADR 044);
this module encodes them as ``(account id, bytes)`` pairs for :attr:`streams.worker.processor.Result.member_updates`,
which :func:`streams.worker.outbox.collect` files to ``<app_id>-account-inputs`` keyed by account id (the default
partitioner on that key puts each account on one partition, where :mod:`streams.worker.accounts` keeps its state).
A lead that maps to no account under a model with an account section is not rolled up: it is counted in
``leadscore_leads_without_account_total{model}``.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import Counter

from scoring import Engine, LeadState, ScoringModel, Update
from scoring.accounts.members import (
    erased_member_updates,
    left_member_updates,
    member_updates,
    merged_member_updates,
)
from scoring.accounts.records import MemberCause, MemberUpdate, encode_member_update
from streams.worker.metrics import Metrics

#: What one input tells the accounts: (account id, an encoded MemberUpdate), in the order they must be sent.
MemberRecords = list[tuple[str, bytes]]


class MemberOutputs:
    """Turns a lead's update (or erasure) into the member updates its accounts consume, and counts what it sent."""

    def __init__(self, metrics: Metrics) -> None:
        self._sent: Callable[..., Counter] = metrics.child(metrics.member_updates_sent)
        self._without: Callable[..., Counter] = metrics.child(metrics.leads_without_account)
        self._engine: Engine | None = None
        self._models: tuple[ScoringModel, ...] = ()

    @staticmethod
    def before(state: LeadState | None) -> dict[str, str]:
        """The lead's accounts before it is scored (the engine changes the state in place)."""
        return {} if state is None else dict(state.accounts)

    def of_update(
        self,
        engine: Engine,
        before: dict[str, str],
        update: Update,
        event_account_id: str | None,
        cause: MemberCause,
        cause_id: str,
        at_ms: int,
    ) -> MemberRecords:
        """The member updates of one scored event or profile; sets ``update.state.accounts`` (so the stored state
        remembers where the lead is)."""
        models = self._account_models(engine)
        if not models:
            return []
        updates = member_updates(engine, before, update, event_account_id, cause, cause_id, at_ms)
        accounts = update.state.accounts
        for model in models:
            if model.id not in accounts:
                self._without(model.id).inc()
        return self._encoded(updates)

    def of_erasure(self, engine: Engine, state: LeadState | None, request_id: str) -> MemberRecords:
        """The ERASED member updates of a lead being erased: each of its accounts forgets it. Valued at the lead's
        own latest event time (deterministic on replay; no wall clock)."""
        if state is None or not state.accounts:
            return []
        at_ms = max((m.levels_at_ms for m in state.models.values()), default=0)
        return self._encoded(erased_member_updates(engine, state, request_id, at_ms))

    def of_absorbed(self, engine: Engine, state: LeadState | None, identity_id: str, at_ms: int) -> MemberRecords:
        """The LEFT member updates of a lead merged into another (ADR 044), on its own partition: each of its
        accounts lets it go; the survivor's MERGE (:meth:`of_merge`) brings its engagement back in."""
        if state is None or not state.accounts:
            return []
        return self._encoded(left_member_updates(engine, state, identity_id, at_ms))

    def of_merge(
        self, engine: Engine, before: dict[str, str], update: Update, identity_id: str, at_ms: int
    ) -> MemberRecords:
        """The survivor's member updates after a merge (cause MERGE, and a LEFT first when it moves); sets
        ``update.state.accounts``."""
        models = self._account_models(engine)
        if not models:
            return []
        updates = merged_member_updates(engine, before, update, identity_id, at_ms)
        for model in models:
            if model.id in update.state.models and model.id not in update.state.accounts:
                self._without(model.id).inc()
        return self._encoded(updates)

    def _account_models(self, engine: Engine) -> tuple[ScoringModel, ...]:
        """The models with an ``account:`` section (looked up again when a reload swapped the engine)."""
        if engine is not self._engine:
            self._engine, self._models = engine, tuple(m for m in engine.models if m.account is not None)
        return self._models

    def _encoded(self, updates: list[MemberUpdate]) -> MemberRecords:
        records: MemberRecords = []
        for member in updates:
            self._sent(member.model_id, member.cause.value).inc()
            records.append((member.account_id, encode_member_update(member)))
        return records
