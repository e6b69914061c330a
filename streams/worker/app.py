"""The Faust application, built from one :class:`Settings` object. Nothing here runs at import time."""

from __future__ import annotations

import asyncio
import logging
import signal
import time
from collections.abc import Callable
from datetime import timedelta
from typing import Any

import faust
from faust.sensors.prometheus import setup_prometheus_sensors

from scoring import Engine, load_models
from streams.kafka.codec import AvroCodec
from streams.kafka.producer import BatchProducer
from streams.kafka.security import faust_credentials
from streams.kafka.topics import output_routes, schema_registry
from streams.settings import Settings
from streams.worker.api import register_api
from streams.worker.audit import deployment_messages
from streams.worker.batch import BatchScorer, EventBatcher
from streams.worker.fetching import set_fetch_wait
from streams.worker.metrics import Metrics
from streams.worker.perevent import PerEventWriter
from streams.worker.processor import TICK, Message, Processor, Result
from streams.worker.recovery import complete_recovery, correct_highwaters
from streams.worker.reload import ModelReloader
from streams.worker.ticks import DueIndex, PartitionClocks
from streams.worker.wiring import Leadscore, OutputTopics

STATE_TABLE = "lead-state"
LAG_INTERVAL_S = 5.0
PRODUCER_BATCH_BYTES = 256 * 1024
log = logging.getLogger(__name__)


class LeadscoreApp(faust.App):
    """A Faust app whose consumer reports exact end offsets (ADR 011), for recovery on any Kafka-compatible broker,
    and hands the hot topic's messages to the fast path's batcher instead of Faust's conductor (ADR 013)."""

    leadscore_settings: Settings
    leadscore_batcher: EventBatcher | None = None

    def _new_consumer(self) -> Any:
        consumer: Any = super()._new_consumer()
        batcher = self.leadscore_batcher
        if batcher is not None:  # in front of the conductor (Faust reads ``callback`` when its fetch loop starts)
            consumer.callback = batcher.wrap(consumer.callback)
            batcher.consumer = consumer
        correct_highwaters(consumer, self.leadscore_settings)
        set_fetch_wait(consumer, self.leadscore_settings.fetch_max_wait_ms)
        return consumer


def create_app(settings: Settings) -> Leadscore:
    """Build the Faust app, its topics, table, agent and web views from ``settings``."""
    models = load_models(settings.model_paths)
    codec = AvroCodec(schema_registry(settings))
    metrics = Metrics()
    engine = Engine(models)
    rerouted_name = f"{settings.app_id}-rerouted"
    routes = output_routes(settings)
    join = settings.join_conversions and routes.conversion_scores is not None  # a shadow leaves it to the live one
    lead_time_ms = int(settings.conversion_lead_time_s * 1000) if join else None
    processor = Processor(engine, codec, metrics, settings.partitions, rerouted_name, lead_time_ms)
    metrics.worker_info.labels(settings.app_id, "shadow" if settings.shadow else "live").set(1)
    app = LeadscoreApp(
        settings.app_id,
        broker=settings.broker_url,
        broker_credentials=faust_credentials(settings),
        store=settings.store,
        datadir=str(settings.data_dir),
        autodiscover=False,
        topic_partitions=settings.partitions,
        topic_replication_factor=settings.replication_factor,
        table_standby_replicas=settings.standby_replicas,
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=settings.session_timeout_s,
        broker_heartbeat_interval=settings.heartbeat_interval_s,
        producer_acks=-1,
        producer_linger=settings.producer_linger_ms / 1000,
        producer_max_batch_size=PRODUCER_BATCH_BYTES,
        key_serializer="raw",
        value_serializer="raw",
        web_enabled=True,
        web_bind=settings.web_host,
        web_host=settings.web_host,
        web_port=settings.web_port,
        web_in_thread=False,
        canonical_url=settings.advertised_url,
    )
    app.leadscore_settings = settings
    names = settings.topics
    events_topic = app.topic(names.events, key_type=bytes, value_type=bytes, allow_empty=True)
    profiles_topic = app.topic(names.profiles, key_type=bytes, value_type=bytes, allow_empty=True)
    erasures_topic = app.topic(names.erasures, key_type=bytes, value_type=bytes, allow_empty=True)
    ticks_topic = app.topic(
        f"{settings.app_id}-decay-ticks",
        key_type=bytes,
        value_type=bytes,
        internal=True,
        partitions=settings.partitions,
        retention=timedelta(days=1),
    )
    rerouted_topic = app.topic(
        rerouted_name,
        key_type=bytes,
        value_type=bytes,
        internal=True,
        partitions=settings.partitions,
        retention=timedelta(days=7),
    )
    due_index = DueIndex()
    clocks = PartitionClocks(idle_after_ms=int(settings.decay_tick_s * 1000))
    outputs = OutputTopics.of(app, routes, names.model_deployments)
    table = app.Table(
        STATE_TABLE,
        default=None,
        partitions=settings.partitions,
        help="Per-lead scores under every model (changelog-backed).",
    )

    lock = asyncio.Lock()  # one writer of lead state at a time: the batch scorer or one of the agents
    scorer, score_events = None, None
    if settings.batch_max > 0:  # the fast path (ADR 013) scores lead-events and writes all state
        scorer = BatchScorer(
            app=app,
            table=table,
            processor=processor,
            events_topic=names.events,
            routes=routes,
            conversions_topic=names.conversions if join else None,
            rerouted_topic=rerouted_name,
            due_index=due_index,
            clocks=clocks,
            metrics=metrics,
            lock=lock,
            producer=BatchProducer(settings),
        )
    by_name = {topic.get_topic_name(): topic for topic in [*vars(outputs).values(), rerouted_topic] if topic}
    writer = scorer or PerEventWriter(table, by_name, routes, rerouted_name, due_index, clocks)

    async def handle(message: Message, process: Callable[[Message, Any], Result]) -> None:
        started = time.perf_counter()
        async with lock:
            result = process(message, table.get)
            await writer.emit(message, result)
        metrics.processing.labels(message.topic).observe(time.perf_counter() - started)
        if result.event_ms is not None and (result.changes or result.crossings):
            metrics.event_to_emit.observe(max(0.0, time.time() - result.event_ms / 1000))

    if scorer is not None:
        batched = frozenset({names.events, names.conversions} if join else {names.events})
        batcher = app.leadscore_batcher = EventBatcher(batched, settings.batch_max, settings.batch_linger_ms / 1000)
        app.topics.add(events_topic)  # subscribed and assigned by Faust; its messages go to the batcher
        if join:  # outcomes are joined in the same batches, in the order they arrive
            app.topics.add(app.topic(names.conversions, key_type=bytes, value_type=bytes, allow_empty=True))

        @app.task  # type: ignore[untyped-decorator]
        async def score_event_batches() -> None:
            await scorer.run(batcher)

    else:

        @app.agent(events_topic, name="score-events")
        async def score_events(stream: faust.StreamT[bytes]) -> None:
            async for event in stream.events():
                message = _message(event)
                await handle(message, processor.process_event)

    @app.agent(profiles_topic, name="apply-profiles")
    async def apply_profiles(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            message = _message(event)
            await handle(message, processor.process_profile)

    @app.agent(erasures_topic, name="erase-leads")
    async def erase_leads(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            message = _message(event)
            async with lock:
                await writer.emit(message, processor.process_erasure(message, _has_state))

    @app.agent(rerouted_topic, name="rerouted-inputs")
    async def rerouted_inputs(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            message = _message(event)
            await handle(message, lambda m, load: processor.process_rerouted(m, load, _has_state))

    join_conversions = None
    if join and scorer is None:  # the per-event path: an agent (the fast path joins them in its batches)
        conversions_topic = app.topic(names.conversions, key_type=bytes, value_type=bytes, allow_empty=True)

        @app.agent(conversions_topic, name="join-conversions")
        async def join_conversions(stream: faust.StreamT[bytes]) -> None:
            async for event in stream.events():
                message = _message(event)
                await handle(message, processor.process_conversion)

    def _has_state(lead_id: str) -> bool:
        return table.get(lead_id) is not None

    @app.agent(ticks_topic, name="decay-ticks")
    async def decay_ticks(stream: faust.StreamT[bytes]) -> None:
        async for event in stream.events():
            message = _message(event)
            await handle(message, processor.process_tick)

    @app.timer(settings.decay_tick_s, name="decay-timer")  # type: ignore[untyped-decorator]
    async def send_decay_ticks() -> None:
        """Each worker ticks only the leads of the partitions it owns that are due by their partition's clock."""
        wall_ms = _wall_ms()
        for partition in sorted(tp.partition for tp in app.assignor.assigned_actives() if tp.topic == names.events):
            clock = clocks.now(partition, wall_ms)
            if clock is None:
                continue
            for lead_id in due_index.pop_due(partition, clock):
                await ticks_topic.send(key=lead_id.encode(), value=TICK.pack(clock), partition=partition)
        metrics.leads_due.set(len(due_index))
        metrics.leads.set(len(table))

    @app.timer(LAG_INTERVAL_S, name="lag-gauge")  # type: ignore[untyped-decorator]
    async def measure_lag() -> None:
        """Consumer lag per owned input partition, for dashboards and the lag alert."""
        inputs = {names.events, names.profiles, names.erasures, rerouted_name}
        metrics.consumer_lag.clear()
        for tp in sorted(app.assignor.assigned_actives()):
            if tp.topic in inputs:
                position = await app.consumer.position(tp)
                end = app.consumer.highwater(tp)
                if position is not None and end is not None:
                    metrics.consumer_lag.labels(tp.topic, str(tp.partition)).set(max(0, end - position))

    @table.on_recover
    async def recovered() -> None:
        await complete_recovery(app, settings, table, due_index, clocks, metrics)

    register_api(app, settings, table, lambda: processor.engine, table.changelog_topic.get_topic_name())

    async def announce(running: Any) -> None:
        """The audit trail: which model versions this worker now scores with (ADR 018)."""
        for key, value in deployment_messages(settings, codec, running):
            await outputs.model_deployments.send(key=key, value=value)

    reloader = ModelReloader(settings.model_paths, processor, metrics, lock, models, announce)

    @app.task  # type: ignore[untyped-decorator]
    async def announce_models() -> None:
        await announce(processor.engine.models)

    @app.task  # type: ignore[untyped-decorator]
    async def reload_models() -> None:
        """SIGHUP reloads the models now; changed model files are picked up every ``model_reload_s``."""
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(reloader.check(force=True)))
        while settings.model_reload_s > 0:
            await asyncio.sleep(settings.model_reload_s)
            await reloader.check()

    metrics.recovery_remaining.set_function(lambda: max(0, app.tables.recovery.active_remaining_total()))  # type: ignore[attr-defined]
    setup_prometheus_sensors(app, pattern="/metrics", registry=metrics.registry, name_prefix="faust")

    return Leadscore(
        app,
        settings,
        models,
        metrics,
        codec,
        table,
        score_events,
        apply_profiles,
        erase_leads,
        decay_ticks,
        due_index,
        outputs,
        scorer,
        join_conversions,
    )


def _wall_ms() -> int:
    return int(time.time() * 1000)


def _message(event: Any) -> Message:
    return Message(event.message.topic, event.message.partition, event.message.offset, event.key, event.value)
