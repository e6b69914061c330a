"""Drivers for testing a scoring model, and what consumes leadscore's outputs, without a broker.

In the spirit of bytewax's ``testing`` module: the real worker (:func:`streams.worker.app.create_app`: its processor,
engine, codec, routing and changelog-backed table, on Faust's in-memory store) with the broker cut out at both ends.

* :class:`WorkerDriver` builds the worker for your model files and scores what you send through its fast-path batch
  scorer (ADR 013), as if Faust's consumer had fetched it; profiles and erasures go the way the worker's other
  agents write them. Every output record is kept and decoded per output (:meth:`WorkerDriver.records`,
  :meth:`~WorkerDriver.values`, :meth:`~WorkerDriver.latest_scores`). Event time is yours:
  :meth:`WorkerDriver.advance_to` sends the decay ticks the worker's timer sends once its clock reads that time.
* :class:`TestingSink` stands in for the Kafka producer (and for ``send`` on the output topics of the per-event
  agents): it keeps every record, in order, and can refuse one topic's records like a failing broker.
* :func:`make_event`, :class:`InputMessage` and :func:`input_messages` build inputs; :func:`build_app` builds the
  worker app alone, for driving its agents through Faust's ``test_context``.

The drivers' methods are coroutines: run them in an event loop (``pytest-asyncio``). docs/testing.md has an example::

    driver = WorkerDriver(Path("models/my-model.yaml"))
    await driver.send(make_event("lead-1", "demo_request"), make_event("lead-1", "trial_request"))
    assert [(c["level"], c["direction"]) for c in driver.values("thresholds")] == [("MQL", "UP")]
    await driver.advance_to(T0 + 30 * DAY_MS)  # time alone: the lead's engagement decays, it leaves MQL
"""

from __future__ import annotations

import asyncio
import itertools
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal, cast

from scoring import LeadEvent, LeadProfile, LeadState
from scoring.conversions import Conversion
from streams.kafka.codec import AvroCodec
from streams.kafka.partitioner import default_partition
from streams.kafka.producer import BatchProducer, Record
from streams.kafka.topics import output_routes, ticks_topic_name
from streams.settings import Settings, load_settings
from streams.worker.agents import MessageHandler
from streams.worker.app import create_app
from streams.worker.batch import BatchScorer
from streams.worker.processor import TICK, Message
from streams.worker.stored import StoredLead, decode_stored
from streams.worker.wiring import Leadscore

T0 = 1_767_603_600_000  #: a fixed start of event time for tests (2026-01-05T09:00:00Z), Unix ms
DAY_MS = 86_400_000
#: An output of the worker, named as in :class:`streams.kafka.topics.Routes` (``thresholds``: level crossings)
OutputKind = Literal["score_changes", "thresholds", "scores", "dead_letters", "erasures_completed", "conversion_scores"]
Input = LeadEvent | Conversion | tuple[bytes | None, bytes | None]
_event_ids = itertools.count()
_NOWHERE = Path(tempfile.gettempdir()) / "leadscore-testing"  # the in-memory store writes nothing there


def make_event(lead_id: str, type_: str, at_ms: int = T0, event_id: str | None = None, **properties: str) -> LeadEvent:
    """A :class:`LeadEvent` from source ``test``, with a fresh id unless one is given (the engine ignores an event
    id it has seen: a re-delivery, ADR 008)."""
    return LeadEvent(
        event_id=event_id or f"e-{next(_event_ids)}",
        lead_id=lead_id,
        type=type_,
        occurred_at_ms=at_ms,
        source="test",
        properties=properties,
    )


@dataclass(frozen=True)
class InputMessage:
    """One consumed message, with what the fast path reads of the messages Faust's consumer hands it."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    headers: tuple[tuple[str, bytes | None], ...] = ()  # read for declared sources (CloudEvents binary mode)

    @property
    def tp(self) -> tuple[str, int]:
        return self.topic, self.partition


def input_messages(
    topic: str, pairs: Iterable[tuple[bytes | None, bytes | None]], partition: int = 0, first_offset: int = 0
) -> list[InputMessage]:
    """``(key, value)`` pairs as consecutive messages of one topic partition."""
    return [InputMessage(topic, partition, first_offset + n, key, value) for n, (key, value) in enumerate(pairs)]


def worker_settings(model_paths: Path | Sequence[Path], data_dir: Path = _NOWHERE, **overrides: Any) -> Settings:
    """Settings of an in-process worker scoring with ``model_paths``: Faust's in-memory store, one partition, the fast
    path on (``batch_max=1000``). ``overrides`` are other :class:`Settings` fields: ``batch_max=0`` for the
    per-event agents, ``shadow=True``, ``join_conversions=False``, ``partitions=4``..."""
    paths = [model_paths] if isinstance(model_paths, Path) else list(model_paths)
    values: dict[str, Any] = {"app_id": "leadscore-testing", "store": "memory://", "partitions": 1, "batch_max": 1000}
    return load_settings(**{**values, "model_paths": paths, "data_dir": data_dir, **overrides})


def build_app(model_paths: Path | Sequence[Path], data_dir: Path = _NOWHERE, **overrides: Any) -> Leadscore:
    """The worker app of :func:`worker_settings` (not started: nothing connects to a broker)."""
    return create_app(worker_settings(model_paths, data_dir, **overrides))


class TestingSink:
    """Stands in for the worker's producer: keeps every record sent, in order, and acknowledges it a loop iteration
    later (a broker answers later), with offsets counted per topic partition.

    ``log`` has ``("send", topic)`` and ``("acked", topic)`` in the order they happened. With ``fail_topic`` set,
    a batch with a record for that topic is logged, then refused (the fast path raises, as on a broker error).
    """

    __test__ = False  # not a test class, despite its name

    def __init__(self, codec: AvroCodec, fail_topic: str | None = None) -> None:
        self.codec = codec
        self.fail_topic = fail_topic
        self.records: list[Record] = []  # (topic, key, value, partition: None when by key)
        self.log: list[tuple[str, str]] = []
        self._offsets: dict[tuple[str, int | None], itertools.count[int]] = {}

    @classmethod
    def attach(cls, leadscore: Leadscore, fail_topic: str | None = None) -> TestingSink:
        """A sink in place of the fast path's producer (its outputs and changelog records) and of ``send`` on every
        output topic (what the per-event agents call when ``batch_max=0``, recorded without yielding)."""
        sink = cls(leadscore.codec, fail_topic)
        if leadscore.batch_scorer is not None:
            leadscore.batch_scorer.producer = cast(BatchProducer, sink)  # duck-typed: send_all and stop
        accounts = getattr(leadscore.app, "leadscore_accounts", None)  # the account agent's producer (ADR 043)
        if accounts is not None:
            accounts.producer = cast(BatchProducer, sink)
        for topic in vars(leadscore.outputs).values():
            if topic is not None:  # a shadow worker has no crossings, dead letters, receipts or joins to send
                topic.send = sink._sender(topic.get_topic_name())
        return sink

    async def send_all(self, records: Sequence[Record]) -> list[int]:
        """The :class:`~streams.kafka.producer.BatchProducer` call: every record's offset, once all are acked."""
        offsets = self._keep(records)
        await asyncio.sleep(0)  # the broker answers later
        self.log += [("acked", topic) for topic, *_ in records]
        if any(topic == self.fail_topic for topic, *_ in records):
            raise RuntimeError(f"broker refused the records for {self.fail_topic}")
        return offsets

    async def stop(self) -> None:
        """Nothing to close."""

    def sent(self, topic: str) -> list[tuple[bytes | None, bytes | None]]:
        """``(key, value)`` of each record sent to ``topic``, in order (value None: a tombstone)."""
        return [(key, value) for name, key, value, _ in self.records if name == topic]

    def decoded(self, topic: str) -> list[tuple[bytes | None, dict[str, Any] | None]]:
        """:meth:`sent` with the Avro values decoded to dicts (the output topics; the changelog holds JSON)."""
        return [(key, None if value is None else self.codec.decode(value)[1]) for key, value in self.sent(topic)]

    def _keep(self, records: Sequence[Record]) -> list[int]:
        offsets = [
            next(self._offsets.setdefault((topic, partition), itertools.count())) for topic, *_, partition in records
        ]
        self.log += [("send", topic) for topic, *_ in records]
        self.records += records
        return offsets

    def _sender(self, topic: str) -> Callable[..., Any]:
        async def send(
            key: bytes | None = None, value: bytes | None = None, partition: int | None = None, **_: Any
        ) -> None:
            self._keep([(topic, key, value, partition)])
            self.log.append(("acked", topic))

        return send


class WorkerDriver:
    """The real worker for ``model_paths``, scoring in-process what it is sent through its fast path.

    ``overrides`` are :class:`Settings` fields (see :func:`worker_settings`; ``batch_max`` must stay above 0).
    ``leadscore`` is the app (its ``table`` holds each lead's encoded state: read it with :meth:`state`), ``sink``
    every record the worker sent, and ``acked`` the input messages in the order the worker acknowledged them.
    """

    def __init__(self, model_paths: Path | Sequence[Path], data_dir: Path = _NOWHERE, **overrides: Any) -> None:
        self.leadscore = build_app(model_paths, data_dir, **overrides)
        if self.leadscore.batch_scorer is None:
            raise ValueError("WorkerDriver drives the fast path: batch_max must be above 0")
        self.scorer: BatchScorer = self.leadscore.batch_scorer
        scorer = self.scorer  # what the worker's other agents do with a message: the same handler, the same writes
        self._handler = MessageHandler(
            scorer.processor, self.leadscore.table, scorer.live.get, scorer, scorer.lock, scorer.metrics
        )
        self.sink = TestingSink.attach(self.leadscore)
        self.acked: list[InputMessage] = []
        self.clock_ms: int | None = None  # the event time of the last advance_to
        self._routes = output_routes(self.leadscore.settings)
        self._offsets: dict[tuple[str, int], itertools.count[int]] = {}

    def stored(self, lead_id: str) -> StoredLead | None:
        """What the worker's table holds for ``lead_id``, decoded (its ``state`` is the :class:`LeadState`)."""
        value = self.leadscore.table.get(lead_id)
        return None if value is None else decode_stored(value)

    def state(self, lead_id: str) -> LeadState | None:
        """The lead's state as the worker's table holds it (None: never scored, or erased)."""
        stored = self.stored(lead_id)
        return None if stored is None else stored.state

    async def send(self, *inputs: Input, batch_size: int = 0) -> None:
        """Score ``inputs`` in order, ``batch_size`` to a batch (0: all in one), as the worker scores what it fetched:
        a :class:`LeadEvent` goes to ``lead-events`` and a :class:`Conversion` to ``lead-conversions`` (joined to the
        lead's scores), encoded and keyed by lead id; ``(key, value)`` goes to ``lead-events`` as it is (bytes that
        are no event, a wrong key...). A dead letter is an output, never an exception; an input keyed by something
        else than its lead id is forwarded to the worker's rerouting topic (in ``sink``) and not scored here."""
        names, codec = self.leadscore.settings.topics, self.leadscore.codec
        messages = []
        for item in inputs:
            if isinstance(item, LeadEvent):
                messages.append(self.message(names.events, item.lead_id.encode(), codec.encode_event(item)))
            elif isinstance(item, Conversion):
                if self.scorer.conversions_topic is None:
                    raise ValueError("this worker joins no conversions (a shadow, or join_conversions=False)")
                messages.append(self.message(names.conversions, item.lead_id.encode(), codec.encode_conversion(item)))
            else:
                messages.append(self.message(names.events, *item))
        await self.score(messages, batch_size)

    async def score(self, messages: Sequence[InputMessage], batch_size: int = 0) -> None:
        """Hand ``messages`` to the batch scorer, ``batch_size`` at a time (0: all at once)."""
        size = batch_size or max(1, len(messages))
        for start in range(0, len(messages), size):
            await self.scorer.score(list(messages[start : start + size]), self.acked.append)

    def message(
        self,
        topic: str,
        key: bytes | None,
        value: bytes | None,
        partition: int | None = None,
        headers: Sequence[tuple[str, bytes | None]] = (),
    ) -> InputMessage:
        """The next message of ``topic``, on ``partition`` or where Kafka's default partitioner puts ``key`` (a
        declared source's topic too: :meth:`score` maps it as the worker does)."""
        if partition is None:
            partition = 0 if key is None else default_partition(key, self.leadscore.settings.partitions)
        offset = next(self._offsets.setdefault((topic, partition), itertools.count()))
        return InputMessage(topic, partition, offset, key, value, tuple(headers))

    async def send_profiles(self, *profiles: LeadProfile) -> None:
        """Apply each profile as the worker's profiles agent does: fit and segments recomputed, what moved sent."""
        topic, codec = self.leadscore.settings.topics.profiles, self.leadscore.codec
        for profile in profiles:
            message = self.message(topic, profile.lead_id.encode(), codec.encode_profile(profile))
            await self._handler.handle(self._message(message), self.scorer.processor.process_profile)

    async def erase(self, lead_id: str, request_id: str = "erasure-1") -> None:
        """Erase a lead as the erasures agent does: a tombstone in lead-scores, a receipt, the state deleted."""
        record = {"request_id": request_id, "lead_id": lead_id, "requested_at": self.clock_ms or T0}
        value = self.leadscore.codec.encode("LeadErasure", record)
        message = self.message(self.leadscore.settings.topics.erasures, lead_id.encode(), value)
        await self._handler.erase(self._message(message))

    async def advance_to(self, at_ms: int) -> None:
        """Event time reaches ``at_ms``: each lead that time alone moves across a level by then gets the decay tick
        the worker's timer sends when its partition clock reads ``at_ms`` (crossings carry the exact time they
        happened, whenever the tick comes). Event time never goes back."""
        if self.clock_ms is not None and at_ms < self.clock_ms:
            raise ValueError(f"event time does not go back: {at_ms} < {self.clock_ms}")
        self.clock_ms = at_ms
        ticks = ticks_topic_name(self.leadscore.settings)
        for partition in range(self.leadscore.settings.partitions):
            for lead_id in self.scorer.due_index.pop_due(partition, at_ms):
                message = self.message(ticks, lead_id.encode(), TICK.pack(at_ms), partition)
                await self._handler.handle(self._message(message), self.scorer.processor.process_tick, avro=False)

    def records(self, kind: OutputKind) -> list[tuple[str | None, dict[str, Any] | None]]:
        """``(key, value)`` of what the worker sent to one output, in order: keys as text, values decoded (None: a
        tombstone). Empty for an output this worker does not send (a shadow sends no crossings)."""
        topic: str | None = getattr(self._routes, kind)
        if topic is None:
            return []
        return [(None if key is None else key.decode(), value) for key, value in self.sink.decoded(topic)]

    def values(self, kind: OutputKind) -> list[dict[str, Any]]:
        """The decoded records of one output, tombstones left out."""
        return [value for _, value in self.records(kind) if value is not None]

    def latest_scores(self) -> dict[str, dict[str, Any]]:
        """``lead-scores`` as a consumer sees it once compacted: the last record per lead, erased leads gone."""
        latest: dict[str, dict[str, Any]] = {}
        for key, value in self.records("scores"):
            if key is None:
                continue
            if value is None:
                latest.pop(key, None)
            else:
                latest[key] = value
        return latest

    @staticmethod
    def _message(raw: InputMessage) -> Message:
        return Message(raw.topic, raw.partition, raw.offset, raw.key, raw.value)
