"""The Faust agents: one loop per input topic that hands each message to the processor and writes what it decided.

Per input: ``score-events`` (lead-events), ``apply-profiles``, ``erase-leads``, ``rerouted-inputs`` (inputs forwarded
keyed by lead id), ``join-conversions`` and ``decay-ticks``. With the fast path on (``batch_max > 0``, ADR 013)
lead-events, and lead-conversions when joined, have no agent: Faust subscribes to them and assigns their partitions,
their messages go to the :class:`streams.worker.batch.EventBatcher`, and one task scores them a batch at a time
(:func:`register_batch_scoring`). Every agent writes through one :class:`ResultWriter` (the batch scorer's ordered
writes, or :class:`streams.worker.perevent.PerEventWriter` with the fast path off), under one lock: one writer of
lead state at a time.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Protocol

from faust.types import AgentT, AppT, StreamT, TopicT

from streams.worker.batch import BatchScorer, EventBatcher
from streams.worker.metrics import Metrics
from streams.worker.processor import LoadState, Message, Processor, Result
from streams.worker.results import event_message
from streams.worker.stored import StoredLead, decode_stored
from streams.worker.table import LeadTable
from streams.worker.wiring import InputTopics

#: One of the processor's decisions (``process_event``, ``process_profile``...): a message and the state reader in,
#: what to send and write out.
Decide = Callable[[Message, LoadState], Result]


class ResultWriter(Protocol):
    """Sends and writes what one input produced: :class:`streams.worker.batch.BatchScorer` (the fast path: the
    batches' own ordered writes) or :class:`streams.worker.perevent.PerEventWriter` (``topic.send``, table writes)."""

    async def emit(self, message: Message, result: Result) -> None: ...


@dataclass
class MessageHandler:
    """What every agent does with one message: decide under the state lock, write, and time it."""

    processor: Processor
    table: LeadTable
    load: LoadState  # the fast path's live states, or the table's values decoded (:func:`stored_reader`)
    writer: ResultWriter
    lock: asyncio.Lock  # one writer of lead state at a time: the batch scorer or one of the agents
    metrics: Metrics

    async def handle(self, message: Message, decide: Decide, avro: bool = True) -> None:
        """Decide and write under the lock; observe the processing time and, for an input that moved a score, the
        time from its event to the emit. An Avro input's schema id is resolved first, outside the lock (ADR 021);
        ``avro=False`` for the internal decay ticks, whose values are not Confluent-framed."""
        started = time.perf_counter()
        if avro:
            await self.processor.resolve_schemas([message.value])
        async with self.lock:
            result = decide(message, self.load)
            await self.writer.emit(message, result)
            self._written(result)
        self.metrics.processing.labels(message.topic).observe(time.perf_counter() - started)
        if result.event_ms is not None and (result.changes or result.crossings):
            self.metrics.event_to_emit.observe(max(0.0, time.time() - result.event_ms / 1000))

    async def erase(self, message: Message) -> None:
        """An erasure request: decided and written under the lock (not timed)."""
        await self.processor.resolve_schemas([message.value])
        async with self.lock:
            result = self.processor.process_erasure(message, self.has_state, self.load)
            await self.writer.emit(message, result)
            self._written(result)

    def _written(self, result: Result) -> None:
        """After the writes: the alias a result keeps (identities, ADR 044), into the alias table."""
        if result.alias is not None and self.processor.identities is not None:
            self.processor.identities.written(result)

    def reroute(self, message: Message, load_state: LoadState) -> Result:
        """The decision for an input forwarded keyed by its lead id: dispatched by its schema."""
        return self.processor.process_rerouted(message, load_state, self.has_state)

    def has_state(self, lead_id: str) -> bool:
        return self.table.get(lead_id) is not None


@dataclass(frozen=True)
class Agents:
    """The agents :class:`streams.worker.wiring.Leadscore` hands on, for tests to drive through ``test_context``
    (None: no agent for that input in this configuration)."""

    score_events: AgentT[bytes] | None
    apply_profiles: AgentT[bytes]
    erase_leads: AgentT[bytes]
    join_conversions: AgentT[bytes] | None
    sources: dict[str, AgentT[bytes]]  # by topic: the declared sources' agents (empty with the fast path)


def register_agents(app: AppT, inputs: InputTopics, handler: MessageHandler, fast_path: bool) -> Agents:
    """One agent per input topic; lead-events and lead-conversions only when the fast path does not take them."""
    processor = handler.processor
    score_events = join_conversions = None
    if not fast_path:

        @app.agent(inputs.events, name="score-events")
        async def score_events(stream: StreamT[bytes]) -> None:
            async for event in stream.events():
                await handler.handle(event_message(event), processor.process_event)

    @app.agent(inputs.profiles, name="apply-profiles")
    async def apply_profiles(stream: StreamT[bytes]) -> None:
        async for event in stream.events():
            await handler.handle(event_message(event), processor.process_profile)

    @app.agent(inputs.erasures, name="erase-leads")
    async def erase_leads(stream: StreamT[bytes]) -> None:
        async for event in stream.events():
            await handler.erase(event_message(event))

    @app.agent(inputs.rerouted, name="rerouted-inputs")
    async def rerouted_inputs(stream: StreamT[bytes]) -> None:
        async for event in stream.events():
            await handler.handle(event_message(event), handler.reroute)

    sources = {} if fast_path else {t.get_topic_name(): _source_agent(app, t, handler) for t in inputs.sources}

    if inputs.conversions is not None and not fast_path:

        @app.agent(inputs.conversions, name="join-conversions")
        async def join_conversions(stream: StreamT[bytes]) -> None:
            async for event in stream.events():
                await handler.handle(event_message(event), processor.process_conversion)

    @app.agent(inputs.ticks, name="decay-ticks")
    async def decay_ticks(stream: StreamT[bytes]) -> None:
        async for event in stream.events():
            await handler.handle(event_message(event), processor.process_tick, avro=False)

    return Agents(score_events, apply_profiles, erase_leads, join_conversions, sources)


def _source_agent(app: AppT, topic: TopicT, handler: MessageHandler) -> AgentT[bytes]:
    """One agent per declared source topic (ADR 035), with the fast path off; each record is mapped, then scored."""
    name = topic.get_topic_name()

    @app.agent(topic, name=f"source-{name}")
    async def read_source(stream: StreamT[bytes]) -> None:
        async for event in stream.events():
            await handler.handle(event_message(event, headers=True), handler.processor.process_source)

    return read_source


def register_batch_scoring(app: AppT, inputs: InputTopics, scorer: BatchScorer, batcher: EventBatcher) -> None:
    """The fast path (ADR 013): lead-events (and lead-conversions when joined, in the order they arrive) and the
    declared sources' topics are subscribed and assigned by Faust; the app's consumer hands their messages to
    ``batcher``, a task scores them."""
    app.topics.add(inputs.events)
    if inputs.conversions is not None:
        app.topics.add(inputs.conversions)
    for topic in inputs.sources:
        app.topics.add(topic)

    async def score_event_batches() -> None:
        await scorer.run(batcher)

    app.task(score_event_batches)


def stored_reader(table: LeadTable) -> LoadState:
    """Leads read from the table and decoded on every read (the per-event path keeps no live states)."""

    def load(lead_id: str) -> StoredLead | None:
        value = table.get(lead_id)
        return None if value is None else decode_stored(value)

    return load
