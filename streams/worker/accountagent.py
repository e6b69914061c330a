"""The account agent's wiring (ADR 043): the ``score-accounts`` agent reading member updates and account ticks in
batches, the account decay timer, and :func:`install_accounts`, which puts them, the table and ``GET
/accounts/{id}`` into the app. What the agent does with a batch: :class:`~streams.worker.accounts.AccountWorker`.
"""

from __future__ import annotations

from typing import cast

from faust.streams import Stream
from faust.types import AgentT, AppT, StreamT, TopicT

from streams.kafka.codec import AvroCodec
from streams.kafka.producer import BatchProducer
from streams.settings import Settings
from streams.worker.accountapi import register_account_api
from streams.worker.accounts import (
    BATCH_MAX,
    BATCH_WITHIN_S,
    AccountTopics,
    AccountWorker,
    account_table,
    account_tick,
    wall_ms,
)
from streams.worker.metrics import Metrics
from streams.worker.processor import Processor
from streams.worker.results import event_message
from streams.worker.ticks import PartitionClocks
from streams.worker.wiring import InputTopics, SendTopics


def register_accounts(app: AppT, topic: TopicT, worker: AccountWorker) -> AgentT[bytes]:
    """The ``score-accounts`` agent on ``topic`` (the member updates and account ticks)."""

    @app.agent(topic, name="score-accounts")
    async def score_accounts(stream: StreamT[bytes]) -> None:
        try:
            batches = cast(Stream[bytes], stream).take_events(BATCH_MAX, within=BATCH_WITHIN_S)  # acked after the body
            async for events in batches:
                await worker.handle_batch([event_message(event) for event in events])
        finally:
            await worker._producer().stop()

    return score_accounts


def register_account_ticks(app: AppT, settings: Settings, topic: TopicT, worker: AccountWorker) -> None:
    """Every ``decay_tick_s``: a tick to each owned account due by its partition's clock, through ``topic``; after
    a recovery of the table, the due index rebuilt from it."""
    name = topic.get_topic_name()

    def owned() -> list[int]:
        return sorted(tp.partition for tp in app.assignor.assigned_actives() if tp.topic == name)

    async def send_account_ticks() -> None:
        now_ms = wall_ms()
        for partition in owned():
            clock = worker.clocks.now(partition, now_ms)
            if clock is None:
                continue
            for account_id in worker.due_index.pop_due(partition, clock):
                await topic.send(key=account_id.encode(), value=account_tick(clock), partition=partition)
        worker.metrics.accounts_due.set(len(worker.due_index))
        worker.metrics.accounts.set(len(worker.table))

    async def recovered() -> None:
        worker.reindex(set(owned()), wall_ms())

    app.timer(settings.decay_tick_s, name="account-decay-timer")(send_account_ticks)
    worker.table.on_recover(recovered)


def install_accounts(
    app: AppT,
    settings: Settings,
    inputs: InputTopics,
    outputs: SendTopics,
    processor: Processor,
    codec: AvroCodec,
    metrics: Metrics,
) -> tuple[AgentT[bytes] | None, AccountWorker | None]:
    """The account agent, its table, its decay timer and ``GET /accounts/{id}``; ``(None, None)`` for a worker that
    rolls up nothing (a shadow worker)."""
    if inputs.account_inputs is None or outputs.account_score_changes is None:
        return None, None
    assert outputs.account_thresholds is not None and outputs.account_scores is not None
    topics = AccountTopics(
        outputs.account_score_changes, outputs.account_thresholds, outputs.account_scores, outputs.dead_letters
    )
    clocks = PartitionClocks(idle_after_ms=int(settings.decay_tick_s * 1000))
    table = account_table(app, settings)
    producer = BatchProducer(settings)
    worker = AccountWorker(processor, codec, table, metrics, topics, settings.partitions, producer, clocks=clocks)
    register_account_ticks(app, settings, inputs.account_inputs, worker)
    register_account_api(app, settings, worker.view, table.changelog_topic.get_topic_name())
    return register_accounts(app, inputs.account_inputs, worker), worker
