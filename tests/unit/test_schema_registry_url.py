"""The Schema Registry through confluent-kafka's client (ADR 021), against the in-process registry of
``tests/registry_server.py``: registering the contracts, resolving other ids before decoding, the bounded negative
cache, and a registry that is down at start or goes away and comes back."""

from __future__ import annotations

import io
import json
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import fastavro
import pytest

from schemas import SCHEMAS_DIR
from streams.errors import DecodeError, SchemaRegistryError, SchemaRegistryUnavailableError
from streams.kafka.codec import AvroCodec
from streams.kafka.confluent_registry import ConfluentSchemaRegistry
from streams.kafka.topics import schema_registry
from streams.settings import Settings, load_settings
from tests.conftest import make_event
from tests.registry_server import RegistryServer, closed_port


@pytest.fixture
def server() -> Iterator[RegistryServer]:
    with RegistryServer() as running:
        yield running


def settings_for(url: str, **overrides: object) -> Settings:
    return load_settings(schema_registry_url=url, schema_registry_retry_backoff_ms=1, **overrides)


def framed(schema_id: int, body: bytes = b"\x02") -> bytes:
    return b"\x00" + schema_id.to_bytes(4, "big") + body


def evolved_lead_event() -> dict[str, object]:
    """LeadEvent with one more optional field: what a producer on a newer version registers."""
    definition = json.loads((SCHEMAS_DIR / "lead_event.avsc").read_text())
    definition["fields"].append({"name": "campaign", "type": ["null", "string"], "default": None})
    return definition


def encoded_with(definition: dict[str, object], schema_id: int, record: dict[str, object]) -> bytes:
    buffer = io.BytesIO(framed(schema_id, b""))
    buffer.seek(0, io.SEEK_END)
    fastavro.schemaless_writer(buffer, fastavro.parse_schema(definition), record)
    return buffer.getvalue()


async def test_contracts_are_registered_per_topic_at_start_and_their_ids_used(server):
    registry = schema_registry(settings_for(server.url))
    assert server.requests() == []  # construction asks nothing
    with pytest.raises(SchemaRegistryError, match=r"not registered .* yet: the worker awaits registry.start\(\)"):
        registry.by_name("LeadEvent")
    await registry.start()
    subjects = server.subjects()
    assert set(subjects) >= {"lead-events-value", "lead-score-changes-value", "lead-events-dlq-value"}
    codec = AvroCodec(registry)
    data = codec.encode_event(make_event("l", "email_open"))
    assert [int.from_bytes(data[1:5], "big")] == subjects["lead-events-value"]
    assert codec.decode_event(data).lead_id == "l"  # our own ids are known without a lookup
    assert server.lookups() == []
    again = schema_registry(settings_for(server.url))
    await again.start()
    assert again.by_name("LeadEvent").schema_id == registry.by_name("LeadEvent").schema_id
    await registry.close()
    await again.close()


async def test_an_id_of_another_producer_is_resolved_once_before_decoding(server):
    registry = schema_registry(settings_for(server.url))
    await registry.start()
    codec = AvroCodec(registry)
    definition = evolved_lead_event()
    newer = server.add_schema(json.dumps(definition))
    record = codec.decode(codec.encode_event(make_event("lead-7", "page_view")))[1] | {"campaign": "spring"}
    data = encoded_with(definition, newer, record)
    with pytest.raises(DecodeError, match=f"unknown schema id {newer} \\(not looked up before decoding\\)"):
        codec.decode_event(data)  # decoding never asks the registry itself
    for _ in range(3):
        await codec.resolve([data] * 50)
    assert server.lookups() == [newer]
    assert codec.decode_event(data).lead_id == "lead-7"
    assert "campaign" not in codec.decode(data)[1]  # read into our contract (Avro schema resolution)
    await registry.close()


async def test_a_version_that_cannot_be_read_into_our_contract_is_a_dead_letter_not_a_crash(server):
    registry = schema_registry(settings_for(server.url))
    await registry.start()
    codec = AvroCodec(registry)
    definition = json.loads((SCHEMAS_DIR / "lead_event.avsc").read_text())
    definition["fields"] = [f for f in definition["fields"] if f["name"] != "source"]  # ours has no default for it
    older = server.add_schema(json.dumps(definition))
    record = {"event_id": "e-1", "lead_id": "lead-1", "type": "email_open", "occurred_at": 1, "properties": {}}
    data = encoded_with(definition, older, record | {"account_id": None})
    await codec.resolve([data])
    with pytest.raises(DecodeError, match=f"schema id {older} is a LeadEvent ours cannot read: .*source"):
        codec.decode_event(data)  # before: a KeyError out of the processor, and the worker stopped on every retry
    await registry.close()


async def test_an_unknown_id_costs_one_request_per_ttl_however_many_messages(server):
    now = [1000.0]
    settings = settings_for(server.url, schema_registry_unknown_id_ttl_s=60)
    registry = ConfluentSchemaRegistry(settings, {"LeadEvent": "lead-events-value"}, clock=lambda: now[0])
    codec = AvroCodec(registry)
    bogus = framed(4242)
    for _ in range(5):
        await codec.resolve([bogus] * 100)
        with pytest.raises(DecodeError, match=r"unknown schema id 4242 \(HTTP 404 from http://127\.0\.0\.1:\d+\)"):
            codec.decode(bogus)
    assert server.lookups() == [4242]
    now[0] += 61  # past the TTL: asked again once (the registry may know it by now)
    await codec.resolve([bogus] * 100)
    await codec.resolve([bogus])
    assert server.lookups() == [4242, 4242]
    await registry.close()


async def test_hostile_random_ids_cost_one_request_each_and_bounded_memory(server):
    registry = ConfluentSchemaRegistry(settings_for(server.url), {"LeadEvent": "lead-events-value"}, unknown_ids_max=20)
    await registry.start()
    codec = AvroCodec(registry)
    hostile = [framed(schema_id) for schema_id in range(10_000, 10_200)]
    await codec.resolve(hostile)
    assert sorted(server.lookups()) == list(range(10_000, 10_200))  # one request each
    assert registry.unknown_ids() == 20  # the 20 most recent are remembered, the others forgotten
    await codec.resolve(hostile)
    assert len(server.lookups()) == 200 + 180  # the remembered ones cost nothing more
    for data in hostile:
        with pytest.raises(DecodeError, match="unknown schema id"):
            codec.decode(data)
    await registry.close()


async def test_a_schema_that_is_not_avro_is_an_unknown_id(server):
    registry = schema_registry(settings_for(server.url))
    await registry.start()
    protobuf = server.add_schema('syntax = "proto3"; message LeadEvent {}', "PROTOBUF")
    await AvroCodec(registry).resolve([framed(protobuf)])
    with pytest.raises(SchemaRegistryError, match=f"unknown schema id {protobuf} \\(a PROTOBUF schema, not Avro\\)"):
        registry.by_id(protobuf)
    await registry.close()


async def test_a_registry_down_at_start_is_one_clear_line():
    url = f"http://127.0.0.1:{closed_port()}"
    registry = schema_registry(settings_for(url, schema_registry_retries=2))
    with pytest.raises(SchemaRegistryUnavailableError) as caught:
        await registry.start()
    message = str(caught.value)
    assert "\n" not in message
    assert message.startswith(f"Schema Registry {url} did not answer after 3 attempts (")
    assert message.endswith("check LEADSCORE_SCHEMA_REGISTRY_URL and that the registry is up, then start again")
    await registry.close()


async def test_a_registry_that_comes_back_within_the_retries_is_used(server):
    server.drop_next(2)  # two connections closed without an answer, then it answers
    registry = schema_registry(settings_for(server.url, schema_registry_retries=3))
    await registry.start()
    assert registry.by_name("LeadEvent").schema_id == server.subjects()["lead-events-value"][0]
    server.unavailable_next(2)  # 503 twice: retried as well
    newer = server.add_schema(json.dumps(evolved_lead_event()))
    await registry.resolve([newer])
    assert registry.by_id(newer).name == "LeadEvent"
    await registry.close()


async def test_a_registry_gone_while_running_stops_the_worker_instead_of_dead_lettering(server):
    registry = schema_registry(settings_for(server.url, schema_registry_retries=1))
    await registry.start()
    codec = AvroCodec(registry)
    ours = codec.encode_event(make_event("lead-1", "email_open"))
    newer = server.add_schema(json.dumps(evolved_lead_event()))
    server.stop()
    await codec.resolve([ours])  # known ids need no registry
    assert codec.decode_event(ours).lead_id == "lead-1"
    with pytest.raises(SchemaRegistryUnavailableError, match="did not answer after 2 attempts"):
        await codec.resolve([framed(newer)])  # a valid id we cannot check: not a dead letter
    server.start()  # back, on the same port
    await codec.resolve([framed(newer)])
    assert registry.by_id(newer).name == "LeadEvent"
    await registry.close()


def test_without_a_url_the_local_file_is_used_and_nothing_is_resolved():
    registry = schema_registry(load_settings())
    assert not registry.resolves_ids
    assert registry.by_name("LeadEvent").schema_id == 1


def test_the_processor_imports_without_the_registry_client():
    """The bench's peer runs in a virtualenv of its own with an older confluent-kafka and no Faust
    (bench/peer-requirements.txt) and imports these modules: the client is imported only when a URL is set."""
    blocked = "confluent_kafka", "confluent_kafka.schema_registry", "cachetools", "httpx2", "faust", "aiokafka"
    script = (
        f"import sys; sys.modules.update(dict.fromkeys({blocked!r}))\n"
        "from streams.kafka.codec import AvroCodec\n"
        "from streams.kafka.registry import LocalSchemaRegistry\n"
        "from streams.worker.metrics import Metrics\n"
        "from streams.worker.processor import Message, Processor\n"
        "assert AvroCodec(LocalSchemaRegistry()).registry.by_name('LeadEvent').schema_id == 1\n"
    )
    subprocess.run([sys.executable, "-c", script], check=True, cwd=Path(__file__).parents[2], timeout=120)


def test_without_an_event_loop_the_command_line_tools_look_up_what_they_miss(server):
    """``leadscore audit``, ``models``, ``evaluate``... encode and decode without an event loop: they may block."""
    codec = AvroCodec(schema_registry(settings_for(server.url)))
    data = codec.encode_event(make_event("lead-3", "email_open"))  # registers the contracts first
    assert "lead-events-value" in server.subjects()
    definition = evolved_lead_event()
    newer = server.add_schema(json.dumps(definition))
    record = codec.decode(data)[1] | {"campaign": None}
    assert codec.decode_event(encoded_with(definition, newer, record)).lead_id == "lead-3"
    for _ in range(3):
        with pytest.raises(DecodeError, match=r"unknown schema id 77 \(HTTP 404"):
            codec.decode(framed(77))
    assert server.lookups() == [newer, 77]
