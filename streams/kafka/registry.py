"""Schema ids for the Confluent wire format: from the local registry file, or from a Schema Registry.

Without a Schema Registry URL, ``schemas/registry.json`` maps each wire id to an .avsc file; those ids are part of
the public contract and never change once published. With a URL, every contract is registered under
``<topic>-value`` (Confluent's TopicNameStrategy) and the registry's ids are used.
"""

from __future__ import annotations

import json
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Mapping
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


def parse_schema(schema_id: int, text: str, source: str) -> RegisteredSchema:
    """Parse an .avsc text with both the reference library (it must accept it) and fastavro (for the hot path)."""
    try:
        definition = json.loads(text)
        avro.schema.parse(text)
        parsed = fastavro.parse_schema(definition)
    except (ValueError, avro.errors.AvroException, fastavro.schema.SchemaParseException) as exc:
        raise SchemaRegistryError(f"{source}: invalid Avro schema ({exc})") from None
    return RegisteredSchema(schema_id, definition["name"], definition, parsed)


class HttpSchemaRegistry(LocalSchemaRegistry):
    """A Confluent-compatible Schema Registry (Confluent, Karapace, Redpanda, Apicurio's ccompat API).

    At start-up each contract of ``subjects`` (record name -> subject) is registered, which returns its id (the
    same id when it is already registered). Ids read from messages that are not ours are fetched once and cached;
    unknown ids are cached too, so hostile input does not turn into one HTTP call per message.
    """

    MAX_UNKNOWN_IDS = 10_000

    def __init__(
        self, url: str, subjects: Mapping[str, str], local: LocalSchemaRegistry | None = None, timeout_s: float = 10
    ) -> None:
        local = local or LocalSchemaRegistry()
        self.path = local.path
        self.url = url.rstrip("/")
        self.timeout_s = timeout_s
        self._by_id = {}
        self._by_name = {}
        self._unknown: set[int] = set()
        for name, subject in subjects.items():
            contract = local.by_name(name)
            body = {"schemaType": "AVRO", "schema": json.dumps(contract.definition)}
            reply = self._call("POST", f"/subjects/{urllib.parse.quote(subject, safe='')}/versions", body)
            entry = RegisteredSchema(int(reply["id"]), name, contract.definition, contract.parsed)
            self._by_id[entry.schema_id] = entry
            self._by_name[name] = entry

    def by_id(self, schema_id: int) -> RegisteredSchema:
        entry = self._by_id.get(schema_id)
        if entry is not None:
            return entry
        if schema_id in self._unknown:
            raise SchemaRegistryError(f"unknown schema id {schema_id}")
        try:
            reply = self._call("GET", f"/schemas/ids/{schema_id}")
        except SchemaRegistryError:
            if len(self._unknown) < self.MAX_UNKNOWN_IDS:
                self._unknown.add(schema_id)
            raise SchemaRegistryError(f"unknown schema id {schema_id}") from None
        entry = parse_schema(schema_id, reply["schema"], source=f"{self.url} id {schema_id}")
        self._by_id[schema_id] = entry
        return entry

    def _call(self, method: str, path: str, body: object = None) -> dict[str, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(
            self.url + path,
            data=data,
            method=method,
            headers={"Content-Type": "application/vnd.schemaregistry.v1+json", "Accept": "application/json"},
        )
        try:
            with urllib.request.urlopen(request, timeout=self.timeout_s) as response:
                reply: dict[str, Any] = json.loads(response.read())
                return reply
        except urllib.error.HTTPError as exc:
            raise SchemaRegistryError(f"{method} {self.url}{path}: HTTP {exc.code} {exc.reason}") from None
        except (urllib.error.URLError, OSError, ValueError) as exc:
            raise SchemaRegistryError(f"{method} {self.url}{path}: {exc}") from None
