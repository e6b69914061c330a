"""An independent reader of leadscore's wire format, built on the Apache `avro` reference library."""

from __future__ import annotations

import io
import json
import struct
from functools import cache
from typing import Any

import avro.io
import avro.schema

from schemas import SCHEMAS_DIR


@cache
def _schema(schema_id: int) -> Any:
    files = json.loads((SCHEMAS_DIR / "registry.json").read_text())["schemas"]
    return avro.schema.parse((SCHEMAS_DIR / files[str(schema_id)]).read_text())


def reference_decode(data: bytes) -> tuple[str, dict[str, Any]]:
    """Return ``(record name, record)`` of a Confluent-framed Avro message."""
    magic, schema_id = struct.unpack(">bI", data[:5])
    assert magic == 0, f"magic byte {magic}"
    schema = _schema(schema_id)
    record = avro.io.DatumReader(schema).read(avro.io.BinaryDecoder(io.BytesIO(data[5:])))
    return schema.name, record
