"""What to do with one ``lead-identities`` record (ADR 042), decided on the absorbed id's partition from the aliases
kept there: go on (with the survivor to merge into), ignore it (a re-delivery or a repeat), or dead-letter it.

Pure: :func:`decide_identity` reads the alias kept under ``from_id`` and the one kept under ``to_id`` (each None
when there is none) and never raises; the shell writes the alias, moves the state and sends the dead letters.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

from scoring.errors import InvalidEventError
from scoring.events import check_ids_and_time
from scoring.identities.records import Alias, IdentityRecord

__all__ = [
    "AlreadyMergedError",
    "Decision",
    "ErasedIdentityError",
    "IdentityError",
    "MergeCycleError",
    "MergeIntoErasedError",
    "Outcome",
    "SelfMergeError",
    "check_identity",
    "decide_identity",
]


class IdentityError(InvalidEventError):
    """A ``lead-identities`` record breaks the contract (an empty or too long id, an impossible time).

    The worker does not stop for it: the record goes to the dead-letter topic with this text as the reason. Fix
    the producer (the CRM connector or the identity resolver) that wrote it; the dead letter carries the offset.
    """


class SelfMergeError(IdentityError):
    """A merge or identify of a lead into itself (``from_id`` equals ``to_id``): there is nothing to merge.

    Dead-lettered, nothing changes. Usually harmless; when it is frequent, the producer resolves ids wrongly.
    """


class MergeCycleError(IdentityError):
    """A merge that would close a cycle: ``to_id`` was itself merged into ``from_id`` (B into A after A into B).

    Dead-lettered, nothing changes: the earlier merge stands. If the CRM really reversed the merge, erase the
    absorbed lead and send its events again under the id that should survive.
    """


class MergeIntoErasedError(IdentityError):
    """A merge or identify into a lead that was erased (a data subject request): its data must not come back.

    Dead-lettered, nothing changes; the absorbed id keeps its own state. Check whether the CRM still uses the
    erased id; if the absorbed id must go too, send an erasure request for it.
    """


class ErasedIdentityError(IdentityError):
    """A merge or identify of an id that was erased: there is no state left to merge.

    Dead-lettered, nothing changes. Send an erasure for the survivor too if the person asked to be forgotten.
    """


class AlreadyMergedError(IdentityError):
    """``from_id`` was already merged into another lead than this record's ``to_id``: a lead is absorbed once.

    Dead-lettered, nothing changes: the first merge stands (the dead letter names both survivors). If the CRM
    merged the two survivors too, send that merge (the one survivor into the other).
    """


class Outcome(StrEnum):
    PROCEED = "PROCEED"  # merge from_id into survivor_id
    DUPLICATE = "DUPLICATE"  # already done: nothing to do
    DEAD_LETTER = "DEAD_LETTER"  # refused: ``reason`` and ``error`` say why


@dataclass(frozen=True, slots=True)
class Decision:
    """The outcome of one identity record. ``survivor_id``: the lead to merge into (PROCEED: ``to_id`` or, when
    ``to_id`` was itself merged on, the survivor its alias names; DUPLICATE: the survivor already merged into)."""

    outcome: Outcome
    survivor_id: str = ""
    reason: str = ""  # DEAD_LETTER: the operator-facing reason (the dead letter's text)
    error: type[IdentityError] | None = None  # DEAD_LETTER: the error class (its docstring says what to do)

    def exception(self) -> IdentityError:
        """The error of a DEAD_LETTER decision, with its reason (raise it, or hand it to the dead-letter path)."""
        if self.error is None:
            raise ValueError(f"a {self.outcome} decision has no error")
        return self.error(self.reason)


def check_identity(record: IdentityRecord) -> None:
    """Raise :class:`IdentityError` when ``record`` cannot be applied (an empty or too long id, a time outside
    2000..2100); return quietly otherwise."""
    try:
        check_ids_and_time(
            {"identity_id": record.identity_id, "from_id": record.from_id, "to_id": record.to_id},
            "occurred_at",
            record.occurred_at_ms,
        )
    except IdentityError:
        raise
    except InvalidEventError as error:
        raise IdentityError(f"identity {record.identity_id!r}: {error}") from None


def _dead(error: type[IdentityError], reason: str) -> Decision:
    return Decision(Outcome.DEAD_LETTER, reason=reason, error=error)


def decide_identity(record: IdentityRecord, from_alias: Alias | None, to_alias: Alias | None) -> Decision:
    """The outcome of ``record`` given the alias kept under its ``from_id`` and the one under its ``to_id``."""
    try:
        check_identity(record)
    except IdentityError as error:
        return _dead(IdentityError, str(error))
    what = f"{record.kind.lower()} {record.identity_id!r} of {record.from_id!r} into {record.to_id!r}"
    if from_alias is not None and not from_alias.erased and from_alias.identity_id == record.identity_id:
        return Decision(Outcome.DUPLICATE, from_alias.survivor_id)  # this very record, delivered again
    if record.from_id == record.to_id:
        return _dead(SelfMergeError, f"{what}: a lead cannot be merged into itself")
    survivor = record.to_id
    if to_alias is not None:
        if to_alias.erased:
            return _dead(MergeIntoErasedError, f"{what}: {record.to_id!r} was erased")
        if to_alias.survivor_id == record.from_id:
            return _dead(MergeCycleError, f"{what}: {record.to_id!r} was merged into {record.from_id!r} before")
        survivor = to_alias.survivor_id  # to_id was merged on: one hop (the survivor's partition resolves more)
    if from_alias is not None:
        if from_alias.erased:
            return _dead(ErasedIdentityError, f"{what}: {record.from_id!r} was erased")
        if from_alias.survivor_id in (survivor, record.to_id):
            return Decision(Outcome.DUPLICATE, from_alias.survivor_id)
        return _dead(
            AlreadyMergedError, f"{what}: {record.from_id!r} was already merged into {from_alias.survivor_id!r}"
        )
    return Decision(Outcome.PROCEED, survivor)
