"""The account contracts on the wire (ADR 041, 043): ``AccountScoreChanged`` (13), ``AccountThresholdCrossed`` (14)
and ``AccountScore`` (15), from the account engine's records (:mod:`scoring.accounts.records`), framed by
:class:`~streams.kafka.codec.AvroCodec` like every other contract."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from scoring.accounts.records import AccountChange, AccountCrossing, AccountSnapshot, MemberShare
from streams.kafka.codec import AvroCodec, trend_to_record


def encode_account_change(codec: AvroCodec, change: AccountChange) -> bytes:
    return codec.encode("AccountScoreChanged", account_change_to_record(change))


def encode_account_crossing(codec: AvroCodec, crossing: AccountCrossing) -> bytes:
    return codec.encode("AccountThresholdCrossed", account_crossing_to_record(crossing))


def encode_account_scores(codec: AvroCodec, account_id: str, at_ms: int, snapshots: Sequence[AccountSnapshot]) -> bytes:
    """The account's ``AccountScore`` for the compacted ``account-scores``: one entry per model holding it."""
    models = [account_snapshot_to_record(s) for s in snapshots]
    return codec.encode("AccountScore", {"account_id": account_id, "updated_at": at_ms, "models": models})


def member_to_record(share: MemberShare) -> dict[str, Any]:
    return {
        "member_id": share.member_id,
        "role": share.role,
        "weight": share.weight,
        "points": share.points,
        "value_now": share.value_now,
    }


def account_change_to_record(change: AccountChange) -> dict[str, Any]:
    return {
        "change_id": change.change_id,
        "account_id": change.account_id,
        "model_id": change.model_id,
        "model_version": change.model_version,
        "score": change.score,
        "previous_score": change.previous_score,
        "delta": change.delta,
        "engagement": change.engagement,
        "fit": change.fit,
        "coverage": list(change.coverage),
        "level": change.level,
        "cause": change.cause.value,
        "member_cause": None if change.member_cause is None else change.member_cause.value,
        "cause_id": change.cause_id,
        "occurred_at": change.occurred_at_ms,
        "members": [member_to_record(m) for m in change.members],
        "contributions": [{"rule_id": c.rule_id, "points": c.points, "value_now": c.value_now} for c in change.rules],
    }


def account_crossing_to_record(crossing: AccountCrossing) -> dict[str, Any]:
    return {
        "crossing_id": crossing.crossing_id,
        "account_id": crossing.account_id,
        "model_id": crossing.model_id,
        "model_version": crossing.model_version,
        "level": crossing.level,
        "direction": crossing.direction.value,
        "threshold": crossing.threshold,
        "score": crossing.score,
        "coverage": list(crossing.coverage),
        "cause": crossing.cause.value,
        "cause_id": crossing.cause_id,
        "occurred_at": crossing.occurred_at_ms,
    }


def account_snapshot_to_record(snapshot: AccountSnapshot) -> dict[str, Any]:
    """One model's view of an account, as in ``AccountScore.models`` (and ``GET /accounts/{id}``)."""
    return {
        "model_id": snapshot.model_id,
        "model_version": snapshot.model_version,
        "score": snapshot.score,
        "engagement": snapshot.engagement,
        "fit": snapshot.fit,
        "levels": list(snapshot.levels),
        "coverage": list(snapshot.coverage),
        "missing_roles": list(snapshot.missing_roles),
        "member_count": snapshot.member_count,
        "top_members": [member_to_record(m) for m in snapshot.top_members],
        "trend": trend_to_record(snapshot.trend),
        "drops": [{"level": level, "drops_at": at_ms} for level, at_ms in snapshot.drops],
    }
