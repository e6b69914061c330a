"""Schema ids for the Confluent wire format: what every registry offers, and the local registry file.

Without a Schema Registry URL, ``schemas/registry.json`` maps each wire id to an .avsc file; those ids are part of
the public contract and never change once published. With a URL, :mod:`streams.kafka.confluent_registry` registers
every contract under ``<topic>-value`` (Confluent's TopicNameStrategy) and the registry's ids are used (ADR 021).

Decoding looks ids up in memory only (:meth:`SchemaRegistry.by_id`); ids not seen yet are resolved beforehand,
outside the hot loop, with the awaitable :meth:`SchemaRegistry.resolve`.
"""

from __future__ import annotations

import json
from collections.abc import Collection
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol

import avro.schema
import fastavro
from fastavro.types import Schema as ParsedSchema

from schemas import LOCAL_REGISTRY_FILE
from streams.errors import SchemaRegistryError


@dataclass(frozen=True)
class RegisteredSchema:
    schema_id: int
    name: str  # record name, e.g. "LeadEvent"
    definition: dict[str, Any]  # the .avsc as JSON
    parsed: ParsedSchema  # fastavro's parsed schema (the writer's)
    reader: ParsedSchema  # what a message is decoded into: ``parsed``, or our contract of that name (ADR 021)

    def read_as(self, contract: RegisteredSchema) -> RegisteredSchema:
        """This writer's schema, decoded into ``contract`` by Avro's schema resolution (another version of it)."""
        return RegisteredSchema(self.schema_id, self.name, self.definition, self.parsed, contract.reader)


class SchemaRegistry(Protocol):
    """What the codec needs from a registry. ``by_id`` and ``by_name`` never wait for the network."""

    #: False when every id is known from the start (the local file): nothing to resolve before decoding
    resolves_ids: bool

    def by_id(self, schema_id: int) -> RegisteredSchema: ...

    def by_name(self, name: str) -> RegisteredSchema: ...

    def names(self) -> list[str]: ...

    async def start(self) -> None:
        """Be ready to encode (a Schema Registry: register the contracts)."""

    async def resolve(self, schema_ids: Collection[int]) -> None:
        """Look up the ids not seen yet, so that :meth:`by_id` answers for them from memory."""

    async def close(self) -> None: ...


class LocalSchemaRegistry:
    """Reads the registry file once; looks schemas up by wire id or by record name."""

    resolves_ids = False

    def __init__(self, path: Path | None = None) -> None:
        self.path = path or LOCAL_REGISTRY_FILE
        try:
            listing = json.loads(self.path.read_text(encoding="utf-8"))["schemas"]
        except (OSError, ValueError, KeyError) as exc:
            raise SchemaRegistryError(f"{self.path}: cannot read the schema registry file ({exc})") from None
        self._by_id: dict[int, RegisteredSchema] = {}
        self._by_name: dict[str, RegisteredSchema] = {}
        for raw_id, file_name in listing.items():
            entry = self._load(int(raw_id), self.path.parent / file_name)
            self._by_id[entry.schema_id] = entry
            self._by_name[entry.name] = entry

    @staticmethod
    def _load(schema_id: int, path: Path) -> RegisteredSchema:
        try:
            text = path.read_text(encoding="utf-8")
        except OSError as exc:
            raise SchemaRegistryError(f"{path}: cannot read ({exc.strerror})") from None
        return parse_schema(schema_id, text, source=str(path))

    def by_id(self, schema_id: int) -> RegisteredSchema:
        try:
            return self._by_id[schema_id]
        except KeyError:
            raise SchemaRegistryError(f"unknown schema id {schema_id}") from None

    def by_name(self, name: str) -> RegisteredSchema:
        try:
            return self._by_name[name]
        except KeyError:
            raise SchemaRegistryError(f"no schema named {name!r} in {self.path}") from None

    def names(self) -> list[str]:
        return sorted(self._by_name)

    async def start(self) -> None:
        """Nothing to do: the file was read at construction."""

    async def resolve(self, schema_ids: Collection[int]) -> None:
        """Nothing to do: an id that is not in the file is unknown."""

    async def close(self) -> None:
        """Nothing to release."""


def parse_schema(schema_id: int, text: str, source: str) -> RegisteredSchema:
    """Parse an .avsc text with both the reference library (it must accept it) and fastavro (for the hot path)."""
    try:
        definition = json.loads(text)
        avro.schema.parse(text)
        parsed = fastavro.parse_schema(definition)
        name = definition["name"]
    except (ValueError, KeyError, TypeError, avro.errors.AvroException, fastavro.schema.SchemaParseException) as exc:
        raise SchemaRegistryError(f"{source}: invalid Avro schema ({exc})") from None
    return RegisteredSchema(schema_id, name, definition, parsed, parsed)
