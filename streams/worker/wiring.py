"""What :func:`streams.worker.app.create_app` builds and hands to the worker, the CLI and the tests: the app with
the parts they reach for (:class:`Leadscore`), and the Faust topic objects the worker reads (:class:`InputTopics`)
and sends to (:class:`SendTopics`).

Four names, four things, from the engine to the broker:

* :mod:`scoring.outputs`: what the engine reports (``ScoreChange``, ``ThresholdCrossing``, snapshots), pure data.
* :class:`streams.kafka.topics.Routes`: the *names* of the topics each kind of output goes to (None: not sent).
* :class:`SendTopics`: the Faust topic objects of those names, for ``topic.send`` (the per-event path,
  :class:`streams.worker.perevent.PerEventWriter`, and the audit trail of model deployments).
* :data:`streams.kafka.producer.Record`: what the fast path produces through its own
  :class:`streams.kafka.producer.BatchProducer`, addressed by name (ADR 013).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import timedelta

from faust.types import AgentT, AppT, EventT, TableT, TopicT

from streams.kafka.codec import AvroCodec
from streams.kafka.topics import (
    ONE_DAY_MS,
    SEVEN_DAYS_MS,
    Routes,
    absorptions_topic_name,
    account_inputs_topic_name,
    rerouted_topic_name,
    route_requests_topic_name,
    ticks_topic_name,
)
from streams.settings import Settings
from streams.worker.batch import BatchScorer
from streams.worker.metrics import Metrics
from streams.worker.results import Message, message_headers
from streams.worker.table import LeadTable


@dataclass
class Leadscore:
    """The app and the parts tests and the CLI reach for."""

    app: AppT  # a streams.worker.app.LeadscoreApp
    settings: Settings
    metrics: Metrics
    codec: AvroCodec
    table: LeadTable
    outputs: SendTopics  # the Faust topics the worker sends to (the fast path produces by name instead)
    score_events: AgentT[bytes] | None  # the events agent (None when the fast path scores lead-events)
    apply_profiles: AgentT[bytes]  # the profiles agent
    erase_leads: AgentT[bytes]  # the erasures agent
    batch_scorer: BatchScorer | None = None  # the fast path (ADR 013), when settings.batch_max > 0
    join_conversions: AgentT[bytes] | None = None  # the conversions agent (None: fast path, shadow or no join)
    source_agents: dict[str, AgentT[bytes]] = field(default_factory=dict)  # declared sources, by topic (per-event)
    route_leads: AgentT[bytes] | None = None  # the routing agent (ADR 039; None: a shadow worker routes nothing)
    route_table: TableT[str, bytes] | None = None  # its per-route and per-lead routing state
    score_accounts: AgentT[bytes] | None = None  # the account agent (ADR 043; None: a shadow worker)
    account_table: TableT[str, bytes] | None = None  # its account-state table
    apply_identities: AgentT[bytes] | None = None  # lead-identities (ADR 044), on the absorbed id's partition
    absorb_leads: AgentT[bytes] | None = None  # <app_id>-absorptions, on the survivor's partition
    alias_table: TableT[str, bytes] | None = None  # lead-aliases: per absorbed or erased id


@dataclass(frozen=True)
class InputTopics:
    """The Faust topic objects the worker reads. All carry raw bytes (the processor decodes them); ``conversions``
    is None when the worker joins no outcomes (a shadow worker, or ``join_conversions`` off)."""

    events: TopicT
    profiles: TopicT
    erasures: TopicT
    ticks: TopicT  # internal: one decay tick per due lead, on the lead's partition (ADR 009)
    rerouted: TopicT  # internal: inputs forwarded keyed and partitioned by lead id (ADR 005)
    conversions: TopicT | None
    sources: tuple[TopicT, ...] = ()  # the declared sources' topics (ADR 035)
    route_requests: TopicT | None = None  # internal, one partition, read by the routing agent (ADR 039)
    account_inputs: TopicT | None = None  # internal, keyed by account id, read by the account agent (ADR 043)
    identities: TopicT | None = None  # lead-identities (ADR 044)
    absorptions: TopicT | None = None  # internal: absorbed states, on the survivor's partition (ADR 044)

    @classmethod
    def of(
        cls, app: AppT, settings: Settings, join_conversions: bool, source_topics: tuple[str, ...] = ()
    ) -> InputTopics:
        names = settings.topics

        def source(name: str) -> TopicT:
            return app.topic(name, key_type=bytes, value_type=bytes, allow_empty=True)

        def internal(name: str, retention: timedelta) -> TopicT:
            return app.topic(
                name,
                key_type=bytes,
                value_type=bytes,
                internal=True,
                partitions=settings.partitions,
                retention=retention,
            )

        return cls(
            events=source(names.events),
            profiles=source(names.profiles),
            erasures=source(names.erasures),
            ticks=internal(ticks_topic_name(settings), timedelta(milliseconds=ONE_DAY_MS)),
            rerouted=internal(rerouted_topic_name(settings), timedelta(milliseconds=SEVEN_DAYS_MS)),
            conversions=source(names.conversions) if join_conversions else None,
            sources=tuple(source(name) for name in source_topics),
            route_requests=app.topic(
                route_requests_topic_name(settings),
                key_type=bytes,
                value_type=bytes,
                internal=True,
                partitions=1,
                retention=timedelta(milliseconds=SEVEN_DAYS_MS),
            ),
            account_inputs=internal(account_inputs_topic_name(settings), timedelta(milliseconds=SEVEN_DAYS_MS)),
            identities=source(names.identities),
            absorptions=internal(absorptions_topic_name(settings), timedelta(milliseconds=SEVEN_DAYS_MS)),
        )

    def batched(self) -> frozenset[str]:
        """The topics the fast path's batcher takes from Faust's consumer: lead-events, lead-conversions when joined,
        and the declared sources' topics (ADR 035)."""
        batched = [self.events, *self.sources]
        if self.conversions is not None:
            batched.append(self.conversions)
        return frozenset(topic.get_topic_name() for topic in batched)

    def names(self) -> frozenset[str]:
        """The name of every topic the worker reads on its input partitions (the route requests are not: their one
        partition is no input partition, and the routing agent writes outside the transactions, ADR 039)."""
        topics = [self.events, self.profiles, self.erasures, self.ticks, self.rerouted, self.conversions, *self.sources]
        topics += [self.identities, self.absorptions]
        return frozenset(topic.get_topic_name() for topic in topics if topic is not None)


@dataclass
class SendTopics:
    """The Faust topic objects the worker sends to with ``topic.send``, one per :class:`Routes` field plus the
    audit trail; None: not sent (see :class:`streams.kafka.topics.Routes`)."""

    score_changes: TopicT
    thresholds: TopicT | None
    dead_letters: TopicT | None
    scores: TopicT
    erasures_completed: TopicT | None
    conversion_scores: TopicT | None
    model_deployments: TopicT
    route_requests: TopicT | None = None  # ADR 039 (None: a shadow worker routes nothing)
    lead_routes: TopicT | None = None
    account_inputs: TopicT | None = None  # ADR 043 (None: a shadow worker rolls up nothing)
    account_score_changes: TopicT | None = None
    account_thresholds: TopicT | None = None
    account_scores: TopicT | None = None
    merges: TopicT | None = None  # identities (ADR 044): LeadMerged, the absorbed states, the absorbed ids' erasures
    absorptions: TopicT | None = None
    erasure_requests: TopicT | None = None

    @classmethod
    def of(
        cls,
        app: AppT,
        routes: Routes,
        model_deployments: str,
        absorptions: str | None = None,
        erasures: str | None = None,
    ) -> SendTopics:
        def topic(name: str) -> TopicT:
            return app.topic(name, key_type=bytes, value_type=bytes)

        def maybe(name: str | None) -> TopicT | None:
            return None if name is None else topic(name)

        return cls(
            topic(routes.score_changes),
            maybe(routes.thresholds),
            maybe(routes.dead_letters),
            topic(routes.scores),
            maybe(routes.erasures_completed),
            maybe(routes.conversion_scores),
            topic(model_deployments),
            maybe(routes.route_requests),
            maybe(routes.lead_routes),
            maybe(routes.account_inputs),
            maybe(routes.account_score_changes),
            maybe(routes.account_thresholds),
            maybe(routes.account_scores),
            maybe(routes.merges),
            maybe(absorptions),
            maybe(erasures),
        )

    def sent_to(self) -> list[TopicT]:
        """Every topic this worker sends to (the fields not None), in field order."""
        topics = [
            self.score_changes,
            self.thresholds,
            self.dead_letters,
            self.scores,
            self.erasures_completed,
            self.conversion_scores,
            self.model_deployments,
            self.route_requests,
            self.lead_routes,
            self.account_inputs,
            self.account_score_changes,
            self.account_thresholds,
            self.account_scores,
            self.merges,
            self.absorptions,
            self.erasure_requests,
        ]
        return [topic for topic in topics if topic is not None]


def event_message(event: EventT[bytes], headers: bool = False) -> Message:
    """Where a Faust event came from, with its key and value: raw bytes (every input topic is declared with
    ``key_type=bytes, value_type=bytes`` and the app's serializers are ``raw``), None for an empty one; and its
    headers when asked (a declared source's CloudEvents in binary mode)."""
    source = event.message
    key, value = event.key, event.value
    kept = message_headers(source.headers) if headers else ()
    return Message(
        source.topic,
        source.partition,
        source.offset,
        key if isinstance(key, bytes) else None,
        value if isinstance(value, bytes) else None,
        kept,
    )
