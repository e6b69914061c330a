"""Schema ids for the Confluent wire format, from the local registry file (schemas/registry.json).

The file maps each wire id to an .avsc file. Ids are part of the public contract: other teams' producers write
them, so an id never changes once published.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import avro.schema
import fastavro

from schemas import LOCAL_REGISTRY_FILE
from streams.errors import SchemaRegistryError


@dataclass(frozen=True)
class RegisteredSchema:
    schema_id: int
    name: str  # record name, e.g. "LeadEvent"
    definition: dict[str, Any]  # the .avsc as JSON
    parsed: Any  # fastavro's parsed schema


class LocalSchemaRegistry:
    """Reads the registry file once; looks schemas up by wire id or by record name."""

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
            definition = json.loads(text)
            avro.schema.parse(text)  # the reference implementation must accept every contract
            parsed = fastavro.parse_schema(definition)
        except (OSError, ValueError, avro.errors.AvroException, fastavro.schema.SchemaParseException) as exc:
            raise SchemaRegistryError(f"{path}: invalid Avro schema ({exc})") from None
        return RegisteredSchema(schema_id, definition["name"], definition, parsed)

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
