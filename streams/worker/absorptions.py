"""Identities on the stream, the survivor's side (ADR 044): the ``<app_id>-absorptions`` agent.

An :class:`~scoring.identities.records.Absorption` arrives keyed by the survivor, on its lead partition, and is
taken in under the state lock the way every input is (:class:`streams.worker.agents.MessageHandler`: the fast path's
ordered writes, or the per-event writer): the survivor's state is loaded as the other agents load it,
:func:`scoring.identities.merge.merge_into` merges the absorbed state into it (in place, exactly), and the survivor's
``ScoreChanged``, ``ThresholdCrossed``, member updates and ``LeadScore`` go out as for an event (the member
updates: cause MERGE, the merged state to the survivor's account,
:func:`scoring.accounts.members.merged_member_updates`), then ``LeadMerged`` on ``lead-merges`` (key: the absorbed
id), then the survivor's state is written. A re-delivered absorption changes
nothing and sends nothing (``merge_into`` recognises it).

The survivor may have been absorbed itself, or erased, since the absorbed id's partition decided (its alias was not
there to read, or came later): an aliased survivor passes the absorption on to its own survivor (one more hop on the
same topic); an erased survivor, or one merged into the absorbed id (a cycle), makes the absorption a dead letter
whose value is the absorption itself (MessagePack: the absorbed state is not lost; see ADR 044).
"""

from __future__ import annotations

from dataclasses import dataclass

import msgspec
from faust.types import AgentT, AppT, StreamT

from scoring.identities.aliases import IdentityError, MergeCycleError, MergeIntoErasedError
from scoring.identities.merge import merge_into
from scoring.identities.records import Absorption, decode_absorption, encode_absorption
from streams.errors import DecodeError
from streams.kafka.codec import AvroCodec
from streams.kafka.identity_codec import IdentityCodec
from streams.kafka.partitioner import lead_partition
from streams.kafka.topics import Routes, absorptions_topic_name
from streams.settings import Settings
from streams.worker.agents import MessageHandler
from streams.worker.identities import (
    AliasBook,
    AliasTable,
    Identities,
    IdentityTopics,
    alias_table,
    outcome_label,
)
from streams.worker.live import store_reader
from streams.worker.metrics import Metrics
from streams.worker.processor import LoadState, Message, Processor, Result
from streams.worker.results import event_message
from streams.worker.wiring import InputTopics


class Absorber:
    """Decides one absorption at a time (:meth:`absorb`, a :data:`streams.worker.agents.Decide`)."""

    def __init__(
        self,
        processor: Processor,
        codec: IdentityCodec,
        aliases: AliasBook,
        topics: IdentityTopics,
        merges_topic: str | None,
        metrics: Metrics,
    ) -> None:
        self.processor = processor  # its engine (the models now: a reload swaps it), its result encoding
        self.codec = codec
        self.aliases = aliases
        self.topics = topics
        self.merges_topic = merges_topic  # None: LeadMerged is not sent (a shadow worker)
        self._outcomes = metrics.child(metrics.identities)

    def absorb(self, message: Message, load_state: LoadState) -> Result:
        try:
            absorption = decode_absorption(message.value or b"")
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            return self._refused(message, "unknown", DecodeError(f"not an absorption (ADR 044): {exc}"))
        survivor_id = absorption.survivor_id
        alias = self.aliases.get(survivor_id)
        if alias is not None:
            return self._onward(message, absorption, alias.survivor_id, alias.erased)
        stored = load_state(survivor_id)
        processor = self.processor
        engine, before = processor.engine, processor.members.before(None if stored is None else stored.state)
        update, merged = merge_into(engine, None if stored is None else stored.state, absorption)
        if update.duplicate:
            self._outcomes(absorption.kind, "duplicate").inc()
            return Result()
        trail, moves = (None, None) if stored is None else (stored.trail, stored.moves)
        result = processor._result(update, message.partition, trail, moves)
        at_ms = max(
            absorption.occurred_at_ms, update.state.latest_ms, *(m.anchor_ms for m in update.state.models.values())
        )
        result.member_updates = processor.members.of_merge(engine, before, update, absorption.identity_id, at_ms)
        if self.merges_topic is not None:
            merged_value = self.codec.encode_merged(merged)
            result.sends.append((self.merges_topic, absorption.absorbed_id.encode(), merged_value, None))
        self._outcomes(absorption.kind, "merged").inc()
        return result

    def _onward(self, message: Message, absorption: Absorption, next_id: str, erased: bool) -> Result:
        """The survivor has an alias of its own: pass the absorption on to its survivor, or refuse it."""
        what = (
            f"{absorption.kind.lower()} {absorption.identity_id!r} of {absorption.absorbed_id!r} into "
            f"{absorption.survivor_id!r}"
        )
        error: IdentityError | None = None
        if erased:
            error = MergeIntoErasedError(f"{what}: {absorption.survivor_id!r} was erased")
        elif next_id == absorption.absorbed_id:
            error = MergeCycleError(f"{what}: {absorption.survivor_id!r} was merged into {next_id!r} before")
        if error is not None:
            return self._refused(message, absorption.kind, error)
        onward = msgspec.structs.replace(absorption, survivor_id=next_id)
        partition = lead_partition(next_id, self.topics.partitions)
        return Result(sends=[(self.topics.absorptions, next_id.encode(), encode_absorption(onward), partition)])

    def _refused(self, message: Message, kind: str, error: Exception) -> Result:
        self._outcomes(kind, outcome_label(error)).inc()
        return Result(dead_letter=self.processor.dead_letter(message, error))


@dataclass(frozen=True)
class IdentityParts:
    """What :func:`install_identities` registered."""

    identities: Identities
    absorber: Absorber
    aliases: AliasBook
    table: AliasTable
    apply_identities: AgentT[bytes]
    absorb_leads: AgentT[bytes]


def install_identities(
    app: AppT,
    settings: Settings,
    inputs: InputTopics,
    routes: Routes,
    codec: AvroCodec,
    metrics: Metrics,
    handler: MessageHandler,
) -> IdentityParts:
    """The alias table, the processor's identity hooks and the two agents: ``apply-identities`` (lead-identities,
    on the absorbed id's partition) and ``absorb-leads`` (``<app_id>-absorptions``, on the survivor's)."""
    assert inputs.identities is not None and inputs.absorptions is not None
    processor = handler.processor
    table = alias_table(app, settings)
    aliases = AliasBook(table, store_reader(table.data, settings.partitions))
    identity_codec = IdentityCodec(codec)
    topics = IdentityTopics(absorptions_topic_name(settings), settings.topics.erasures, settings.partitions)
    identities = Identities(processor, identity_codec, aliases, topics, metrics, handler.load)
    absorber = Absorber(processor, identity_codec, aliases, topics, routes.merges, metrics)
    identities.absorb = absorber.absorb
    processor.identities = identities

    @app.agent(inputs.identities, name="apply-identities")
    async def apply_identities(stream: StreamT[bytes]) -> None:
        async for event in stream.events():
            await handler.handle(event_message(event), identities.identity)

    @app.agent(inputs.absorptions, name="absorb-leads")
    async def absorb_leads(stream: StreamT[bytes]) -> None:
        async for event in stream.events():
            await handler.handle(event_message(event), absorber.absorb, avro=False)  # MessagePack, not Avro

    return IdentityParts(identities, absorber, aliases, table, apply_identities, absorb_leads)
