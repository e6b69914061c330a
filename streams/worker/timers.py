"""The worker's timers and start-up tasks: decay ticks (ADR 009), the consumer-lag gauge, and the models: the audit
trail's announcement of the running versions (ADR 018) and their reload on SIGHUP or when a file changes (ADR 015).

Faust runs every timer on every worker; each works only on the partitions its worker owns.
"""

from __future__ import annotations

import asyncio
import signal
import time
from collections.abc import Awaitable, Callable, Iterable

from faust.types import AppT, TopicT

from scoring import ScoringModel
from streams.kafka.codec import AvroCodec
from streams.settings import Settings
from streams.worker.audit import deployment_messages
from streams.worker.metrics import Metrics
from streams.worker.processor import TICK
from streams.worker.reload import ModelReloader
from streams.worker.table import LeadTable
from streams.worker.ticks import DueIndex, PartitionClocks
from streams.worker.wiring import InputTopics

LAG_INTERVAL_S = 5.0
Announce = Callable[[Iterable[ScoringModel]], Awaitable[None]]


def register_decay_ticks(
    app: AppT,
    settings: Settings,
    ticks: TopicT,
    table: LeadTable,
    due_index: DueIndex,
    clocks: PartitionClocks,
    metrics: Metrics,
) -> None:
    """Every ``decay_tick_s``: a tick to each lead due by its partition's clock, through ``ticks`` (the decay-ticks
    agent applies it on the lead's own partition)."""
    events = settings.topics.events

    async def send_decay_ticks() -> None:
        """Each worker ticks only the leads of the partitions it owns that are due by their partition's clock."""
        wall_ms = int(time.time() * 1000)
        for partition in sorted(tp.partition for tp in app.assignor.assigned_actives() if tp.topic == events):
            clock = clocks.now(partition, wall_ms)
            if clock is None:
                continue
            for lead_id in due_index.pop_due(partition, clock):
                await ticks.send(key=lead_id.encode(), value=TICK.pack(clock), partition=partition)
        metrics.leads_due.set(len(due_index))
        metrics.leads.set(len(table))

    app.timer(settings.decay_tick_s, name="decay-timer")(send_decay_ticks)


def register_lag_gauge(app: AppT, inputs: InputTopics, metrics: Metrics) -> None:
    """Every ``LAG_INTERVAL_S``: ``leadscore_consumer_lag_records`` of the inputs the worker's agents read."""
    measured = {
        topic.get_topic_name()
        for topic in (inputs.events, inputs.profiles, inputs.erasures, inputs.rerouted, *inputs.sources)
    }

    async def measure_lag() -> None:
        """Consumer lag per owned input partition, for dashboards and the lag alert."""
        metrics.consumer_lag.clear()
        for tp in sorted(app.assignor.assigned_actives()):
            if tp.topic in measured:
                position = await app.consumer.position(tp)
                end = app.consumer.highwater(tp)
                if position is not None and end is not None:
                    metrics.consumer_lag.labels(tp.topic, str(tp.partition)).set(max(0, end - position))

    app.timer(LAG_INTERVAL_S, name="lag-gauge")(measure_lag)


def deployment_announcer(settings: Settings, codec: AvroCodec, deployments: TopicT) -> Announce:
    """Tells the audit trail (``lead-model-deployments``) which model versions this worker now scores with."""

    async def announce(running: Iterable[ScoringModel]) -> None:
        for key, value in deployment_messages(settings, codec, running):
            await deployments.send(key=key, value=value)

    return announce


def register_model_tasks(app: AppT, settings: Settings, reloader: ModelReloader, announce: Announce) -> None:
    """At start-up: announce the running models; then reload them on SIGHUP, and every ``model_reload_s`` when a
    file's content changed (the reloader announces what it loads)."""

    async def announce_models() -> None:
        await announce(reloader.processor.engine.models)

    async def reload_models() -> None:
        """SIGHUP reloads the models now; changed model files are picked up every ``model_reload_s``."""
        loop = asyncio.get_running_loop()
        loop.add_signal_handler(signal.SIGHUP, lambda: asyncio.ensure_future(reloader.check(force=True)))
        while settings.model_reload_s > 0:
            await asyncio.sleep(settings.model_reload_s)
            await reloader.check()

    app.task(announce_models)
    app.task(reload_models)
