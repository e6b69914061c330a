"""A Kafka record's value (and headers) to the decoded record a mapping reads, per source format.

* ``json``: one JSON object per record.
* ``cloudevents``: a CloudEvent (spec 1.0) in either Kafka protocol binding mode: *structured* (the value is the
  event as JSON, content type ``application/cloudevents+json``) or *binary* (attributes in ``ce_*`` headers, the
  data in the value, its type in ``content-type``). Both decode to the same record: the attributes at the top
  level (``id``, ``type``, ``source``, ``time``, ``subject``, extensions) and the data under ``data`` (parsed when
  it is JSON), so one mapping serves both modes.
* ``avro``: Confluent-framed Avro with any writer's schema, looked up by its id in the Schema Registry
  (``LEADSCORE_SCHEMA_REGISTRY_URL``), decoded into a dict of the writer's fields.
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Callable, Sequence
from typing import Any

import orjson

from streams.errors import SourceMappingError
from streams.kafka.codec import AvroCodec

Headers = Sequence[tuple[str, bytes | None]]
Decoder = Callable[[bytes | None, Headers], Any]
REQUIRED_ATTRIBUTES = ("id", "source", "specversion", "type")


def decode_json(value: bytes | None, headers: Headers = ()) -> Any:
    if value is None:
        raise SourceMappingError("json: the record has no value")
    try:
        record = orjson.loads(value)
    except orjson.JSONDecodeError as exc:
        raise SourceMappingError(f"json: not valid JSON ({exc})"[:300]) from None
    if not isinstance(record, dict):
        raise SourceMappingError(f"json: expected an object, got {type(record).__name__}")
    return record


def decode_cloudevent(value: bytes | None, headers: Headers = ()) -> Any:
    attributes = {name[3:]: raw for name, raw in headers if name.startswith("ce_") and raw is not None}
    if not attributes:
        event = decode_json(value)
        if "specversion" not in event:
            raise SourceMappingError(
                "cloudevents: not a CloudEvent (no ce_specversion header for binary mode, no specversion in the JSON"
                " value for structured mode)"
            )
        if "data_base64" in event and "data" not in event:
            event["data"] = _data(_unbase64(event.pop("data_base64")), event.get("datacontenttype"))
        mode = "structured"
    else:
        event = {name: _header_text(name, raw) for name, raw in attributes.items()}
        content_type = next((_header_text(n, raw) for n, raw in headers if n.lower() == "content-type" and raw), None)
        if content_type is not None:
            event["datacontenttype"] = content_type
        if value is not None:
            event["data"] = _data(value, content_type)
        mode = "binary"
    missing = [name for name in REQUIRED_ATTRIBUTES if not event.get(name)]
    if missing:
        raise SourceMappingError(f"cloudevents ({mode} mode): required attribute {missing[0]} is missing")
    return event


def avro_decoder(codec: AvroCodec) -> Decoder:
    """Confluent-framed Avro of any schema the registry knows; the worker resolves unknown ids before decoding."""

    def decode_avro(value: bytes | None, headers: Headers = ()) -> Any:
        try:
            _, record = codec.decode(value)
        except SourceMappingError:
            raise
        except Exception as exc:  # DecodeError (framing, unknown id, corrupt body): the reason is its message
            raise SourceMappingError(f"avro: {exc}") from None
        return record

    return decode_avro


def _header_text(name: str, raw: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise SourceMappingError(f"cloudevents: header {name} is not UTF-8") from None


def _unbase64(text: Any) -> bytes:
    try:
        return base64.b64decode(str(text), validate=True)
    except (binascii.Error, ValueError):
        raise SourceMappingError("cloudevents: data_base64 is not base64") from None


def _data(raw: bytes, content_type: str | None) -> Any:
    """JSON data parsed (no content type, ``application/json`` or ``...+json``); anything else as text."""
    kind = (content_type or "application/json").split(";")[0].strip().lower()
    if kind == "application/json" or kind.endswith("+json") or kind == "text/json":
        try:
            return orjson.loads(raw)
        except orjson.JSONDecodeError as exc:
            raise SourceMappingError(f"cloudevents: data is not valid JSON ({exc})"[:300]) from None
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError:
        raise SourceMappingError(f"cloudevents: data of type {kind} is not UTF-8 text") from None
