"""A Confluent-compatible Schema Registry (Confluent, Karapace, Redpanda, Apicurio's ccompat API), through
confluent-kafka's schema registry clients (ADR 021).

Only the id <-> schema resolution goes through the client; fastavro still encodes and decodes (ADR 002). Nothing
here waits for the network on the worker's hot path:

* :meth:`ConfluentSchemaRegistry.start` registers each contract under its subject (``<topic>-value``) before the
  worker encodes anything; registering the same schema again returns the same id.
* :meth:`ConfluentSchemaRegistry.resolve` looks up, before a batch is scored and outside the state lock, the ids
  the worker has not seen; :meth:`by_id` then answers from memory. Ids the registry does not know go into a
  bounded negative cache (an LRU with a time to live): a hostile stream costs one request per id per TTL and a
  fixed amount of memory, and its messages become dead letters.
* A registry that does not answer (after the client's own retries with backoff) or refuses the credentials
  raises :class:`SchemaRegistryUnavailableError`: one line naming the URL and the setting to check.

Called where no event loop runs (the command-line tools), :meth:`by_id` and :meth:`by_name` look up what they miss
themselves, blocking, through the synchronous client; inside a running loop they never do.

This module imports confluent-kafka's client, so it is imported only when a registry URL is configured.
"""

from __future__ import annotations

import asyncio
import json
import time
from collections.abc import Callable, Collection, Mapping
from typing import TypeVar

from cachetools import TTLCache
from confluent_kafka.schema_registry import AsyncSchemaRegistryClient, Schema, SchemaRegistryClient
from confluent_kafka.schema_registry.error import SchemaRegistryError as RegistryReply

from streams.errors import SchemaRegistryError, SchemaRegistryUnavailableError
from streams.kafka.registry import LocalSchemaRegistry, RegisteredSchema, parse_schema
from streams.settings import Settings

UNKNOWN_IDS_MAX = 10_000  # ids remembered as unknown: a few MB at most, however hostile the input
LOOKUPS_AT_ONCE = 8  # concurrent lookups of new ids (a batch of random ids must not flood the registry)
RETRY_WAIT_MAX_MS = 10_000
_REFUSED = (401, 403)
ClientConfig = dict[str, str | int | float]
Client = TypeVar("Client", AsyncSchemaRegistryClient, SchemaRegistryClient)


def client_config(settings: Settings) -> ClientConfig:
    """The clients' configuration (confluent-kafka's property names) from ``LEADSCORE_SCHEMA_REGISTRY_*``."""
    if settings.schema_registry_url is None:
        raise SchemaRegistryError("LEADSCORE_SCHEMA_REGISTRY_URL is not set")
    config: ClientConfig = {
        "url": settings.schema_registry_url,
        "timeout": settings.schema_registry_timeout_s,
        "max.retries": settings.schema_registry_retries,
        "retries.wait.ms": settings.schema_registry_retry_backoff_ms,
        "retries.max.wait.ms": RETRY_WAIT_MAX_MS,
    }
    if settings.schema_registry_user_info is not None:
        config["basic.auth.user.info"] = settings.schema_registry_user_info.get_secret_value()
    files = {
        "ssl.ca.location": settings.schema_registry_ssl_cafile,
        "ssl.certificate.location": settings.schema_registry_ssl_certfile,
        "ssl.key.location": settings.schema_registry_ssl_keyfile,
    }
    config.update({name: str(path) for name, path in files.items() if path is not None})
    return config


class ConfluentSchemaRegistry:
    """Contract ids from a Schema Registry; other ids resolved before decoding and cached (see the module text).

    ``subjects`` maps each contract's record name to the subject it is registered under. Construction reads the
    local contracts and the TLS files but makes no request.
    """

    resolves_ids = True

    def __init__(
        self,
        settings: Settings,
        subjects: Mapping[str, str],
        local: LocalSchemaRegistry | None = None,
        *,
        unknown_ids_max: int = UNKNOWN_IDS_MAX,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.local = local or LocalSchemaRegistry(settings.schema_registry_file)
        self.url = settings.schema_registry_url or ""
        self._secret = settings.schema_registry_user_info
        self._subjects = dict(subjects)
        self._retries = settings.schema_registry_retries  # for the error messages
        self._config = client_config(settings)
        self._client = self._new_client(AsyncSchemaRegistryClient)
        self._blocking_client: SchemaRegistryClient | None = None  # for callers without an event loop
        self._by_id: dict[int, RegisteredSchema] = {}
        self._by_name: dict[str, RegisteredSchema] = {}
        self._unknown: TTLCache[int, str] = TTLCache(unknown_ids_max, settings.schema_registry_unknown_id_ttl_s, clock)
        self._starting = asyncio.Lock()
        self._resolving = asyncio.Lock()

    # ---- from memory: what the codec calls for every message ------------------------------------------------

    def by_id(self, schema_id: int) -> RegisteredSchema:
        entry = self._by_id.get(schema_id)
        if entry is None and schema_id not in self._unknown and _no_running_loop():
            self._look_up_blocking(schema_id)
            entry = self._by_id.get(schema_id)
        if entry is not None:
            return entry
        reason = self._unknown.get(schema_id, "not looked up before decoding")
        raise SchemaRegistryError(f"unknown schema id {schema_id} ({reason})")

    def by_name(self, name: str) -> RegisteredSchema:
        if not self._by_name and _no_running_loop():
            self._register_blocking()
        entry = self._by_name.get(name)
        if entry is not None:
            return entry
        if not self._by_name:
            raise SchemaRegistryError(
                f"the contracts are not registered with {self.url} yet: the worker awaits registry.start() at"
                " start-up, before it encodes anything (ADR 021)"
            )
        raise SchemaRegistryError(f"no schema named {name!r} is registered with {self.url}")

    def names(self) -> list[str]:
        return self.local.names()

    def unknown_ids(self) -> int:
        """How many ids are remembered as unknown now (at most ``unknown_ids_max``)."""
        return len(self._unknown)

    # ---- over the network, awaited: at start-up, and before a batch ----------------------------------------

    async def start(self) -> None:
        """Register every contract under its subject (the first call; later ones return at once)."""
        async with self._starting:
            if self._by_name:
                return
            registered: dict[str, RegisteredSchema] = {}
            for name, subject in self._subjects.items():
                try:
                    schema_id = await self._client.register_schema(subject, self._contract(name))
                except Exception as exc:  # a refusal, or the transport's failure after the client's retries
                    raise self._registration_failed(name, subject, exc) from None
                registered[name] = self._registered(name, schema_id)
            self._keep_registered(registered)

    async def resolve(self, schema_ids: Collection[int]) -> None:
        """Look up every id of ``schema_ids`` neither known nor remembered as unknown (a few at a time)."""
        async with self._resolving:
            new = [i for i in schema_ids if i not in self._by_id and i not in self._unknown]
            if not new:
                return
            await self.start()
            for first in range(0, len(new), LOOKUPS_AT_ONCE):
                await asyncio.gather(*(self._look_up(i) for i in new[first : first + LOOKUPS_AT_ONCE]))

    async def close(self) -> None:
        await self._client.aclose()
        if self._blocking_client is not None:
            self._blocking_client.close()

    async def _look_up(self, schema_id: int) -> None:
        try:
            schema = await self._client.get_schema(schema_id)
        except Exception as exc:  # as in start()
            self._not_found(schema_id, exc)
            return
        self._keep(schema_id, schema)

    # ---- over the network, blocking: for the command-line tools (no event loop) ----------------------------

    def _register_blocking(self) -> None:
        client = self._blocking()
        registered: dict[str, RegisteredSchema] = {}
        for name, subject in self._subjects.items():
            try:
                schema_id = client.register_schema(subject, self._contract(name))
            except Exception as exc:  # as in start()
                raise self._registration_failed(name, subject, exc) from None
            registered[name] = self._registered(name, schema_id)
        self._keep_registered(registered)

    def _look_up_blocking(self, schema_id: int) -> None:
        try:
            schema = self._blocking().get_schema(schema_id)
        except Exception as exc:  # as in start()
            self._not_found(schema_id, exc)
            return
        self._keep(schema_id, schema)

    def _blocking(self) -> SchemaRegistryClient:
        if self._blocking_client is None:
            self._blocking_client = self._new_client(SchemaRegistryClient)
        return self._blocking_client

    # ---- what both share ------------------------------------------------------------------------------------

    def _new_client(self, kind: Callable[[ClientConfig], Client]) -> Client:
        try:
            return kind(self._config)
        except (ValueError, TypeError, OSError) as exc:  # a bad URL, unreadable CA/certificate/key file
            raise SchemaRegistryError(
                self._line(f"cannot set up the Schema Registry client for {self.url}: {exc}")
            ) from None

    def _contract(self, name: str) -> Schema:
        return Schema(json.dumps(self.local.by_name(name).definition), "AVRO")

    def _registered(self, name: str, schema_id: int) -> RegisteredSchema:
        contract = self.local.by_name(name)
        return RegisteredSchema(schema_id, name, contract.definition, contract.parsed, contract.reader)

    def _keep_registered(self, registered: dict[str, RegisteredSchema]) -> None:
        self._by_id.update((entry.schema_id, entry) for entry in registered.values())
        self._by_name = registered

    def _keep(self, schema_id: int, schema: Schema) -> None:
        if schema.schema_type != "AVRO" or schema.schema_str is None:
            self._unknown[schema_id] = f"a {schema.schema_type} schema, not Avro"
            return
        try:
            entry = parse_schema(schema_id, schema.schema_str, source=f"{self.url} id {schema_id}")
        except SchemaRegistryError as exc:
            self._unknown[schema_id] = str(exc)
            return
        if entry.name in self.local.names():  # another version of one of our contracts: read into ours
            entry = entry.read_as(self.local.by_name(entry.name))
        self._by_id[schema_id] = entry

    def _not_found(self, schema_id: int, failure: Exception) -> None:
        """Remember an id the registry answered it does not have; raise on anything else."""
        if not isinstance(failure, RegistryReply) or failure.http_status_code in _REFUSED:
            raise self._unavailable(failure) from None
        if failure.http_status_code >= 500:  # still failing after the client's retries
            raise self._unavailable(failure) from None
        self._unknown[schema_id] = f"HTTP {failure.http_status_code} from {self.url}"

    # ---- error messages: one line, the URL, what to check; never the secret ---------------------------------

    def _registration_failed(self, name: str, subject: str, failure: Exception) -> SchemaRegistryError:
        if not isinstance(failure, RegistryReply) or failure.http_status_code in _REFUSED:
            return self._unavailable(failure)
        if failure.http_status_code >= 500:  # still failing after the client's retries
            return self._unavailable(failure)
        what = f"{self.url} refused {name} under {subject} ({failure})"  # 409: incompatible with the subject
        return SchemaRegistryError(self._line(f"{what}: check the subject's compatibility setting"))

    def _unavailable(self, failure: Exception) -> SchemaRegistryUnavailableError:
        attempts = self._retries + 1
        tried = f"after {attempts} attempt{'' if attempts == 1 else 's'}"
        todo = "check LEADSCORE_SCHEMA_REGISTRY_URL and that the registry is up"
        if self.url.startswith("https"):
            todo += ", and LEADSCORE_SCHEMA_REGISTRY_SSL_*"
        if isinstance(failure, RegistryReply) and failure.http_status_code in _REFUSED:
            what = f"Schema Registry {self.url} refused the credentials (HTTP {failure.http_status_code})"
            todo = "check LEADSCORE_SCHEMA_REGISTRY_USER_INFO"
        elif isinstance(failure, RegistryReply):
            what = f"Schema Registry {self.url} failed {tried} ({failure})"
        else:
            detail = f"{type(failure).__name__}: {failure}".removesuffix(": ")
            what = f"Schema Registry {self.url} did not answer {tried} ({detail})"
            if "CERTIFICATE" in detail.upper():
                todo = "check LEADSCORE_SCHEMA_REGISTRY_SSL_CAFILE, _SSL_CERTFILE and _SSL_KEYFILE"
        return SchemaRegistryUnavailableError(self._line(f"{what}: {todo}, then start again"))

    def _line(self, text: str) -> str:
        line = " ".join(text.split())
        if self._secret is not None:
            secret = self._secret.get_secret_value()
            for part in {secret, secret.split(":", 1)[-1]} - {""}:
                line = line.replace(part, "***")
        return line


def _no_running_loop() -> bool:
    """True in the command-line tools, where a blocking lookup is fine; False in the worker, where it never is."""
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return True
    return False
