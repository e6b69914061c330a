"""The lead side of the account roll-up: which account a lead belongs to, and the member updates a lead's update
sends to its accounts (ADR 041).

A lead belongs, per model with an ``account:`` section, to the account its sources give (tried in order: the
latest account id its events carried, a profile field, its email's domain unless free mail). One with none is not
rolled up. When the account changes, the lead moves: a LEFT to the old account first, then its whole state to the
new one; ``LeadState.accounts`` records where it is now.
"""

from __future__ import annotations

from collections.abc import Mapping

from scoring.accounts.records import MemberCause, MemberUpdate
from scoring.engine import Engine
from scoring.events import MAX_ID_LENGTH
from scoring.model.accountspec import EVENT_ACCOUNT_FIELD, AccountModel
from scoring.model.compile import ScoringModel
from scoring.model.conditions import FieldValue
from scoring.modelstate import ModelState
from scoring.outputs import Update
from scoring.state import LeadState

__all__ = ["account_of", "erased_member_updates", "left_member_updates", "member_updates", "merged_member_updates"]


def _text(value: FieldValue) -> str | None:
    if value is None:
        return None
    text = str(value).strip()
    return text if text and len(text) <= MAX_ID_LENGTH else None


def _email_domain(fields: Mapping[str, FieldValue]) -> str | None:
    domain = fields.get("email_domain")
    if domain is None:
        email = fields.get("email")
        if not isinstance(email, str) or "@" not in email:
            return None
        domain = email.rpartition("@")[2]
    return str(domain).strip().lower() or None


def account_of(spec: AccountModel, event_account_id: str | None, fields: Mapping[str, FieldValue]) -> str | None:
    """The account a lead belongs to under ``spec``, or None (the lead is not rolled up). ``event_account_id``: the
    account id of the event being scored (None for other inputs, or an event without one: the ``event`` source
    then gives the latest one the lead's events carried, kept in ``fields`` under ``account_id``); ``fields``: the
    lead's kept profile fields (``LeadState.routing_fields``: ``email_domain`` or ``email`` for the email source)."""
    for source in spec.sources:
        if source == "event":
            found = _text(event_account_id if event_account_id is not None else fields.get(EVENT_ACCOUNT_FIELD))
        elif source == "email_domain":
            domain = _email_domain(fields)
            found = None if domain is None or domain in spec.free_mail else _text(domain)
        else:
            found = _text(fields.get(source.removeprefix("profile:")))
        if found is not None:
            return found
    return None


def _member_state(state: ModelState) -> ModelState:
    """The copy of a lead's model state its account keeps: without its trend and filter log (never read there)."""
    return ModelState(
        state.model_version,
        state.anchor_ms,
        {rule_id: rule_state.copy() for rule_id, rule_state in state.rules.items()},
        dict(state.fit_points),
        state.fit_at_ms,
        list(state.levels),
        state.score,
        state.events_scored,
        state.applies,
        state.levels_at_ms,
    )


def _unchanged(model: ScoringModel, update: Update) -> bool:
    """Whether an event left the model's engagement as it was for every time to come: no score change, and the
    engagement not held at a floor or ceiling (where a counted event would not move the score)."""
    if any(change.model_id == model.id for change in update.changes) or not model.engagement_weight:
        return False
    scored = update.scores.get(model.id)
    if scored is None:
        return True
    engagement = scored[1].engagement
    return engagement != model.engagement.floor and engagement != model.engagement.ceiling


def member_updates(
    engine: Engine,
    before_accounts: Mapping[str, str],
    update: Update,
    event_account_id: str | None,
    cause: MemberCause,
    cause_id: str,
    at_ms: int,
) -> list[MemberUpdate]:
    """The member updates ``update`` (of one lead's event, profile or merge) sends, for each model with an
    account section it touched; sets ``update.state.accounts`` (and the event's account id in its kept fields).
    ``before_accounts``: ``LeadState.accounts`` before the update. Empty when nothing is to be sent (a duplicate,
    a lead with no account, an event that moved nothing of the member)."""
    if update.duplicate:
        return []
    lead = update.state
    if event_account_id is not None and _text(event_account_id) is not None:
        lead.routing_fields[EVENT_ACCOUNT_FIELD] = event_account_id
    touched = update.scores.keys() if update.scores else lead.models.keys()
    out: list[MemberUpdate] = []
    for model in engine.models:
        spec = model.account
        model_state = lead.models.get(model.id)
        if spec is None or model_state is None or model.id not in touched:
            continue
        before = before_accounts.get(model.id)
        account = account_of(spec, event_account_id, lead.routing_fields)
        if before is not None and before != account:
            out.append(
                MemberUpdate(before, lead.lead_id, model.id, model.version, MemberCause.LEFT, cause_id, at_ms, None)
            )
        if account is None:
            lead.accounts.pop(model.id, None)
            continue
        lead.accounts[model.id] = account
        if before == account and cause is MemberCause.EVENT and _unchanged(model, update):
            continue
        fields = {name: lead.routing_fields[name] for name in sorted(spec.member_fields) if name in lead.routing_fields}
        out.append(
            MemberUpdate(
                account,
                lead.lead_id,
                model.id,
                model.version,
                cause,
                cause_id,
                max(at_ms, model_state.anchor_ms),
                _member_state(model_state),
                fields,
                model_state.fit_at_ms,
            )
        )
    return out


def merged_member_updates(
    engine: Engine, before_accounts: Mapping[str, str], update: Update, cause_id: str, at_ms: int
) -> list[MemberUpdate]:
    """What the survivor's accounts hear once another lead was merged into it (``update``: of
    :func:`scoring.identities.merge.merge_into`; ``before_accounts``: the survivor's ``LeadState.accounts`` before
    the merge; ``cause_id``: the identity record's id): per model with an account section, the merged state
    (cause MERGE) to the account the merged lead's sources give (the survivor's events' account id, else the
    absorbed lead's, then the later profile's fields: where its next event would put it), a LEFT first when the
    survivor moves. The absorbed id leaves its own account on its own partition (:func:`left_member_updates`).
    Sets ``update.state.accounts``. Empty for a re-delivered merge."""
    return member_updates(engine, before_accounts, update, None, MemberCause.MERGE, cause_id, at_ms)


def left_member_updates(engine: Engine, state: LeadState, cause_id: str, at_ms: int) -> list[MemberUpdate]:
    """A LEFT member update for each account the lead is a member of (``state.accounts``): the lead was merged into
    another (``cause_id``: the identity record's id), whose MERGE update brings its engagement to the survivor's
    account."""
    return _leaving(engine, state, MemberCause.LEFT, cause_id, at_ms)


def erased_member_updates(engine: Engine, state: LeadState, request_id: str, at_ms: int) -> list[MemberUpdate]:
    """An ERASED member update for each account the lead is a member of (``state.accounts``)."""
    return _leaving(engine, state, MemberCause.ERASED, request_id, at_ms)


def _leaving(engine: Engine, state: LeadState, cause: MemberCause, cause_id: str, at_ms: int) -> list[MemberUpdate]:
    versions = {model.id: model.version for model in engine.models}
    return [
        MemberUpdate(account, state.lead_id, model_id, versions.get(model_id, 0), cause, cause_id, at_ms, None)
        for model_id, account in sorted(state.accounts.items())
    ]
