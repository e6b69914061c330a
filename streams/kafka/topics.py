"""leadscore's topics: names, partitioning and configs, and their creation with kafka-python's admin client.

Every topic is keyed by lead id, but the account topics (account id, ADR 043). Topics that hold latest state are
compacted. ``retention.ms``, ``retention.bytes`` and ``cleanup.policy`` are always set explicitly: some brokers
(Tansu) report only explicit configs, and clients that read the defaults would fail.
"""

from __future__ import annotations

from dataclasses import dataclass

from kafka.admin import KafkaAdminClient, NewTopic
from kafka.errors import KafkaError, TopicAlreadyExistsError

from streams.errors import BrokerError
from streams.kafka.access import check_access
from streams.kafka.registry import LocalSchemaRegistry, SchemaRegistry
from streams.kafka.security import kafka_python_config
from streams.settings import Settings

SEVEN_DAYS_MS = 7 * 24 * 3600 * 1000
ONE_DAY_MS = 24 * 3600 * 1000
FOREVER = -1


def rerouted_topic_name(settings: Settings) -> str:
    """The internal topic inputs not keyed or partitioned by lead id are forwarded to (ADR 005)."""
    return f"{settings.app_id}-rerouted"


def ticks_topic_name(settings: Settings) -> str:
    """The internal topic decay ticks go through, one per lead due (ADR 009)."""
    return f"{settings.app_id}-decay-ticks"


def absorptions_topic_name(settings: Settings) -> str:
    """The internal topic an absorbed lead's state goes through to the survivor's partition (ADR 044)."""
    return f"{settings.app_id}-absorptions"


def route_requests_topic_name(settings: Settings) -> str:
    """The internal topic of route requests (ADR 039): one partition, so that one agent assigns owners in one order."""
    return f"{settings.app_id}-route-requests"


def account_inputs_topic_name(settings: Settings) -> str:
    """The internal topic of member updates (ADR 043): keyed by account id, partitioned by the lead partitioner on
    it, so that each account's state lives on one partition."""
    return f"{settings.app_id}-account-inputs"


@dataclass(frozen=True)
class TopicSpec:
    name: str
    schema: str  # record name of the value schema
    compacted: bool
    retention_ms: int
    role: str  # "input", "output" or "internal"
    purpose: str
    partitions: int | None = None  # None: the settings' partitions (every topic but the route requests)

    def configs(self) -> dict[str, str]:
        return {
            "cleanup.policy": "compact" if self.compacted else "delete",
            "retention.ms": str(self.retention_ms),
            "retention.bytes": "-1",
        }


def topic_specs(settings: Settings) -> list[TopicSpec]:
    names = settings.topics
    return [
        TopicSpec(names.events, "LeadEvent", False, SEVEN_DAYS_MS, "input", "behavioural events"),
        TopicSpec(names.profiles, "LeadProfile", True, FOREVER, "input", "latest profile per lead"),
        TopicSpec(names.conversions, "Conversion", False, FOREVER, "input", "CRM outcomes"),
        TopicSpec(names.erasures, "LeadErasure", False, SEVEN_DAYS_MS, "input", "erasure requests"),
        TopicSpec(names.score_changes, "ScoreChanged", False, SEVEN_DAYS_MS, "output", "every score change"),
        TopicSpec(names.scores, "LeadScore", True, FOREVER, "output", "latest scores per lead"),
        TopicSpec(names.erasures_completed, "ErasureCompleted", False, FOREVER, "output", "erasures done"),
        TopicSpec(names.thresholds, "ThresholdCrossed", False, FOREVER, "output", "level crossings"),
        TopicSpec(names.dead_letters, "DeadLetter", False, SEVEN_DAYS_MS, "output", "rejected input"),
        TopicSpec(names.conversion_scores, "ConversionScored", False, FOREVER, "output", "outcomes with scores"),
        TopicSpec(names.shadow_score_changes, "ScoreChanged", False, SEVEN_DAYS_MS, "output", "shadow score changes"),
        TopicSpec(names.shadow_scores, "LeadScore", True, FOREVER, "output", "latest shadow scores per lead"),
        TopicSpec(names.model_deployments, "ModelDeployed", False, FOREVER, "output", "audit of model versions"),
        TopicSpec(names.lead_routes, "LeadRouted", False, FOREVER, "output", "leads routed to owners"),
        TopicSpec(names.account_score_changes, "AccountScoreChanged", False, SEVEN_DAYS_MS, "output", "account moves"),
        TopicSpec(names.account_thresholds, "AccountThresholdCrossed", False, FOREVER, "output", "account crossings"),
        TopicSpec(names.account_scores, "AccountScore", True, FOREVER, "output", "latest scores per account"),
        TopicSpec(names.identities, "LeadIdentity", False, FOREVER, "input", "identify and merge records"),
        TopicSpec(names.merges, "LeadMerged", False, FOREVER, "output", "merges done"),
    ]


def internal_topic_specs(settings: Settings) -> list[TopicSpec]:
    """The worker's internal plain topics, as its Faust app declares them (``streams.worker.wiring.InputTopics``).
    Created ahead of the worker, they are in the broker's metadata when its group first assigns partitions: a
    topic a worker declares at its first start may not be yet, and Faust's assignor then leaves it unassigned until
    the consumer's next metadata refresh (5 minutes)."""
    return [
        TopicSpec(rerouted_topic_name(settings), "", False, SEVEN_DAYS_MS, "internal", "misplaced inputs"),
        TopicSpec(ticks_topic_name(settings), "", False, ONE_DAY_MS, "internal", "decay ticks"),
        TopicSpec(route_requests_topic_name(settings), "", False, SEVEN_DAYS_MS, "internal", "route requests", 1),
        TopicSpec(account_inputs_topic_name(settings), "", False, SEVEN_DAYS_MS, "internal", "member updates"),
        TopicSpec(absorptions_topic_name(settings), "", False, SEVEN_DAYS_MS, "internal", "absorbed states"),
    ]


@dataclass(frozen=True)
class Routes:
    """Where a worker sends each kind of output; None: not sent (a shadow worker sends no crossings, no dead
    letters, no erasure receipts and no conversion joins: the live worker does)."""

    score_changes: str
    scores: str
    thresholds: str | None
    dead_letters: str | None
    erasures_completed: str | None
    conversion_scores: str | None
    route_requests: str | None = None  # level crossings to route (ADR 039), to the routing agent
    lead_routes: str | None = None  # its LeadRouted
    account_inputs: str | None = None  # member updates (ADR 043), to the account agent, keyed by account id
    account_score_changes: str | None = None  # the account agent's outputs
    account_thresholds: str | None = None
    account_scores: str | None = None
    merges: str | None = None  # LeadMerged (ADR 044; a shadow worker merges its own states but announces nothing)


def output_routes(settings: Settings) -> Routes:
    names = settings.topics
    if settings.shadow:
        return Routes(names.shadow_score_changes, names.shadow_scores, None, None, None, None)
    return Routes(
        names.score_changes,
        names.scores,
        names.thresholds,
        names.dead_letters,
        names.erasures_completed,
        names.conversion_scores,
        route_requests_topic_name(settings),
        names.lead_routes,
        account_inputs_topic_name(settings),
        names.account_score_changes,
        names.account_thresholds,
        names.account_scores,
        names.merges,
    )


def create_topics(
    settings: Settings, timeout_s: float = 30.0, sources: tuple[str, ...] = ()
) -> tuple[list[str], list[str]]:
    """Create every topic that is missing: leadscore's, the worker's internal rerouting and decay-ticks topics, and
    the declared sources' topics (``sources``) with lead-events' partitions and retention. Returns ``(created,
    already_there)``."""
    check_access(settings)
    try:
        admin = KafkaAdminClient(
            bootstrap_servers=settings.bootstrap_servers,
            client_id=f"{settings.app_id}-admin",
            request_timeout_ms=int(timeout_s * 1000),
            **kafka_python_config(settings),
            bootstrap_timeout_ms=int(timeout_s * 1000),
        )
    except KafkaError as exc:
        raise BrokerError(f"cannot reach {settings.bootstrap_servers}: {exc}") from None
    created: list[str] = []
    existing: list[str] = []
    try:
        present = set(admin.list_topics())
        declared = [TopicSpec(name, "", False, SEVEN_DAYS_MS, "input", "declared source") for name in sources]
        for spec in [*topic_specs(settings), *internal_topic_specs(settings), *declared]:
            if spec.name in present:
                existing.append(spec.name)
                continue
            partitions = spec.partitions or settings.partitions
            topic = NewTopic(spec.name, partitions, settings.replication_factor, topic_configs=spec.configs())
            try:
                admin.create_topics([topic])
                created.append(spec.name)
            except TopicAlreadyExistsError:
                existing.append(spec.name)
    except KafkaError as exc:
        raise BrokerError(f"creating topics on {settings.bootstrap_servers} failed: {exc}") from None
    finally:
        admin.close()
    return created, existing


def schema_registry(settings: Settings) -> SchemaRegistry:
    """The local registry file; with a Schema Registry URL, a client that registers each contract as
    ``<topic>-value`` when started. No request is made here: the worker awaits ``start()`` (ADR 021)."""
    local = LocalSchemaRegistry(settings.schema_registry_file)
    if settings.schema_registry_url is None:
        return local
    from streams.kafka.confluent_registry import ConfluentSchemaRegistry  # confluent-kafka: only when configured

    subjects: dict[str, str] = {}
    for spec in topic_specs(settings):  # a contract used by two topics (shadow ones) registers under the first
        subjects.setdefault(spec.schema, f"{spec.name}-value")
    return ConfluentSchemaRegistry(settings, subjects, local)
