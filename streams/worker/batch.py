"""The fast path: ``lead-events`` scored a batch at a time inside the Faust worker (ADR 013).

A Faust agent pays for every message: an ``Event`` object, a queue hand-off, context variables, sensor calls, a
future per output and a changelog send per table write (about 600 us per event on our machines, measured with
py-spy; the scoring itself is about 60 us). The fast path keeps Faust's consumer, group membership, partition
assignment, changelog-backed table, recovery, standbys, commits, timers and web server, and replaces only the
per-event plumbing of the hot topic:

* :class:`EventBatcher` sits in front of Faust's conductor (the consumer's callback) and collects the raw
  ``lead-events`` messages; other topics go to the conductor as before.
* :class:`BatchScorer` scores what has accumulated (as many as arrived while the previous batch was processed, at
  most ``batch_max``), then, in this order: produces every output and waits for the broker's acknowledgements;
  produces one changelog record per lead touched (the last state, however many events the batch had for it) and
  waits again; writes those records to the local store with Faust's own ``apply_changelog_batch`` (which also
  records the persisted changelog offsets); and only then acks the input messages. Faust commits only acked
  offsets, after flushing its producer: an offset is never committed before the outputs and state it covers are
  on the broker, and a crash anywhere re-delivers the batch, which the engine recognises by event id (ADR 008).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Sequence
from typing import Protocol, TypeVar

import orjson
from faust.types import AppT, ConsumerT, TableT
from faust.types import Message as KafkaMessage

from streams.kafka.producer import BatchProducer, Record
from streams.kafka.topics import Routes
from streams.kafka.transactions import Offsets, Transactions
from streams.worker.live import LiveStates
from streams.worker.metrics import Metrics
from streams.worker.outbox import ChangelogEntry, Outbox, States, collect
from streams.worker.processor import LoadState, Message, Processor, Result, message_headers
from streams.worker.recovery import changelog_event
from streams.worker.stored import StoredLead, encode_stored
from streams.worker.ticks import DueIndex, PartitionClocks
from streams.worker.transacted import Located, by_partition, next_offsets

log = logging.getLogger(__name__)
ConsumerCallback = Callable[[KafkaMessage], Awaitable[None]]


class ConsumedMessage(Located, Protocol):
    """What the batch scorer reads of a consumed message (where it came from, its key and value): Faust's
    :class:`faust.types.Message`, or a test driver's stand-in (:mod:`streams.devtools.testing`)."""

    @property
    def key(self) -> bytes | None: ...
    @property
    def value(self) -> bytes | None: ...


M = TypeVar("M", bound=ConsumedMessage)


class EventBatcher:
    """Collects the raw messages of its topics (``lead-events``, and ``lead-conversions`` when the worker joins
    them) from Faust's consumer; the rest go on to Faust's conductor.

    Backpressure: when ``batch_max`` messages wait, the consumer's fetch loop waits until the scorer takes them.
    """

    def __init__(self, topics: str | frozenset[str], batch_max: int, linger_s: float = 0.0) -> None:
        self.topics = frozenset({topics}) if isinstance(topics, str) else topics
        self.batch_max = batch_max
        self.linger_s = linger_s
        self.consumer: ConsumerT | None = None  # Faust's consumer: set by the app when it builds it
        self._buffer: list[KafkaMessage] = []
        self._ready = asyncio.Event()
        self._room = asyncio.Event()
        self._room.set()
        self._full = asyncio.Event()

    def wrap(self, conductor_callback: ConsumerCallback) -> ConsumerCallback:
        """The consumer callback: messages of our topics are kept here, others delivered as usual."""
        topics = self.topics

        async def on_message(message: KafkaMessage) -> None:
            if message.topic not in topics:
                await conductor_callback(message)
                return
            if self.take(message):
                await self._room.wait()

        return on_message

    def take(self, message: KafkaMessage) -> bool:
        """Keep one message of our topics; True when the batch is full (the caller waits for :meth:`room` before
        it hands over the next one). The fetch loop calls this directly (:mod:`streams.worker.draining`)."""
        self._consumer().track_message(message)  # pending until acked: Faust waits for it before a rebalance
        self._buffer.append(message)
        self._ready.set()
        if len(self._buffer) >= self.batch_max:
            self._full.set()
            self._room.clear()
            return True
        return False

    async def room(self) -> None:
        """Until the scorer has taken the batch."""
        await self._room.wait()

    def _consumer(self) -> ConsumerT:
        if self.consumer is None:
            raise RuntimeError("EventBatcher.consumer is not set: LeadscoreApp._new_consumer sets it")
        return self.consumer

    def ack(self, message: KafkaMessage) -> bool:
        """Ack a scored message with Faust's consumer (it commits acked offsets only)."""
        return self._consumer().ack(message)

    async def next_batch(self) -> list[KafkaMessage]:
        """Everything collected so far (waits until there is something)."""
        await self._ready.wait()
        if self.linger_s > 0 and len(self._buffer) < self.batch_max:  # let a batch fill, at most linger_s
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._full.wait(), self.linger_s)
        self._full.clear()
        batch, self._buffer = self._buffer, []
        self._ready.clear()
        self._room.set()
        return batch

    def __len__(self) -> int:
        return len(self._buffer)


class BatchScorer:
    """Scores a batch of ``lead-events`` messages and writes its outputs and state (see the module text)."""

    def __init__(
        self,
        *,
        app: AppT,
        table: TableT[str, bytes],
        processor: Processor,
        live: LiveStates,
        events_topic: str,
        routes: Routes,
        conversions_topic: str | None = None,
        rerouted_topic: str,
        due_index: DueIndex,
        clocks: PartitionClocks,
        metrics: Metrics,
        lock: asyncio.Lock,
        producer: BatchProducer,
        transactions: Transactions | None = None,
    ) -> None:
        self.app = app
        self.table = table
        self.processor = processor
        self.live = live  # one decoded state per lead, changed in place by the engine (ADR 033)
        self.events_topic = events_topic
        self.conversions_topic = conversions_topic  # joined in the same batches (None: not consumed)
        self.routes = routes
        self.rerouted_topic = rerouted_topic
        self.due_index = due_index
        self.clocks = clocks
        self.metrics = metrics
        self.lock = lock
        self.producer = producer
        self.transactions = transactions  # exactly_once: one transaction per input partition and batch (ADR 024)

    async def run(self, batcher: EventBatcher) -> None:
        """Score batches for as long as the app runs; a failure stops the worker (the batch is re-delivered)."""
        try:
            while True:
                batch = await batcher.next_batch()
                try:
                    await self.score(batch, batcher.ack)
                except asyncio.CancelledError:
                    raise
                except Exception as exc:
                    log.exception("scoring a batch of %d messages failed; stopping the worker", len(batch))
                    await self.app.crash(exc)
                    return
        finally:
            await self.producer.stop()
            if self.transactions is not None:
                await self.transactions.stop()

    async def score(self, batch: Sequence[M], ack: Callable[[M], object]) -> None:
        """Score ``batch`` (Faust consumer messages), send, write, then ack each message; with exactly_once, one
        transaction per input partition (its outputs, changelog records and input offsets), then its acks."""
        started = time.perf_counter()
        await self.processor.resolve_schemas(raw.value for raw in batch)  # the registry, if any: not under the lock
        try:
            outbox = await self._score(batch, ack)
        except BaseException:
            self.live.clear()  # the engine changed live states this batch never wrote: read them again
            raise
        self._observe(batch, outbox, time.perf_counter() - started)

    async def _score(self, batch: Sequence[M], ack: Callable[[M], object]) -> Outbox:
        if self.transactions is None:
            async with self.lock:
                outbox = self._process(batch)
                await self._write(outbox)
            for raw in batch:
                ack(raw)
        else:
            outbox = Outbox()
            for partition, messages in by_partition(batch).items():
                async with self.lock:
                    part = self._process(messages)
                    await self._write_transaction(partition, part, next_offsets(messages))
                for raw in messages:
                    ack(raw)
                outbox.emitted_event_ms.extend(part.emitted_event_ms)
        return outbox

    def _process(self, batch: Sequence[ConsumedMessage]) -> Outbox:
        outbox = Outbox()
        load = self._loader(outbox)
        processor = self.processor
        process_event = processor.process_event
        others: dict[str, Callable[[Message, LoadState], Result]] = dict.fromkeys(
            processor.sources, processor.process_source
        )
        if self.conversions_topic is not None:
            others[self.conversions_topic] = processor.process_conversion
        with_headers = {topic for topic, source in processor.sources.items() if source.reads_headers}
        for raw in batch:
            process = others.get(raw.topic) if others else None
            if process is None:
                message = Message(raw.topic, raw.partition, raw.offset, raw.key, raw.value)
                collect(message, process_event(message, load), self.routes, self.rerouted_topic, outbox)
                continue
            headers = message_headers(getattr(raw, "headers", None)) if raw.topic in with_headers else ()
            message = Message(raw.topic, raw.partition, raw.offset, raw.key, raw.value, headers)
            collect(message, process(message, load), self.routes, self.rerouted_topic, outbox)
        return outbox

    async def emit(self, message: Message, result: Result) -> None:
        """Write what one message of another input (profile, erasure, tick, rerouted input) produced, the same way
        as a batch: every state change of a lead reaches the changelog in the order it was computed. The caller
        holds ``self.lock``. With exactly_once, in a transaction with the message's offset; a message that writes
        nothing has its offset committed by the next transaction of its topic partition."""
        outbox = Outbox()
        collect(message, result, self.routes, self.rerouted_topic, outbox)
        try:
            if self.transactions is None:
                await self._write(outbox)
            elif outbox.records or outbox.states:
                offsets = {(message.topic, message.partition): message.offset + 1}
                await self._write_transaction(message.partition, outbox, offsets)
        except BaseException:
            self.live.clear()
            raise

    async def _write(self, outbox: Outbox) -> None:
        await self.producer.send_all(outbox.records)  # outputs first, acknowledged; then the state
        entries, records = self._changelog(outbox.states)
        if entries:
            self._apply(entries, await self.producer.send_all(records))
        self._index(outbox)

    async def _write_transaction(self, partition: int, outbox: Outbox, offsets: Offsets) -> None:
        """Outputs, changelog records and input offsets of one input partition in one transaction; the local
        store is written once it has committed (an aborted state never reaches it)."""
        assert self.transactions is not None
        entries, records = self._changelog(outbox.states)
        async with self.transactions.transaction(partition) as transaction:
            await transaction.send_all(outbox.records)
            written = await transaction.send_all(records)
            await transaction.send_offsets(offsets)
        if entries:
            self._apply(entries, written)
        self._index(outbox)

    def _loader(self, outbox: Outbox) -> LoadState:
        held_states, live = outbox.states, self.live

        def load(lead_id: str) -> StoredLead | None:
            held = held_states.get(lead_id)
            if held is not None:
                return held[1]  # changed earlier in this batch (None: erased)
            return live.get(lead_id)

        return load

    def _changelog(self, states: States) -> tuple[list[ChangelogEntry], list[Record]]:
        """One changelog record per lead (on its input partition), and what the store needs to apply it."""
        topic = self.table.changelog_topic.get_topic_name()
        entries = [
            (lead_id, partition, state, orjson.dumps(lead_id), None if state is None else encode_stored(state))
            for lead_id, (partition, state, _) in states.items()
        ]
        return entries, [(topic, key, value, partition) for _, partition, _, key, value in entries]

    def _apply(self, entries: list[ChangelogEntry], offsets: list[int]) -> None:
        """The acknowledged changelog records, applied to the local store with their offsets."""
        topic = self.table.changelog_topic.get_topic_name()
        self.table.apply_changelog_batch(
            [
                changelog_event(topic, partition, offset, key, value, lead_id, value)
                for (lead_id, partition, _, key, value), offset in zip(entries, offsets, strict=True)
            ]
        )
        live = self.live
        for lead_id, _, state, _, _ in entries:
            live.put(lead_id, state)

    def _index(self, outbox: Outbox) -> None:
        for lead_id, (partition, _, due_ms) in outbox.states.items():
            self.due_index.set(partition, lead_id, due_ms)
        wall_ms = int(time.time() * 1000)
        for partition, event_ms in outbox.latest_event_ms.items():
            self.clocks.observe(partition, event_ms, wall_ms)

    def _observe(self, batch: Sequence[ConsumedMessage], outbox: Outbox, elapsed_s: float) -> None:
        metrics = self.metrics
        metrics.batch_size.observe(len(batch))
        metrics.batch_seconds.observe(elapsed_s)
        for topic, count in Counter(raw.topic for raw in batch).items():
            per_message = metrics.processing.labels(topic)
            for _ in range(count):
                per_message.observe(elapsed_s / len(batch))
        now = time.time()
        for event_ms in outbox.emitted_event_ms:
            metrics.event_to_emit.observe(max(0.0, now - event_ms / 1000))
