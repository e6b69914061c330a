"""A seeded fuzzer of malformed ``lead-events`` messages, one kind after another.

Every message it returns is checked with the oracle's independent classifier (Apache ``avro`` reference decoder and
the domain's ``check_event``): a mutation that happens to give a scorable event is thrown away, so each message
returned must end in the dead-letter topic.
"""

from __future__ import annotations

import copy
import io
import json
import random
import struct
from collections.abc import Callable
from typing import Any

import fastavro

from schemas import SCHEMAS_DIR
from scoring import Engine
from tests.reliability.oracle import classify

Message = tuple[bytes | None, bytes | None]
EVENT_SCHEMA = json.loads((SCHEMAS_DIR / "lead_event.avsc").read_text())
REGISTERED_IDS = set(json.loads((SCHEMAS_DIR / "registry.json").read_text())["schemas"])
T_2026 = 1_767_603_600_000
YEAR_3000 = 32_503_680_000_000


def _framed(body: bytes, schema_id: int = 1, magic: int = 0) -> bytes:
    return struct.pack(">bI", magic, schema_id) + body


def _body(record: dict[str, Any], schema: dict[str, Any] = EVENT_SCHEMA) -> bytes:
    out = io.BytesIO()
    fastavro.schemaless_writer(out, fastavro.parse_schema(copy.deepcopy(schema)), record)
    return out.getvalue()


def _with_types(**types: Any) -> dict[str, Any]:
    """The LeadEvent schema with some fields' types replaced (wrong field types on the wire)."""
    schema = copy.deepcopy(EVENT_SCHEMA)
    schema["name"] = "Mutant"
    for f in schema["fields"]:
        if f["name"] in types:
            f["type"] = types[f["name"]]
            f.pop("default", None)
    return schema


class HostileFuzzer:
    def __init__(self, engine: Engine, seed: int) -> None:
        self.engine = engine
        self.rng = random.Random(seed)
        self.kinds: dict[str, Callable[[], Message]] = {
            "wrong_magic_byte": self.wrong_magic,
            "truncated_avro": self.truncated,
            "unknown_schema_id": self.unknown_schema,
            "other_schema_id": self.other_schema,
            "missing_or_empty_lead_id": self.empty_lead,
            "wrong_field_types": self.wrong_types,
            "huge_strings": self.huge_strings,
            "huge_map_and_garbage": self.huge_map,
            "nan_and_negative": self.nan_negative,
            "timestamp_1970": lambda: self.event(occurred_at=self.rng.randrange(0, 946_684_800_000)),
            "timestamp_3000": lambda: self.event(occurred_at=YEAR_3000 + self.rng.randrange(0, 10**10)),
            "unknown_event_type": lambda: self.event(type=self.rng.choice(["", "hack", "EMAIL_OPEN", "page-view "])),
            "invalid_utf8": self.invalid_utf8,
            "random_bytes": lambda: (
                self._key(),
                bytes(self.rng.randrange(256) for _ in range(self.rng.randrange(40))),
            ),
        }
        self.counts: dict[str, int] = dict.fromkeys(self.kinds, 0)

    # ---- building blocks -----------------------------------------------------------------------------------

    def _lead(self) -> str:
        return f"lead-{self.rng.randrange(10_000):07d}"

    def _key(self) -> bytes:
        return self._lead().encode()

    def record(self, **fields: Any) -> dict[str, Any]:
        lead = self._lead()
        base = {
            "event_id": f"hostile-{self.rng.getrandbits(64):x}",
            "lead_id": lead,
            "type": self.rng.choice(["email_open", "page_view", "demo_request"]),
            "occurred_at": T_2026 + self.rng.randrange(1_000_000),
            "properties": {"path": "/pricing"},
            "source": "fuzz",
            "account_id": None,
        }
        return {**base, **fields}

    def event(self, schema: dict[str, Any] = EVENT_SCHEMA, **fields: Any) -> Message:
        rec = self.record(**fields)
        lead = rec["lead_id"]
        key = lead.encode() if isinstance(lead, str) else self._key()
        return key, _framed(_body(rec, schema))

    def valid(self) -> Message:
        return self.event()

    # ---- kinds ---------------------------------------------------------------------------------------------

    def wrong_magic(self) -> Message:
        key, value = self.valid()
        return key, bytes([self.rng.randrange(1, 256)]) + value[1:]

    def truncated(self) -> Message:
        key, value = self.valid()
        return key, value[: self.rng.randrange(0, len(value))]

    def unknown_schema(self) -> Message:
        key, value = self.valid()
        schema_id = self.rng.choice([0, 999, 2**31 - 1, self.rng.randrange(100, 2**32)])
        return key, value[:1] + struct.pack(">I", schema_id) + value[5:]

    def other_schema(self) -> Message:
        key, value = self.valid()
        other = self.rng.choice(sorted(int(i) for i in REGISTERED_IDS - {"1"}))
        return key, value[:1] + struct.pack(">I", other) + value[5:]

    def empty_lead(self) -> Message:
        lead = self.rng.choice(["", " ", "\t", "   "])
        key = self.rng.choice([None, b"", lead.encode()])
        return key, _framed(_body(self.record(lead_id=lead)))

    def wrong_types(self) -> Message:
        choice = self.rng.randrange(5)
        if choice == 0:
            return self.event(_with_types(occurred_at="string"), occurred_at="yesterday")
        if choice == 1:
            return self.event(_with_types(lead_id="long"), lead_id=self.rng.randrange(-(2**40), 2**40))
        if choice == 2:
            return self.event(_with_types(properties={"type": "map", "values": "long"}), properties={"n": -1})
        if choice == 3:
            return self.event(_with_types(occurred_at="double"), occurred_at=self.rng.random() * 1e12)
        return self.event(_with_types(account_id="boolean"), account_id=True)

    def huge_strings(self) -> Message:
        size = self.rng.randrange(257, 50_000)
        if self.rng.random() < 0.5:
            return self.event(lead_id="L" * size)
        return self.event(event_id="E" * size)

    def huge_map(self) -> Message:
        properties = {f"k{i}": "v" * self.rng.randrange(20) for i in range(self.rng.randrange(500, 3_000))}
        key, value = self.event(properties=properties, type="not-a-type")
        return key, value[: len(value) - self.rng.randrange(0, 3)]

    def nan_negative(self) -> Message:
        if self.rng.random() < 0.5:  # a NaN double where the timestamp (a long) belongs
            return self.event(_with_types(occurred_at="double"), occurred_at=float("nan"))
        return self.event(occurred_at=-self.rng.randrange(1, 2**62))

    def invalid_utf8(self) -> Message:
        bad = bytes([0xFF, 0xFE, 0xC3, 0x28, self.rng.randrange(0x80, 0xC0)])
        schema = _with_types(lead_id="bytes")
        value = _framed(_body(self.record(lead_id=bad + b"-lead"), schema))
        return bad + self.rng.randbytes(self.rng.randrange(8)), value

    # ---- the fuzzer ----------------------------------------------------------------------------------------

    def messages(self, count: int) -> list[Message]:
        """``count`` malformed messages, the kinds in turn; each checked to be unscorable."""
        out: list[Message] = []
        names = list(self.kinds)
        while len(out) < count:
            name = names[len(out) % len(names)]
            key, value = self.kinds[name]()
            if classify(self.engine, key, value) is None and (value is None or len(value) < 900_000):
                out.append((key, value))
                self.counts[name] += 1
        return out
