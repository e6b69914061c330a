"""The worker's Faust application class (:class:`LeadscoreApp`: the consumer and partition hooks leadscore needs)
and :func:`faust_app`, which makes one from the settings. :func:`streams.worker.app.create_app` wires the rest."""

from typing import Any, cast

import faust
from faust.transport.drivers.aiokafka import Consumer
from faust.types import TP, AppT, ConsumerT

from streams.kafka.registry import SchemaRegistry
from streams.kafka.security import faust_credentials
from streams.kafka.transactions import Transactions
from streams.settings import Settings
from streams.worker.accounts import AccountWorker
from streams.worker.batch import EventBatcher
from streams.worker.draining import drain_batching
from streams.worker.fetching import keep_undelivered_records, read_committed, set_fetch_wait
from streams.worker.identities import AliasBook
from streams.worker.live import LiveStates
from streams.worker.recovery import correct_highwaters
from streams.worker.standbys import keep_standby_records
from streams.worker.transacted import owned_partitions, without_topics

PRODUCER_BATCH_BYTES = 256 * 1024


class LeadscoreApp(faust.App):
    """A Faust app whose consumer reports exact end offsets (ADR 011), for recovery on any Kafka-compatible broker,
    and hands the hot topic's messages to the fast path's batcher instead of Faust's conductor (ADR 013)."""

    leadscore_settings: Settings
    leadscore_registry: SchemaRegistry
    leadscore_batcher: EventBatcher | None = None
    leadscore_live: LiveStates | None = None  # the fast path's live states (ADR 033): emptied when partitions move
    leadscore_transactions: Transactions | None = None  # exactly_once (ADR 024)
    leadscore_inputs: frozenset[str] = frozenset()  # every topic the worker reads (their offsets: in transactions)
    leadscore_delivered: dict[TP, int]  # the last changelog offset the recovery's queue received, per partition
    leadscore_aliases: AliasBook | None = None  # identities' alias cache (ADR 044): emptied when partitions move
    leadscore_accounts: AccountWorker | None = None  # the account agent's live states (ADR 043): emptied likewise

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.leadscore_delivered = {}

    async def on_start(self) -> None:
        keep_standby_records(self, self.leadscore_delivered)  # ADR 026: before the recovery reads changelogs
        await super().on_start()
        await self.leadscore_registry.start()  # contracts registered before the consumer, agents and tasks start

    async def on_stop(self) -> None:
        await super().on_stop()
        await self.leadscore_registry.close()

    def _new_consumer(self) -> ConsumerT:
        consumer = cast(Consumer, super()._new_consumer())  # Faust's aiokafka driver: broker URLs are kafka://
        batcher = self.leadscore_batcher
        if batcher is not None:  # in front of the conductor (Faust reads ``callback`` when its fetch loop starts)
            consumer.callback = batcher.wrap(consumer.callback)
            batcher.consumer = consumer
            drain_batching(consumer, batcher)  # the fetch loop hands lead-events to the batcher directly
        correct_highwaters(consumer, self.leadscore_settings)
        set_fetch_wait(consumer, self.leadscore_settings.fetch_max_wait_ms)
        read_committed(consumer)  # ADR 024, in both guarantees
        keep_undelivered_records(consumer, self.leadscore_delivered, _ChangelogTopics(self))  # ADR 023, 026
        if self.leadscore_transactions is not None:  # the transactions commit the inputs' offsets, not Faust
            consumer._commit = without_topics(consumer._commit, self.leadscore_inputs)  # type: ignore[method-assign,assignment]
        return consumer

    def _forget_live(self) -> None:
        """Partitions move: another worker may change these leads and accounts from now on, or the recovery may
        bring newer states of those held before: the live states and the alias cache are emptied."""
        for held in (self.leadscore_live, self.leadscore_aliases):
            if held is not None:
                held.clear()
        if self.leadscore_accounts is not None:
            self.leadscore_accounts.forget_live()

    async def _on_partitions_revoked(self, revoked: set[TP]) -> None:
        self._forget_live()
        await super()._on_partitions_revoked(revoked)

    async def _on_partitions_assigned(self, assigned: set[TP], generation_id: int = 0) -> None:
        """With exactly_once, fence the previous owners of the assigned input partitions first: before Faust reads
        their committed offsets and recovers their changelog, nothing a zombie writes can still commit. The live
        states are emptied first."""
        self._forget_live()
        transactions = self.leadscore_transactions
        if transactions is not None and not self.should_stop:
            try:
                await transactions.on_assigned(owned_partitions(assigned, self.leadscore_inputs))
            except Exception as exc:
                await self.crash(exc)
                return
        await super()._on_partitions_assigned(assigned, generation_id)


class _ChangelogTopics:
    """The changelog topics of ``app``'s tables, looked up when asked (tables register after the consumer)."""

    def __init__(self, app: AppT) -> None:
        self._app = app

    def __contains__(self, topic: object) -> bool:
        return topic in self._app.tables.changelog_topics


def faust_app(settings: Settings) -> LeadscoreApp:
    """The Faust app, configured: raw keys and values (the codec does Avro), acks from all replicas, the web server
    on the worker's own event loop."""
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
    return app
