"""The final-state oracle of the identities scenario (issue 16): per-change comparison is not meaningful for merged
leads (what a survivor reported on the way depends on when the merge came), so the oracle checks where the run
ended, from the input logs read back from the broker.

- every lead id is resolved through the ``lead-identities`` log (chains: A->B then B->C give C); every valid event of
  a survivor's group is scored under the survivor with ``scoring.Engine`` in event-time order (the engine and merges
  are order-independent within the lateness, property-tested), with ``scoring.accounts.members.member_updates``
  after each, as a worker does;
- each survivor's latest ``lead-scores`` record must carry the engine's scores at that record's own time (1e-9);
  the level names held may differ only where the score lies between a level's ``leave`` and ``enter`` (hysteresis
  makes the levels held order-dependent there, ADR 041); each absorbed id's latest record must be a tombstone;
- one ``LeadMerged`` per identity record (``merge_id`` derived from its id), none other;
- each account: the latest member update of each member (its final state) applied with ``AccountEngine.apply`` to
  a fresh state, then ``AccountEngine.snapshot`` at the latest ``account-scores`` record's own time; account change
  and crossing ids must never carry different content.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from kafka import KafkaConsumer

from scoring import Engine, LeadEvent, LeadState
from scoring.accounts.engine import AccountEngine
from scoring.accounts.members import member_updates
from scoring.accounts.records import MemberCause, MemberUpdate
from scoring.accounts.state import AccountState
from scoring.identities.records import IdentityRecord
from scoring.outputs import derived_id
from streams.kafka.codec import AvroCodec, to_millis
from streams.kafka.identity_codec import IdentityCodec
from streams.kafka.registry import LocalSchemaRegistry
from streams.settings import Settings
from tests.reliability.oracle import classify, read_log


@dataclass
class Inputs:
    events: list[LeadEvent]
    identities: dict[str, IdentityRecord]  # identity id -> record (re-sends collapsed)


def read_inputs(settings: Settings, engine: Engine, acked: Mapping[str, int]) -> Inputs:
    names = settings.topics
    events_log = read_log(settings.bootstrap_servers, names.events, settings.partitions, acked.get(names.events, 0))
    identity_log = read_log(
        settings.bootstrap_servers, names.identities, settings.partitions, acked.get(names.identities, 0)
    )
    events = [e for _, _, key, value in events_log if (e := classify(engine, key, value)) is not None]
    codec = IdentityCodec(AvroCodec(LocalSchemaRegistry()))
    identities: dict[str, IdentityRecord] = {}
    for _, _, _, value in identity_log:
        record = codec.decode_identity(value)
        identities.setdefault(record.identity_id, record)
    return Inputs(events, identities)


@dataclass
class ExpectedFinal:
    leads: dict[str, LeadState] = field(default_factory=dict)  # survivor -> its group's state
    lead_events: dict[str, list[LeadEvent]] = field(default_factory=dict)  # survivor -> its group's events, in time
    members: dict[str, list[MemberUpdate]] = field(default_factory=dict)  # account -> every member update, in time
    absorbed: set[str] = field(default_factory=set)
    merges: set[str] = field(default_factory=set)  # merge ids
    accounts: dict[str, AccountState] = field(default_factory=dict)
    merged_accounts: set[str] = field(default_factory=set)  # accounts one of whose ids was merged
    events: int = 0


def resolve(into: Mapping[str, str], lead_id: str) -> str:
    seen = {lead_id}
    while lead_id in into:
        lead_id = into[lead_id]
        assert lead_id not in seen, f"the scenario made a merge cycle through {lead_id}"
        seen.add(lead_id)
    return lead_id


def expected_final(engine: Engine, inputs: Inputs) -> ExpectedFinal:
    expected = ExpectedFinal(events=len(inputs.events))
    into: dict[str, str] = {}
    for record in sorted(inputs.identities.values(), key=lambda r: r.identity_id):
        into.setdefault(record.from_id, record.to_id)
        expected.merges.add(derived_id("merge", record.identity_id))
    expected.absorbed = set(into)
    groups: dict[str, list[LeadEvent]] = {}
    for event in inputs.events:
        groups.setdefault(resolve(into, event.lead_id), []).append(event)
    last: dict[tuple[str, str, str], MemberUpdate] = {}  # (account, member, model) -> the latest update
    for survivor, events in groups.items():
        state: LeadState | None = None
        ordered = sorted(events, key=lambda e: (e.occurred_at_ms, e.event_id))
        expected.lead_events[survivor] = [replace(e, lead_id=survivor) for e in ordered]
        for event in ordered:
            before = {} if state is None else dict(state.accounts)
            update = engine.apply_event(state, replace(event, lead_id=survivor))
            state = update.state
            cause = (MemberCause.EVENT, event.event_id, event.occurred_at_ms)
            for member in member_updates(engine, before, update, event.account_id, *cause):
                last[(member.account_id, member.member_id, member.model_id)] = member
                expected.members.setdefault(member.account_id, []).append(member)
            if event.lead_id != survivor and state.accounts:
                expected.merged_accounts.update(state.accounts.values())
        assert state is not None
        expected.leads[survivor] = state
    accounts = AccountEngine(engine.models)
    for (account_id, member_id, model_id), member in sorted(last.items()):
        lead = expected.leads[member_id]
        if lead.accounts.get(model_id) != account_id or member.state is None:
            continue  # the lead left that account since
        expected.accounts[account_id] = accounts.apply(expected.accounts.get(account_id), member).state
    return expected


@dataclass
class ObservedFinal:
    scores: dict[str, dict[str, Any] | None] = field(default_factory=dict)  # lead -> latest record (None: tombstone)
    merges: dict[str, dict[str, Any]] = field(default_factory=dict)
    merge_records: int = 0
    accounts: dict[str, dict[str, Any] | None] = field(default_factory=dict)
    account_outputs: dict[str, dict[str, Any]] = field(default_factory=dict)  # change / crossing id -> record
    conflicting: int = 0
    conflict_examples: list[Any] = field(default_factory=list)


class IdentityReader:
    """One consumer on lead-scores, lead-merges and the account topics, folded into an :class:`ObservedFinal`."""

    def __init__(self, settings: Settings) -> None:
        self.names = names = settings.topics
        self.codec = AvroCodec(LocalSchemaRegistry())
        self.observed = ObservedFinal()
        topics = [names.scores, names.merges, names.account_scores, names.account_score_changes]
        self.consumer = KafkaConsumer(
            *topics, names.account_thresholds, bootstrap_servers=settings.bootstrap_servers, group_id=None,
            auto_offset_reset="earliest", max_partition_fetch_bytes=8 << 20,
        )  # fmt: skip

    def poll(self, seconds: float) -> None:
        import time

        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            for tp, batch in self.consumer.poll(timeout_ms=200, max_records=50_000).items():
                for r in batch:
                    self._fold(tp.topic, (r.key or b"").decode(), r.value)

    def _fold(self, topic: str, key: str, value: bytes | None) -> None:
        seen, names = self.observed, self.names
        rec = None if value is None else self.codec.decode(value)[1]
        if topic == names.scores:
            seen.scores[key] = rec
        elif topic == names.account_scores:
            seen.accounts[key] = rec
        elif rec is None:
            return
        elif topic == names.merges:
            seen.merge_records += 1
            self._keep(seen.merges, rec["merge_id"], rec)
        else:
            self._keep(seen.account_outputs, rec.get("change_id") or rec["crossing_id"], rec)

    def _keep(self, outputs: dict[str, dict[str, Any]], output_id: str, rec: dict[str, Any]) -> None:
        if not same(outputs.setdefault(output_id, rec), rec):
            self.observed.conflicting += 1
            self.observed.conflict_examples = [*self.observed.conflict_examples, (outputs[output_id], rec)][:3]

    def close(self) -> None:
        self.consumer.close()


def same(a: Any, b: Any) -> bool:
    if isinstance(a, float) or isinstance(b, float):
        return a is not None and b is not None and math.isclose(float(a), float(b), rel_tol=1e-9, abs_tol=1e-9)
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(same(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    return bool(a == b)


def _levels_ok(levels: Any, score: float, want: set[str], got: set[str], coverage: int | None = None) -> bool:
    """Level names may differ only in the hysteresis band (both holding and not holding are then right)."""
    for level in levels:
        if (level.name in want) != (level.name in got):
            band = level.leave <= score < level.enter
            if not band or (coverage is not None and coverage < getattr(level, "coverage", 0)):
                return False
    return True


def _lead_at(engine: Engine, events: list[LeadEvent], at_ms: int) -> LeadState | None:
    """The group's state from its events up to ``at_ms``: what a record of that time shows (a later event that
    moved nothing sends no new record)."""
    state: LeadState | None = None
    for event in events:
        if event.occurred_at_ms <= at_ms:
            state = engine.apply_event(state, event).state
    return state


def _score_of(engine: Engine, state: LeadState | None, at_ms: int) -> dict[str, float]:
    if state is None:
        return {}
    return {s.model_id: s.score for s in engine.snapshot(state, at_ms, top=0, drops=False)}


def lead_verdict(engine: Engine, expected: ExpectedFinal, lead: str, rec: dict[str, Any] | None) -> str:
    """``ok``, ``missing``, ``low`` (events missing), ``high`` (counted twice) or ``wrong``: the record against the
    group's events up to its time, and the group's later events must have moved nothing."""
    final = expected.leads[lead]
    if rec is None:  # a group whose events never moved a score sends no record
        moved = any(m.score or m.levels or m.fit_points for m in final.models.values())
        return "missing" if moved else "ok"
    at_ms = to_millis(rec["updated_at"])
    state = _lead_at(engine, expected.lead_events[lead], at_ms)
    if state is None:
        return "low"
    end_ms = max(m.anchor_ms for m in final.models.values())
    if not same(_score_of(engine, state, end_ms), _score_of(engine, final, end_ms)):
        return "low"  # the group's later events moved the score, and no record says so
    observed = {m["model_id"]: m for m in rec["models"]}
    verdict = "ok"
    for snap in engine.snapshot(state, at_ms, top=0, drops=False):
        model = next(m for m in engine.models if m.id == snap.model_id)
        got = observed.get(snap.model_id)
        if got is None:
            return "missing" if snap.applies else verdict
        if not same(snap.score, got["score"]):
            return "low" if got["score"] < snap.score else "high"
        if got["grade"] != snap.grade or not _levels_ok(model.levels, snap.score, set(snap.levels), set(got["levels"])):
            verdict = "wrong"
    return verdict


def _account_at(accounts: AccountEngine, history: list[MemberUpdate], at_ms: int) -> AccountState | None:
    """The account from each member's latest update up to ``at_ms`` (what a record of that time shows)."""
    latest: dict[tuple[str, str], MemberUpdate] = {}
    for member in history:
        if member.occurred_at_ms <= at_ms:
            latest[(member.member_id, member.model_id)] = member
    state: AccountState | None = None
    for _, member in sorted(latest.items()):
        state = accounts.apply(state, member).state
    return state


def _account_scores(accounts: AccountEngine, state: AccountState | None, at_ms: int) -> list[float]:
    return [] if state is None else [s.score for s in accounts.snapshot(state, at_ms, top=0)]


def account_verdict(accounts: AccountEngine, expected: ExpectedFinal, account: str, rec: dict[str, Any] | None) -> str:
    if rec is None:
        return "missing"
    at_ms = to_millis(rec["updated_at"])
    history = expected.members[account]
    state = _account_at(accounts, history, at_ms)
    end_ms = max(m.occurred_at_ms for m in history)
    final = expected.accounts[account]
    if state is None or not same(_account_scores(accounts, state, end_ms), _account_scores(accounts, final, end_ms)):
        return "low"  # later member updates moved the account, and no record says so
    observed = {m["model_id"]: m for m in rec["models"]}
    for snap in accounts.snapshot(state, at_ms, top=0):
        spec = next(m.account for m in accounts.models if m.id == snap.model_id)
        got = observed.get(snap.model_id)
        if got is None:
            return "missing"
        if not same(snap.score, got["score"]):
            return "low" if got["score"] < snap.score else "high"
        essentials = (snap.engagement, snap.fit, snap.member_count, sorted(snap.coverage))
        if not same(essentials, (got["engagement"], got["fit"], got["member_count"], sorted(got["coverage"]))):
            return "wrong"
        assert spec is not None
        want, held = set(snap.levels), set(got["levels"])
        if not _levels_ok(spec.levels, snap.score, want, held, len(snap.coverage)):
            return "wrong"
    return "ok"


def compare_final(engine: Engine, expected: ExpectedFinal, observed: ObservedFinal) -> dict[str, Any]:
    leads = {lead: lead_verdict(engine, expected, lead, observed.scores.get(lead)) for lead in expected.leads}
    accounts_engine = AccountEngine(engine.models)
    accounts = {
        account: account_verdict(accounts_engine, expected, account, observed.accounts.get(account))
        for account in expected.accounts
    }
    extra_accounts = [a for a, rec in observed.accounts.items() if rec is not None and a not in expected.accounts]
    not_tombstoned = sorted(a for a in expected.absorbed if observed.scores.get(a) is not None)
    extra_leads = [
        lead
        for lead, rec in observed.scores.items()
        if rec is not None and lead not in expected.leads and lead not in expected.absorbed
    ]
    merges_applied = len(expected.merges & observed.merges.keys())
    extra_merges = len(observed.merges.keys() - expected.merges)
    wrong_leads = sorted(lead for lead, v in leads.items() if v != "ok")
    wrong_accounts = sorted(a for a, v in accounts.items() if v != "ok") + sorted(extra_accounts)
    lost = (
        sum(v in ("missing", "low") for v in leads.values())
        + sum(v in ("missing", "low") for v in accounts.values())
        + len(expected.merges) - merges_applied
    )  # fmt: skip
    double = (
        sum(v == "high" for v in leads.values())
        + sum(v == "high" for v in accounts.values())
        + extra_merges + len(extra_leads) + len(extra_accounts)
    )  # fmt: skip
    figures: dict[str, Any] = {
        "events": expected.events,
        "merges_expected": len(expected.merges),
        "merges_applied": merges_applied,
        "merge_records": observed.merge_records,
        "leads_checked": len(leads),
        "leads_wrong": len(wrong_leads),
        "leads_wrong_examples": [_lead_example(engine, expected, observed, x, leads[x]) for x in wrong_leads[:3]],
        "absorbed_not_tombstoned": len(not_tombstoned),
        "accounts_checked": len(accounts),
        "accounts_with_merged_ids": len(expected.merged_accounts),
        "accounts_wrong": len(wrong_accounts),
        "accounts_wrong_with_merged_ids": len(set(wrong_accounts) & expected.merged_accounts),
        "accounts_wrong_examples": [
            _account_example(accounts_engine, expected, observed, a, accounts.get(a, "extra"))
            for a in wrong_accounts[:3]
        ],
        "account_outputs": len(observed.account_outputs),
        "conflicting": observed.conflicting,
        "conflict_examples": observed.conflict_examples,
        "lost": lost,
        "double_counted": double,
    }
    figures["exact"] = (
        lost == 0 and double == 0 and not wrong_leads and not wrong_accounts and not not_tombstoned
        and observed.conflicting == 0
    )  # fmt: skip
    return figures


def _lead_example(engine: Engine, expected: ExpectedFinal, observed: ObservedFinal, lead: str, verdict: str) -> Any:
    rec = observed.scores.get(lead)
    at_ms = to_millis(rec["updated_at"]) if rec else 0
    state = _lead_at(engine, expected.lead_events[lead], at_ms)
    snaps = () if state is None else engine.snapshot(state, at_ms, top=0, drops=False)
    want = [(s.model_id, s.score, list(s.levels), s.grade) for s in snaps]
    return {"lead": lead, "verdict": verdict, "expected": want, "observed": rec}


def _account_example(
    accounts: AccountEngine, expected: ExpectedFinal, observed: ObservedFinal, account: str, verdict: str
) -> Any:
    rec = observed.accounts.get(account)
    state = (
        None if rec is None else _account_at(accounts, expected.members.get(account, []), to_millis(rec["updated_at"]))
    )
    got = None if rec is None else [(m["score"], m["member_count"], m["levels"], m["coverage"]) for m in rec["models"]]
    if state is None or rec is None:
        return {"account": account, "verdict": verdict, "observed": got}
    snaps = accounts.snapshot(state, to_millis(rec["updated_at"]), top=0)
    want = [(s.score, s.member_count, list(s.levels), list(s.coverage)) for s in snaps]
    return {"account": account, "verdict": verdict, "expected": want, "observed": got}
