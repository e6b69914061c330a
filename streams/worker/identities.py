"""Identities on the stream, the absorbed id's side (ADR 044): ``lead-identities`` records, the alias table, and the
events of absorbed ids.

A ``LeadIdentity`` record is keyed by ``from_id`` (the absorbed id) and decided on that id's partition, under the
state lock, by :func:`scoring.identities.aliases.decide_identity` from the aliases kept under ``from_id`` and
``to_id``. On PROCEED the absorbed state goes to the survivor's partition as an
:class:`~scoring.identities.records.Absorption` on ``<app_id>-absorptions`` (keyed by the survivor, on its lead
partition; :mod:`streams.worker.absorptions` merges it there), the absorbed id's state is deleted and its
``lead-scores`` entry tombstoned, its accounts get a LEFT member update (before the absorption: the survivor's
MERGE brings the engagement back), and once those are written an :class:`~scoring.identities.records.Alias` is kept
under ``from_id`` in the changelog-backed table ``lead-aliases`` (MessagePack). A refused record is a dead letter
whose reason names the rule (self merge, cycle, merge into an erased lead, already merged, a bad id or time).

Later events (and profiles) of an aliased id: one whose digest the alias holds is a duplicate (counted); the others
are forwarded, re-encoded with ``lead_id`` = the survivor, through the rerouting topic to the survivor's partition.
An erasure of a lead sends erasure requests for the ids in its ``absorbed`` list (on ``lead-erasures``, each on its
own partition) and keeps an erased marker (``Alias(erased=True)``) under the erased id: a later merge into it is a
dead letter. Alias lookups go through a bounded cache (:class:`AliasBook`), emptied whenever partitions move.
"""

from __future__ import annotations

import dataclasses
import re
import time
from collections.abc import Callable

from faust.types import AppT, TableT

from scoring import LeadEvent, LeadProfile, LeadscoreError, LeadState
from scoring.identities.aliases import Outcome, decide_identity
from scoring.identities.records import Absorption, Alias, IdentityKind, decode_alias, encode_absorption, encode_alias
from scoring.outputs import derived_id, event_digest
from streams.kafka.identity_codec import IdentityCodec
from streams.kafka.partitioner import lead_partition
from streams.settings import Settings
from streams.worker.live import StoreRead
from streams.worker.members import MemberRecords
from streams.worker.metrics import Metrics
from streams.worker.processor import LoadState, Message, Processor, Result

ALIAS_TABLE = "lead-aliases"
AliasTable = TableT[str, bytes]
ALIASES_CACHED = 100_000


def alias_table(app: AppT, settings: Settings) -> AliasTable:
    """The alias table (changelog ``<app id>-lead-aliases-changelog``), partitioned like the lead-state table."""
    return app.Table(
        ALIAS_TABLE,
        default=None,
        value_type=bytes,  # raw: MessagePack of scoring.identities.records.Alias
        partitions=settings.partitions,
        help="Per absorbed (or erased) id: the survivor its events go to and the digests of the events it had.",
    )


def outcome_label(error: Exception) -> str:
    """A dead letter's outcome label: ``MergeCycleError`` -> ``merge_cycle``, ``DecodeError`` -> ``decode``."""
    name = type(error).__name__.removesuffix("Error") or "error"
    return re.sub(r"(?<!^)(?=[A-Z])", "_", name).lower()


class AliasBook:
    """The alias table behind a cache of lookups (misses included, at most ``max_cached`` ids): an event of an id
    never aliased costs a dict lookup once its id is cached. :meth:`clear` when partitions move."""

    def __init__(self, table: AliasTable, read: StoreRead, max_cached: int = ALIASES_CACHED) -> None:
        self.table = table
        self.read = read  # the store, read on the id's own partition (streams.worker.live.store_reader)
        self.max_cached = max_cached
        self._cached: dict[str, Alias | None] = {}

    def get(self, lead_id: str) -> Alias | None:
        cached = self._cached
        if lead_id in cached:
            return cached[lead_id]
        value = self.read(lead_id)
        alias = None if value is None else decode_alias(value)
        self._keep(lead_id, alias)
        return alias

    def put(self, lead_id: str, value: bytes) -> None:
        """Keep ``value`` (an encoded alias) under ``lead_id``: in an agent, a Faust table write (the store and the
        changelog, on the event's partition: the id's own); outside one (a test driver), the store only."""
        from faust.streams import current_event  # Faust's context variable of the agent's event

        if current_event() is not None:
            self.table[lead_id] = value
        else:
            self.table.data[lead_id] = value
        self._keep(lead_id, decode_alias(value))

    def clear(self) -> None:
        self._cached.clear()

    def _keep(self, lead_id: str, alias: Alias | None) -> None:
        cached = self._cached
        cached[lead_id] = alias
        if len(cached) > self.max_cached:
            del cached[next(iter(cached))]  # the oldest lookup


@dataclasses.dataclass(frozen=True)
class IdentityTopics:
    """Where identities send: the absorbed states, the absorbed ids' erasure requests (both: lead partitions)."""

    absorptions: str
    erasures: str
    partitions: int


class Identities:
    """The processor's identity hooks (:class:`streams.worker.processor.IdentityHooks`): decisions on the absorbed
    id's partition; :class:`streams.worker.absorptions.Absorber` does the survivor's side."""

    def __init__(
        self,
        processor: Processor,
        codec: IdentityCodec,
        aliases: AliasBook,
        topics: IdentityTopics,
        metrics: Metrics,
        load: LoadState | None = None,
    ) -> None:
        self.processor = processor
        self.codec = codec
        self.aliases = aliases
        self.topics = topics
        self.metrics = metrics
        self.load = load  # the lead states as the agents read them (for an erasure's absorbed ids); set by wiring
        self.absorb: Callable[[Message, LoadState], Result] | None = None  # the survivor's side (absorptions.py)
        self._outcomes = metrics.child(metrics.identities)
        self._aliased = metrics.child(metrics.aliased_events)

    # ---- lead-identities ----------------------------------------------------------------------------------

    def identity(self, message: Message, load_state: LoadState) -> Result:
        """One ``lead-identities`` record (or one forwarded to the rerouting topic): see the module text."""
        processor = self.processor
        processor.metrics.events_consumed.labels(message.topic).inc()
        try:
            record = self.codec.decode_identity(message.value)
        except LeadscoreError as exc:
            return self._refused(message, "", exc)
        if record.from_id.strip() and (forward := processor._misplaced(message, record.from_id)) is not None:
            return forward
        decision = decide_identity(record, self.aliases.get(record.from_id), self.aliases.get(record.to_id))
        if decision.outcome is Outcome.DEAD_LETTER:
            return self._refused(message, record.kind, decision.exception())
        stored = load_state(record.from_id)
        state = None if stored is None else stored.state
        left = self._left(state, record.identity_id, record.occurred_at_ms)  # its accounts let it go (ADR 044)
        if decision.outcome is Outcome.DUPLICATE:
            self._outcomes(record.kind, "duplicate").inc()
            # written before a crash that came before the state went: take it out now
            return Result(lead_id=record.from_id, dropped=stored is not None, member_updates=left)
        survivor = decision.survivor_id
        absorption = Absorption(record.identity_id, record.kind, record.from_id, survivor, record.occurred_at_ms, state)
        alias = Alias(survivor, record.identity_id, record.kind, {} if state is None else dict(state.seen))
        partition = lead_partition(survivor, self.topics.partitions)
        self._outcomes(record.kind, "absorbed").inc()
        return Result(
            lead_id=record.from_id,
            sends=[(self.topics.absorptions, survivor.encode(), encode_absorption(absorption), partition)],
            dropped=stored is not None,
            alias=encode_alias(alias),
            member_updates=left,  # before the absorption (collect's order): the account has no member twice
        )

    def _left(self, state: LeadState | None, identity_id: str, occurred_at_ms: int) -> MemberRecords:
        """The absorbed lead's LEFT member updates, at the merge's time as the survivor's side takes it
        (:func:`scoring.identities.merge.merge_into`: the identity's time, or the lead's latest if later)."""
        if state is None:
            return []
        anchors = (model.anchor_ms for model in state.models.values())
        at_ms = max(occurred_at_ms, state.latest_ms, *anchors)
        return self.processor.members.of_absorbed(self.processor.engine, state, identity_id, at_ms)

    def _refused(self, message: Message, kind: str, error: Exception) -> Result:
        self._outcomes(kind or "unknown", outcome_label(error)).inc()
        return Result(dead_letter=self.processor.dead_letter(message, error))

    # ---- the other inputs of an absorbed id ----------------------------------------------------------------

    def event(self, message: Message, event: LeadEvent) -> Result | None:
        """None: not an absorbed id (score it). Else a duplicate, or the event forwarded to its survivor."""
        alias = self.aliases.get(event.lead_id)
        if alias is None or alias.erased:
            return None
        if event_digest(event.event_id) in alias.seen:
            self._aliased("duplicate").inc()
            self.processor.metrics.duplicates.labels(message.topic).inc()
            return Result(event_ms=event.occurred_at_ms)
        self._aliased("forwarded").inc()
        survivor = alias.survivor_id
        value = self.processor.codec.encode_event(dataclasses.replace(event, lead_id=survivor))
        return self._forward(survivor, value)

    def profile(self, message: Message, profile: LeadProfile) -> Result | None:
        """None: not an absorbed id. Else the profile forwarded to its survivor (the later profile wins there)."""
        alias = self.aliases.get(profile.lead_id)
        if alias is None or alias.erased:
            return None
        self._aliased("forwarded").inc()
        survivor = alias.survivor_id
        value = self.processor.codec.encode_profile(dataclasses.replace(profile, lead_id=survivor))
        return self._forward(survivor, value)

    def _forward(self, survivor: str, value: bytes) -> Result:
        partition = lead_partition(survivor, self.topics.partitions)
        return Result(forward=(partition, survivor.encode()), forward_value=value)

    # ---- erasures -------------------------------------------------------------------------------------------

    def erased(self, message: Message, result: Result) -> None:
        """An erasure of ``result.lead_id``: erasure requests for the ids it absorbed, and its erased marker."""
        lead_id = result.lead_id
        request_id = self.processor.codec.decode_erasure(message.value)[0]  # decoded once already: cannot fail
        stored = None if self.load is None else self.load(lead_id)
        now_ms = int(time.time() * 1000)
        for absorbed_id in [] if stored is None else stored.state.absorbed:
            request = {
                "request_id": derived_id("erasure", request_id, absorbed_id),
                "lead_id": absorbed_id,
                "requested_at": now_ms,
            }
            value = self.processor.codec.encode("LeadErasure", request)
            partition = lead_partition(absorbed_id, self.topics.partitions)
            result.sends.append((self.topics.erasures, absorbed_id.encode(), value, partition))
        before = self.aliases.get(lead_id)
        kind = IdentityKind.MERGE if before is None else before.kind
        result.alias = encode_alias(Alias("", request_id if before is None else before.identity_id, kind, erased=True))

    def written(self, result: Result) -> None:
        if result.alias is not None:
            self.aliases.put(result.lead_id, result.alias)
