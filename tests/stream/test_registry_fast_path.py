"""The fast path with a Schema Registry (ADR 021): new ids are resolved before the batch takes the state lock,
and scoring itself makes no registry request; an id the registry does not know becomes a dead letter."""

from __future__ import annotations

import asyncio
import io
import json
from types import SimpleNamespace

import fastavro
import pytest

from schemas import SCHEMAS_DIR
from scoring import example_model_path
from streams.devtools.testing import TestingSink
from streams.errors import SchemaRegistryUnavailableError
from streams.settings import load_settings
from streams.worker.app import create_app
from tests.conftest import make_event, stored_json
from tests.registry_server import RegistryServer

EVENTS = "lead-events"


class CountingLock(asyncio.Lock):
    """The state lock, noting how many requests the registry had served when it was taken and released."""

    def __init__(self, server: RegistryServer) -> None:
        super().__init__()
        self.server = server
        self.held: list[tuple[int, int]] = []

    async def __aenter__(self) -> None:
        await super().__aenter__()
        self.taken = len(self.server.requests())

    async def __aexit__(self, *exc: object) -> None:
        self.held.append((self.taken, len(self.server.requests())))
        await super().__aexit__(*exc)


def newer_lead_event(server: RegistryServer) -> tuple[int, fastavro.types.Schema]:
    """A LeadEvent version with one more optional field, registered by another producer."""
    definition = json.loads((SCHEMAS_DIR / "lead_event.avsc").read_text())
    definition["fields"].append({"name": "campaign", "type": ["null", "string"], "default": None})
    return server.add_schema(json.dumps(definition)), fastavro.parse_schema(definition)


def message(offset: int, lead_id: str, value: bytes) -> SimpleNamespace:
    return SimpleNamespace(topic=EVENTS, partition=0, offset=offset, key=lead_id.encode(), value=value, tp=None)


async def started_app(tmp_path, server: RegistryServer, **overrides: object):
    settings = load_settings(
        store="memory://",
        data_dir=tmp_path / "state",
        app_id="registry-fast-path",
        model_paths=[example_model_path("b2b")],
        partitions=1,
        schema_registry_url=server.url,
        schema_registry_retry_backoff_ms=1,
        **overrides,
    )
    built = create_app(settings)
    assert server.requests() == []  # building the app asks nothing
    await built.codec.registry.start()  # what the worker does at start-up (ADR 021)
    TestingSink.attach(built)
    return built


async def test_the_batch_resolves_new_ids_before_the_lock_and_scores_without_the_registry(tmp_path):
    with RegistryServer() as server:
        built = await started_app(tmp_path, server)
        settings = built.settings
        scorer = built.batch_scorer
        lock = scorer.lock = CountingLock(server)
        codec = built.codec
        newer_id, newer = newer_lead_event(server)
        record = codec.decode(codec.encode_event(make_event("lead-2", "demo_request")))[1] | {"campaign": "spring"}
        body = io.BytesIO()
        fastavro.schemaless_writer(body, newer, record)
        batch = [message(i, f"lead-{i}", codec.encode_event(make_event(f"lead-{i}", "email_open"))) for i in range(50)]
        batch.append(message(50, "lead-2", b"\x00" + newer_id.to_bytes(4, "big") + body.getvalue()))
        batch.append(message(51, "lead-x", b"\x00" + (4242).to_bytes(4, "big") + b"\x02"))
        acked: list[int] = []

        await scorer.score(batch, lambda m: acked.append(m.offset))
        assert sorted(server.lookups()) == sorted([4242, newer_id])  # looked up once each, before the lock
        await scorer.score(batch, lambda m: acked.append(m.offset))  # the same ids again: nothing to look up
        assert len(server.lookups()) == 2

        assert [taken == released for taken, released in lock.held] == [True, True]  # no request while scoring
        names = settings.topics
        letters = [codec.decode(v)[1] for t, _, v, _ in scorer.producer.records if t == names.dead_letters]
        assert [(d["offset"], d["error_type"]) for d in letters] == [(51, "DecodeError")] * 2
        assert letters[0]["reason"].startswith("unknown schema id 4242 (HTTP 404 from")
        assert built.table["lead-2"] is not None  # the newer version was scored
        assert acked == [m.offset for m in batch] * 2
        await built.codec.registry.close()


async def test_a_registry_down_when_a_new_id_arrives_fails_the_batch_without_acking(tmp_path):
    with RegistryServer() as server:
        built = await started_app(tmp_path, server, schema_registry_retries=1)
        scorer, codec = built.batch_scorer, built.codec
        newer_id, _ = newer_lead_event(server)
        server.stop()
        batch = [message(0, "lead-1", codec.encode_event(make_event("lead-1", "email_open")))]
        batch.append(message(1, "lead-2", b"\x00" + newer_id.to_bytes(4, "big") + b"\x02"))
        acked: list[int] = []
        with pytest.raises(SchemaRegistryUnavailableError, match=f"Schema Registry {server.url} did not answer"):
            await scorer.score(batch, lambda m: acked.append(m.offset))
        assert acked == [] and scorer.producer.records == []  # nothing sent, nothing acked: re-delivered later
        await codec.registry.close()


async def test_the_per_event_agents_resolve_new_ids_before_the_lock_too(tmp_path):
    """With the fast path off, the events agent looks a new id up before it takes the state lock, so a newer
    version of LeadEvent is scored (not dead-lettered for an id the codec has not seen)."""
    with RegistryServer() as server:
        built = await started_app(tmp_path, server, batch_max=0)
        sink = TestingSink.attach(built)
        codec = built.codec
        newer_id, newer = newer_lead_event(server)
        record = codec.decode(codec.encode_event(make_event("lead-2", "demo_request")))[1] | {"campaign": "spring"}
        body = io.BytesIO()
        fastavro.schemaless_writer(body, newer, record)
        async with built.score_events.test_context() as agent:
            await agent.put(b"\x00" + newer_id.to_bytes(4, "big") + body.getvalue(), key=b"lead-2")
            for _ in range(500):  # the agent awaits the registry's answer: let it finish before the context ends
                if built.table.get("lead-2") is not None:
                    break
                await asyncio.sleep(0.01)
        assert server.lookups() == [newer_id]
        assert sink.sent(built.settings.topics.dead_letters) == []
        assert stored_json(built.table, "lead-2")["m"]["b2b"]["s"] > 0  # the demo request was scored
        await codec.registry.close()
