"""The account roll-up without a broker (ADR 041): ``leadscore score --accounts``, ``evaluate --accounts``, the
reliability oracle and the feature bench all replay a history through it.

Each input (a profile or an event, in the order given: :func:`history_inputs` gives event-time order, a profile
before an event at the same time, as ``leadscore data replay`` sends them) goes through the lead :class:`Engine`;
the lead's update is turned into member updates (:func:`scoring.accounts.members.member_updates`) and each is
applied to its account's state by the :class:`AccountEngine`, in the order the lead updates happen, as the worker's
account agent sees them on the ``account-inputs`` topic of one partition. Nothing is read or written here.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import NotRequired, TypedDict

from scoring import Engine, LeadEvent, LeadProfile, LeadscoreError, LeadState
from scoring.accounts.engine import AccountEngine
from scoring.accounts.members import member_updates
from scoring.accounts.records import AccountChange, AccountCrossing, MemberCause, MemberUpdate
from scoring.accounts.state import AccountState
from streams.analysis.offline import OfflineRun, checked_inputs

Input = LeadEvent | LeadProfile
DECIMALS = 6


class AccountsOptionError(LeadscoreError):
    """``--accounts`` was given but no model file has an ``account:`` section: add one (see ADR 041 and
    ``scoring/examples/b2b.yaml``), or leave ``--accounts`` out to score leads."""


@dataclass
class AccountRun:
    """The lead and account states after a replay, and what the account engine reported, in the order reported."""

    leads: dict[str, LeadState] = field(default_factory=dict)
    accounts: dict[str, AccountState] = field(default_factory=dict)
    changes: list[AccountChange] = field(default_factory=list)
    crossings: list[AccountCrossing] = field(default_factory=list)
    member_updates: int = 0  # member updates applied (duplicates included)
    duplicates: int = 0  # member updates the account engine found already applied
    #: per (model id, lead id): (time, account id or None when the lead left) at each move of the lead
    memberships: dict[tuple[str, str], list[tuple[int, str | None]]] = field(default_factory=dict)
    #: per account id: when its first member update happened
    first_seen: dict[str, int] = field(default_factory=dict)
    latest_ms: int = 0
    events: int = 0
    profiles: int = 0


def history_inputs(events: Iterable[LeadEvent], profiles: Iterable[LeadProfile] = ()) -> list[Input]:
    """Profiles and events in event-time order; at the same time a profile first, then by lead or event id."""
    keyed: list[tuple[int, int, str, Input]] = [(p.updated_at_ms, 0, p.lead_id, p) for p in profiles]
    keyed += [(e.occurred_at_ms, 1, e.event_id, e) for e in events]
    keyed.sort(key=lambda item: item[:3])
    return [record for *_, record in keyed]


def roll_up_one(engine: Engine, accounts: AccountEngine, run: AccountRun, record: Input) -> list[MemberUpdate]:
    """Apply one input to its lead and the member updates it makes to their accounts; returns those updates.
    Raises what the lead engine raises for an invalid input (check inputs first, as ``leadscore score`` does)."""
    before = run.leads.get(record.lead_id)
    before_accounts = dict(before.accounts) if before is not None else {}
    if isinstance(record, LeadProfile):
        update = engine.apply_profile(before, record)
        cause, cause_id, at_ms = MemberCause.PROFILE, f"profile@{record.updated_at_ms}", record.updated_at_ms
        event_account_id = None
        run.profiles += 1
    else:
        update = engine.apply_event(before, record)
        cause, cause_id, at_ms = MemberCause.EVENT, record.event_id, record.occurred_at_ms
        event_account_id = record.account_id
        run.events += 1
    run.latest_ms = max(run.latest_ms, at_ms)
    if update.duplicate:
        return []
    updates = member_updates(engine, before_accounts, update, event_account_id, cause, cause_id, at_ms)
    run.leads[record.lead_id] = update.state
    for member in updates:
        apply_member_update(accounts, run, member)
    return updates


def apply_member_update(accounts: AccountEngine, run: AccountRun, member: MemberUpdate) -> None:
    """One member update into its account's state (made when missing); its changes and crossings kept."""
    result = accounts.apply(run.accounts.get(member.account_id), member)
    run.accounts[member.account_id] = result.state
    run.first_seen.setdefault(member.account_id, member.occurred_at_ms)
    run.member_updates += 1
    run.duplicates += 1 if result.duplicate else 0
    run.changes += result.changes
    run.crossings += result.crossings
    moves = run.memberships.setdefault((member.model_id, member.member_id), [])
    now_in = None if member.cause in (MemberCause.LEFT, MemberCause.ERASED) else member.account_id
    if not moves or moves[-1][1] != now_in:
        moves.append((member.occurred_at_ms, now_in))


def roll_up(
    engine: Engine, accounts: AccountEngine, inputs: Iterable[Input], run: AccountRun | None = None
) -> AccountRun:
    """Replay ``inputs`` (in the order given) through the lead engine and the account engine: the final lead and
    account states, and every account change and crossing. Decay crossings after the last input are not in it:
    :func:`finish` adds them up to a time."""
    run = run if run is not None else AccountRun()
    for record in inputs:
        roll_up_one(engine, accounts, run, record)
    return run


def finish(accounts: AccountEngine, run: AccountRun, at_ms: int) -> None:
    """Every account's decay crossings up to ``at_ms`` (in place), added to the run's crossings."""
    for account_id in sorted(run.accounts):
        result = accounts.advance(run.accounts[account_id], at_ms)
        run.changes += result.changes
        run.crossings += result.crossings


def copy_account(state: AccountState) -> AccountState:
    """A deep copy: advancing it for a snapshot leaves the replay's state alone."""
    return state.copy()


def account_of(run: AccountRun, model_id: str, lead_id: str, at_ms: int) -> str | None:
    """The account ``lead_id`` was in under ``model_id`` at ``at_ms``: its latest move by then (None: none)."""
    current = None
    for moved_at, account_id in run.memberships.get((model_id, lead_id), ()):
        if moved_at > at_ms:
            break
        current = account_id
    return current


class MemberRow(TypedDict):
    member_id: str
    role: str | None
    weight: float
    value: float  # the member's weighted, capped engagement at ``at``


class AccountCrossingRow(TypedDict):
    at: int
    level: str
    direction: str
    score: float
    cause: str


class AccountTrendRow(TypedDict):
    recent: float
    baseline: float
    surging: bool


class AccountRow(TypedDict):
    """One output line of ``leadscore score --accounts``: an account's final score under one model."""

    account_id: str
    model_id: str
    model_version: int
    at: int
    score: float
    engagement: float
    fit: float
    levels: list[str]
    coverage: list[str]  # buying-group roles engaged
    missing_roles: list[str]
    members: int
    top_members: list[MemberRow]
    crossings: list[AccountCrossingRow]  # every level the account entered or left, in time order
    trend: NotRequired[AccountTrendRow]  # only for a model with an account trend


def _round(value: float) -> float:
    return round(value, DECIMALS) + 0.0  # + 0.0 turns -0.0 into 0.0


def account_rows(accounts: AccountEngine, run: AccountRun, at_ms: int | None = None, top: int = 5) -> list[AccountRow]:
    """Each account's score per account model at ``at_ms`` (default: the latest input time), decay crossings up to
    then included (the run's states are advanced in place), sorted by account then model. Accounts a model has no
    members in are left out of that model's rows."""
    at = at_ms if at_ms is not None else run.latest_ms
    finish(accounts, run, at)
    crossed: dict[tuple[str, str], list[AccountCrossingRow]] = {}
    for crossing in sorted(run.crossings, key=lambda c: (c.occurred_at_ms, c.crossing_id)):
        crossed.setdefault((crossing.account_id, crossing.model_id), []).append(
            {
                "at": crossing.occurred_at_ms,
                "level": crossing.level,
                "direction": str(crossing.direction.value),
                "score": _round(crossing.score),
                "cause": str(crossing.cause.value),
            }
        )
    rows: list[AccountRow] = []
    for account_id in sorted(run.accounts):
        for snapshot in accounts.snapshot(run.accounts[account_id], at, top=top):
            if snapshot.member_count == 0:
                continue
            row: AccountRow = {
                "account_id": account_id,
                "model_id": snapshot.model_id,
                "model_version": snapshot.model_version,
                "at": at,
                "score": _round(snapshot.score),
                "engagement": _round(snapshot.engagement),
                "fit": _round(snapshot.fit),
                "levels": list(snapshot.levels),
                "coverage": list(snapshot.coverage),
                "missing_roles": list(snapshot.missing_roles),
                "members": snapshot.member_count,
                "top_members": [
                    {"member_id": m.member_id, "role": m.role, "weight": m.weight, "value": _round(m.value_now)}
                    for m in snapshot.top_members
                ],
                "crossings": crossed.get((account_id, snapshot.model_id), []),
            }
            if snapshot.trend is not None:
                row["trend"] = {
                    "recent": _round(snapshot.trend.recent),
                    "baseline": _round(snapshot.trend.baseline),
                    "surging": snapshot.trend.surging,
                }
            rows.append(row)
    return rows


def leads_without_account(accounts: AccountEngine, run: AccountRun) -> int:
    """Leads that are in no account under any account model (no account id in their events or profile)."""
    ids = [model.id for model in accounts.models]
    return sum(1 for state in run.leads.values() if not any(model_id in state.accounts for model_id in ids))


def score_accounts(
    engine: Engine,
    events: Iterable[LeadEvent],
    profiles: Iterable[LeadProfile],
    offline: OfflineRun,
    skip_invalid: bool = False,
    at_ms: int | None = None,
    top: int = 5,
) -> tuple[list[AccountRow], AccountRun, AccountEngine]:
    """``leadscore score --accounts``: check the inputs (as for leads), replay them in event time through the roll-up
    and give every account's row at ``at_ms``. :class:`AccountsOptionError` when no model has an account section."""
    accounts = AccountEngine(engine.models)
    if not accounts.models:
        names = ", ".join(model.id for model in engine.models)
        raise AccountsOptionError(f"--accounts: no model has an `account:` section ({names}); add one (ADR 041)")
    inputs = checked_inputs(engine, history_inputs(list(events), list(profiles)), offline, skip_invalid)
    run = roll_up(engine, accounts, inputs)
    return account_rows(accounts, run, at_ms, top), run, accounts
