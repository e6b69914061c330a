"""One typed, frozen settings object for the whole worker, read from ``LEADSCORE_*`` environment variables."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any, Literal
from urllib.parse import urlsplit

from pydantic import Field, SecretStr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, NoDecode, SettingsConfigDict

from scoring.examples import example_model_path
from streams.errors import SettingsError

DEFAULT_APP_ID = "leadscore"


def _split_paths(value: object) -> object:
    if isinstance(value, str):
        return [Path(part) for part in value.replace(",", ":").split(":") if part.strip()]
    return value


class TopicNames(BaseSettings):
    """Names of leadscore's topics (``LEADSCORE_TOPIC_EVENTS=...``)."""

    model_config = SettingsConfigDict(env_prefix="LEADSCORE_TOPIC_", frozen=True)

    events: str = "lead-events"
    profiles: str = "lead-profiles"
    conversions: str = "lead-conversions"
    erasures: str = "lead-erasures"
    score_changes: str = "lead-score-changes"
    scores: str = "lead-scores"
    erasures_completed: str = "lead-erasures-completed"
    thresholds: str = "lead-thresholds"
    dead_letters: str = "lead-events-dlq"
    conversion_scores: str = "lead-conversion-scores"
    shadow_score_changes: str = "lead-shadow-score-changes"
    shadow_scores: str = "lead-shadow-scores"
    model_deployments: str = "lead-model-deployments"
    lead_routes: str = "lead-routes"
    account_score_changes: str = "account-score-changes"
    account_thresholds: str = "account-thresholds"
    account_scores: str = "account-scores"
    identities: str = "lead-identities"  # identify and merge records (ADR 044)
    merges: str = "lead-merges"


class Settings(BaseSettings):
    """Everything a worker needs. Every field can be set as ``LEADSCORE_<FIELD>`` (upper case)."""

    # hide_input_in_errors: a rejected value (a password, a URL with credentials) never appears in an error message
    model_config = SettingsConfigDict(env_prefix="LEADSCORE_", frozen=True, extra="ignore", hide_input_in_errors=True)

    app_id: str = Field(DEFAULT_APP_ID, description="Kafka consumer group and changelog prefix.")
    bootstrap_servers: str = Field("127.0.0.1:9092", description="Comma-separated host:port list.")
    model_paths: Annotated[list[Path], NoDecode] = Field(
        default_factory=lambda: [example_model_path("b2b")],
        description="Model YAML files, separated by ':' or ','.",
    )
    sources_path: Path | None = Field(
        None,
        description="Sources file: more input topics (JSON, CloudEvents, any Avro) and how their records map to "
        "lead events and profiles (ADR 035); unset: lead-events and lead-profiles only.",
    )
    partitions: int = Field(4, ge=1, description="Partitions of every topic leadscore creates.")
    replication_factor: int = Field(1, ge=1)
    store: str = Field("rocksdb://", description="Faust table store: rocksdb:// (durable, default) or memory://.")
    standby_replicas: int = Field(1, ge=0, description="Standby copies of each table partition on other workers.")
    data_dir: Path = Field(Path(".leadscore-data"), description="Where the worker keeps local table state.")
    web_host: str = "127.0.0.1"
    web_port: int = Field(6066, ge=1, le=65535, description="Port of /metrics and the query API.")
    web_advertised_url: str | None = Field(
        None, description="URL other workers reach this one at (default http://WEB_HOST:WEB_PORT)."
    )
    api_token: SecretStr | None = Field(None, description="Bearer token required by /leads (unset: open).")
    session_timeout_s: float = Field(30.0, gt=0, description="Consumer session timeout; rebalances take half.")
    heartbeat_interval_s: float = Field(3.0, gt=0)
    decay_tick_s: float = Field(60.0, gt=0, description="How often each worker emits decay-driven crossings.")
    batch_max: int = Field(
        2000,
        ge=0,
        description="Fast path: score lead-events in batches of up to this many messages (0: one Faust event at a "
        "time, the textbook path; ADR 013).",
    )
    live_states: int = Field(
        50_000,
        ge=1,
        description="Fast path: how many leads' decoded states to keep live between batches (ADR 033; about 3 KB "
        "of memory each); the rest are read from the store when they next have an event.",
    )
    batch_linger_ms: float = Field(
        5.0, ge=0, description="Fast path: how long a batch may wait to fill up to batch_max (adds that much latency)."
    )
    fetch_max_wait_ms: int = Field(
        100,
        ge=1,
        le=10_000,
        description="Longest the broker may hold a fetch with nothing new (Kafka answers as soon as data arrives; "
        "Faust's own default is 1,500 ms; ADR 014).",
    )
    model_reload_s: float = Field(
        10.0, ge=0, description="How often to look for changed model files (0: only on SIGHUP); ADR 015."
    )
    shadow: bool = Field(
        False,
        description="Shadow mode: score into lead-shadow-score-changes and lead-shadow-scores, emit no crossings "
        "and no dead letters (give it an app_id of its own: its own consumer group and state).",
    )
    join_conversions: bool = Field(
        True,
        description="Consume lead-conversions and keep each lead's score trail for the join (ADR 017); false saves "
        "the trail's cost (11 % of throughput in our quick benchmark) where no outcomes are sent.",
    )
    page_moves: int = Field(
        24,
        ge=0,
        le=500,
        description="Score changes and crossings kept per lead and model for the lead page /ui/leads/{id} (ADR 040); "
        "0 keeps none (smaller states; the page then draws only the present and the projection).",
    )
    conversion_lead_time_s: float = Field(
        7 * 86_400.0, ge=0, description="Conversions are joined to the score the lead had this long before them."
    )
    processing_guarantee: Literal["at_least_once", "exactly_once"] = Field(
        "at_least_once",
        description="at_least_once (default): outputs, then state, then the input offset, idempotent on replay (ADR "
        "008); exactly_once: each batch of an input partition is one Kafka transaction holding its outputs, changelog "
        "records and input offsets, for read_committed consumers (needs a broker with transactions; ADR 024).",
    )
    uvloop: bool = Field(True, description="Run the worker on uvloop (faster event loop) instead of asyncio's.")
    producer_linger_ms: int = Field(5, ge=0, description="How long the producer waits to fill a batch (ms).")
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        "PLAINTEXT", description="How to talk to the brokers."
    )
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] = "PLAIN"
    sasl_username: str | None = None
    sasl_password: SecretStr | None = None
    ssl_cafile: Path | None = Field(None, description="CA bundle to verify the brokers (default: system CAs).")
    ssl_certfile: Path | None = Field(None, description="Client certificate for mutual TLS.")
    ssl_keyfile: Path | None = Field(None, description="Client key for mutual TLS.")
    ssl_check_hostname: bool = True
    log_level: str = Field("WARNING", pattern="^(DEBUG|INFO|WARNING|ERROR)$")
    schema_registry_file: Path | None = Field(None, description="Local registry file; default: the shipped one.")
    schema_registry_url: str | None = Field(
        None, description="Confluent-compatible Schema Registry (comma-separated URLs for fail-over); ids from it."
    )
    schema_registry_user_info: SecretStr | None = Field(
        None, description="Schema Registry basic auth, as user:password (Confluent's basic.auth.user.info)."
    )
    schema_registry_ssl_cafile: Path | None = Field(
        None, description="CA bundle to verify the Schema Registry (default: certifi's CAs)."
    )
    schema_registry_ssl_certfile: Path | None = Field(None, description="Client certificate for the registry.")
    schema_registry_ssl_keyfile: Path | None = Field(None, description="Client key for the registry (unencrypted).")
    schema_registry_timeout_s: float = Field(10.0, gt=0, description="Timeout of one Schema Registry request.")
    schema_registry_retries: int = Field(
        5, ge=0, description="Retries of a failed Schema Registry request (down, 5xx) before the worker gives up."
    )
    schema_registry_retry_backoff_ms: int = Field(
        500, ge=0, description="Longest wait before the first retry; doubles at each retry (random jitter)."
    )
    schema_registry_unknown_id_ttl_s: float = Field(
        300.0, gt=0, description="How long an id the registry does not know is remembered as unknown."
    )
    topics: TopicNames = Field(default_factory=TopicNames)

    @model_validator(mode="after")
    def _shadow_has_its_own_group(self) -> Settings:
        if self.shadow and self.app_id == DEFAULT_APP_ID:
            raise ValueError(
                "a shadow worker needs its own LEADSCORE_APP_ID (e.g. leadscore-shadow): with the live one it would"
                " join the live consumer group and write the live changelog"
            )
        return self

    @model_validator(mode="after")
    def _exactly_once_needs_the_fast_path(self) -> Settings:
        if self.processing_guarantee == "exactly_once" and self.batch_max == 0:
            raise ValueError(
                "LEADSCORE_PROCESSING_GUARANTEE=exactly_once needs the fast path (LEADSCORE_BATCH_MAX > 0): the"
                " per-event agent writes through Faust's producer, outside any transaction"
            )
        return self

    @field_validator("schema_registry_url")
    @classmethod
    def _no_credentials_in_the_url(cls, value: str | None) -> str | None:
        if value is not None and any("@" in urlsplit(url.strip()).netloc for url in value.split(",")):
            raise ValueError("put the credentials in LEADSCORE_SCHEMA_REGISTRY_USER_INFO, not in the URL")
        return value

    @field_validator("schema_registry_user_info")
    @classmethod
    def _user_and_password(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None and ":" not in value.get_secret_value():
            raise ValueError("must be user:password")
        return value

    @model_validator(mode="after")
    def _registry_key_needs_its_certificate(self) -> Settings:
        if self.schema_registry_ssl_keyfile is not None and self.schema_registry_ssl_certfile is None:
            raise ValueError("LEADSCORE_SCHEMA_REGISTRY_SSL_KEYFILE needs LEADSCORE_SCHEMA_REGISTRY_SSL_CERTFILE")
        return self

    @field_validator("model_paths", mode="before")
    @classmethod
    def _paths_from_text(cls, value: object) -> object:
        return _split_paths(value)

    @property
    def exactly_once(self) -> bool:
        """Whether the fast path writes each input partition's batch as one Kafka transaction (ADR 024)."""
        return self.processing_guarantee == "exactly_once"

    @property
    def advertised_url(self) -> str:
        return self.web_advertised_url or f"http://{self.web_host}:{self.web_port}"

    @property
    def broker_url(self) -> str:
        """The broker list in Faust's ``kafka://host:port;host:port`` form."""
        return ";".join(f"kafka://{server.strip()}" for server in self.bootstrap_servers.split(","))

    def to_env(self) -> dict[str, str]:
        """The environment variables that reproduce these settings in a child process."""
        env = {
            "LEADSCORE_APP_ID": self.app_id,
            "LEADSCORE_BOOTSTRAP_SERVERS": self.bootstrap_servers,
            "LEADSCORE_MODEL_PATHS": ":".join(str(path) for path in self.model_paths),
            "LEADSCORE_PARTITIONS": str(self.partitions),
            "LEADSCORE_REPLICATION_FACTOR": str(self.replication_factor),
            "LEADSCORE_STORE": self.store,
            "LEADSCORE_STANDBY_REPLICAS": str(self.standby_replicas),
            "LEADSCORE_DATA_DIR": str(self.data_dir),
            "LEADSCORE_WEB_HOST": self.web_host,
            "LEADSCORE_WEB_PORT": str(self.web_port),
            "LEADSCORE_SESSION_TIMEOUT_S": str(self.session_timeout_s),
            "LEADSCORE_HEARTBEAT_INTERVAL_S": str(self.heartbeat_interval_s),
            "LEADSCORE_LOG_LEVEL": self.log_level,
            "LEADSCORE_DECAY_TICK_S": str(self.decay_tick_s),
            "LEADSCORE_BATCH_MAX": str(self.batch_max),
            "LEADSCORE_LIVE_STATES": str(self.live_states),
            "LEADSCORE_PRODUCER_LINGER_MS": str(self.producer_linger_ms),
            "LEADSCORE_BATCH_LINGER_MS": str(self.batch_linger_ms),
            "LEADSCORE_FETCH_MAX_WAIT_MS": str(self.fetch_max_wait_ms),
            "LEADSCORE_UVLOOP": str(self.uvloop).lower(),
            "LEADSCORE_PROCESSING_GUARANTEE": self.processing_guarantee,
            "LEADSCORE_MODEL_RELOAD_S": str(self.model_reload_s),
            "LEADSCORE_SHADOW": str(self.shadow).lower(),
            "LEADSCORE_JOIN_CONVERSIONS": str(self.join_conversions).lower(),
            "LEADSCORE_CONVERSION_LEAD_TIME_S": str(self.conversion_lead_time_s),
            "LEADSCORE_PAGE_MOVES": str(self.page_moves),
            **({"LEADSCORE_WEB_ADVERTISED_URL": self.web_advertised_url} if self.web_advertised_url else {}),
            **({"LEADSCORE_API_TOKEN": self.api_token.get_secret_value()} if self.api_token else {}),
        }
        for name in ("security_protocol", "sasl_mechanism", "ssl_check_hostname"):
            env[f"LEADSCORE_{name.upper()}"] = str(getattr(self, name))
        for name in ("sasl_username", "ssl_cafile", "ssl_certfile", "ssl_keyfile", "sources_path"):
            if getattr(self, name) is not None:
                env[f"LEADSCORE_{name.upper()}"] = str(getattr(self, name))
        if self.sasl_password is not None:
            env["LEADSCORE_SASL_PASSWORD"] = self.sasl_password.get_secret_value()
        env.update(self._schema_registry_env())
        for name, value in self.topics.model_dump().items():
            env[f"LEADSCORE_TOPIC_{name.upper()}"] = value
        return env

    def _schema_registry_env(self) -> dict[str, str]:
        env = {
            f"LEADSCORE_{name.upper()}": str(getattr(self, name))
            for name in (
                "schema_registry_timeout_s",
                "schema_registry_retries",
                "schema_registry_retry_backoff_ms",
                "schema_registry_unknown_id_ttl_s",
            )
        }
        for name in (
            "schema_registry_url",
            "schema_registry_file",
            "schema_registry_ssl_cafile",
            "schema_registry_ssl_certfile",
            "schema_registry_ssl_keyfile",
        ):
            if getattr(self, name) is not None:
                env[f"LEADSCORE_{name.upper()}"] = str(getattr(self, name))
        if self.schema_registry_user_info is not None:
            env["LEADSCORE_SCHEMA_REGISTRY_USER_INFO"] = self.schema_registry_user_info.get_secret_value()
        return env


def load_settings(**overrides: Any) -> Settings:  # Any: pydantic validates them (and BaseSettings' own options)
    """Settings from the environment plus ``overrides``; invalid values raise :class:`SettingsError`."""
    try:
        return Settings(**overrides)
    except ValidationError as exc:
        first = exc.errors()[0]
        field = ".".join(str(part) for part in first["loc"])
        message = first["msg"].removeprefix("Value error, ")
        raise SettingsError(f"LEADSCORE_{field.upper()}: {message}" if field else message) from None
