"""The worker's Faust application, built from one :class:`Settings` object. Nothing here runs at import time.

:func:`create_app` builds the parts and wires them together: the Faust app (:mod:`streams.worker.faustapp`), the
topics it reads and sends to (:mod:`streams.worker.wiring`), the lead-state table (:mod:`streams.worker.table`), the
processor and the writer every agent shares; then it registers the agents (:mod:`streams.worker.agents`), the timers and
start-up tasks (:mod:`streams.worker.timers`), the recovery hook (:mod:`streams.worker.recovery`) and the web views
(:mod:`streams.worker.api`).
"""

from __future__ import annotations

import asyncio

from faust.types import AppT

from scoring import Engine, ScoringModel, load_models
from streams.kafka.codec import AvroCodec
from streams.kafka.producer import BatchProducer
from streams.kafka.topics import Routes, absorptions_topic_name, output_routes, rerouted_topic_name, schema_registry
from streams.kafka.transactions import PartitionTransactions
from streams.settings import Settings
from streams.sources.source import Source, load_sources
from streams.worker.absorptions import install_identities
from streams.worker.accountagent import install_accounts
from streams.worker.agents import MessageHandler, ResultWriter, register_agents, register_batch_scoring, stored_reader
from streams.worker.api import register_api, register_metrics
from streams.worker.batch import BatchScorer, EventBatcher
from streams.worker.bulkrecovery import install_bulk_recovery
from streams.worker.faustapp import faust_app
from streams.worker.live import LiveStates, store_reader
from streams.worker.metrics import Metrics
from streams.worker.perevent import PerEventWriter
from streams.worker.processor import Processor
from streams.worker.recovery import complete_recovery
from streams.worker.reload import ModelReloader
from streams.worker.routing import install_routing
from streams.worker.table import LeadTable, lead_table
from streams.worker.ticks import DueIndex, PartitionClocks
from streams.worker.timers import deployment_announcer, register_decay_ticks, register_lag_gauge, register_model_tasks
from streams.worker.wiring import InputTopics, Leadscore, SendTopics


def create_app(settings: Settings) -> Leadscore:
    """Build the worker from ``settings``: the Faust app, its topics, table, agents, timers and web views."""
    models = load_models(settings.model_paths)
    registry = schema_registry(settings)
    codec = AvroCodec(registry)
    sources = load_sources(settings.sources_path, codec) if settings.sources_path is not None else {}
    metrics = Metrics()
    routes = output_routes(settings)
    join = settings.join_conversions and routes.conversion_scores is not None  # a shadow leaves it to the live one
    processor = _processor(settings, models, codec, metrics, join, sources)
    metrics.worker_info.labels(settings.app_id, "shadow" if settings.shadow else "live").set(1)
    app = faust_app(settings)
    app.leadscore_registry = registry
    inputs = InputTopics.of(app, settings, join, tuple(sources))
    names = settings.topics
    outputs = SendTopics.of(app, routes, names.model_deployments, absorptions_topic_name(settings), names.erasures)
    table = lead_table(app, settings)
    due_index = DueIndex()
    clocks = PartitionClocks(idle_after_ms=int(settings.decay_tick_s * 1000))
    lock = asyncio.Lock()  # one writer of lead state at a time: the batch scorer or one of the agents
    scorer: BatchScorer | None = None
    writer: ResultWriter
    if settings.batch_max > 0:  # the fast path (ADR 013) scores lead-events and writes all state
        writer = scorer = _batch_scorer(settings, app, table, processor, routes, join, due_index, clocks, metrics, lock)
        app.leadscore_transactions = scorer.transactions
        app.leadscore_live = scorer.live
        app.leadscore_inputs = inputs.names()
        batcher = EventBatcher(inputs.batched(), settings.batch_max, settings.batch_linger_ms / 1000)
        app.leadscore_batcher = batcher
        register_batch_scoring(app, inputs, scorer, batcher)
    else:
        writer = _per_event_writer(table, inputs, outputs, routes, due_index, clocks)
    load = scorer.live.get if scorer is not None else stored_reader(table)
    handler = MessageHandler(processor, table, load, writer, lock, metrics)
    agents = register_agents(app, inputs, handler, scorer is not None)
    identities = install_identities(app, settings, inputs, routes, codec, metrics, handler)  # ADR 044
    app.leadscore_aliases = identities.aliases
    route_leads, route_table = install_routing(app, inputs, outputs, processor, codec, metrics)  # ADR 039
    score_accounts, accounts = install_accounts(app, settings, inputs, outputs, processor, codec, metrics)  # ADR 043
    app.leadscore_accounts = accounts
    register_decay_ticks(app, settings, inputs.ticks, table, due_index, clocks, metrics)
    register_lag_gauge(app, inputs, metrics)
    _register_recovery(app, settings, table, due_index, clocks, metrics)
    changelog = table.changelog_topic.get_topic_name()
    register_api(app, settings, table, lambda: processor.engine, changelog, identities.aliases.get)
    announce = deployment_announcer(settings, codec, outputs.model_deployments)
    reloader = ModelReloader(settings.model_paths, processor, metrics, lock, models, announce)
    register_model_tasks(app, settings, reloader, announce)
    register_metrics(app, metrics)
    return Leadscore(
        app=app,
        settings=settings,
        metrics=metrics,
        codec=codec,
        table=table,
        outputs=outputs,
        score_events=agents.score_events,
        apply_profiles=agents.apply_profiles,
        erase_leads=agents.erase_leads,
        batch_scorer=scorer,
        join_conversions=agents.join_conversions,
        source_agents=agents.sources,
        route_leads=route_leads,
        route_table=route_table,
        score_accounts=score_accounts,
        account_table=None if accounts is None else accounts.table,
        apply_identities=identities.apply_identities,
        absorb_leads=identities.absorb_leads,
        alias_table=identities.table,
    )


def _processor(
    settings: Settings,
    models: tuple[ScoringModel, ...],
    codec: AvroCodec,
    metrics: Metrics,
    join: bool,
    sources: dict[str, Source],
) -> Processor:
    """The per-message decisions. With the conversion join, outcomes are joined to the scores
    ``conversion_lead_time_s`` before them (without: no join, no score trail kept)."""
    lead_time_ms = int(settings.conversion_lead_time_s * 1000) if join else None
    engine = Engine(models)
    rerouted = rerouted_topic_name(settings)
    return Processor(
        engine, codec, metrics, settings.partitions, rerouted, lead_time_ms, sources, moves_kept=settings.page_moves
    )


def _batch_scorer(
    settings: Settings,
    app: AppT,
    table: LeadTable,
    processor: Processor,
    routes: Routes,
    join: bool,
    due_index: DueIndex,
    clocks: PartitionClocks,
    metrics: Metrics,
    lock: asyncio.Lock,
) -> BatchScorer:
    """The fast path's scorer (ADR 013): lead-events, and lead-conversions when joined, a batch at a time; it writes
    every state change, the other agents' included, through its own producer."""
    return BatchScorer(
        app=app,
        table=table,
        processor=processor,
        live=LiveStates(store_reader(table.data, settings.partitions), settings.live_states),
        events_topic=settings.topics.events,
        routes=routes,
        conversions_topic=settings.topics.conversions if join else None,
        rerouted_topic=rerouted_topic_name(settings),
        due_index=due_index,
        clocks=clocks,
        metrics=metrics,
        lock=lock,
        producer=BatchProducer(settings),
        transactions=PartitionTransactions(settings) if settings.exactly_once else None,
    )


def _per_event_writer(
    table: LeadTable,
    inputs: InputTopics,
    outputs: SendTopics,
    routes: Routes,
    due_index: DueIndex,
    clocks: PartitionClocks,
) -> PerEventWriter:
    """With the fast path off: ``topic.send`` per output (rerouted inputs included), a table write per state."""
    by_name = {topic.get_topic_name(): topic for topic in [*outputs.sent_to(), inputs.rerouted]}
    return PerEventWriter(table, by_name, routes, inputs.rerouted.get_topic_name(), due_index, clocks)


def _register_recovery(
    app: AppT, settings: Settings, table: LeadTable, due_index: DueIndex, clocks: PartitionClocks, metrics: Metrics
) -> None:
    """Before Faust's recovery of the table, a bulk load of its active partitions (ADR 030); after it, before the
    agents resume: complete it and rebuild the due index."""
    bulk = install_bulk_recovery(app, settings, table, metrics)

    async def recovered() -> None:
        await complete_recovery(app, settings, table, due_index, clocks, metrics, bulk)

    table.on_recover(recovered)
