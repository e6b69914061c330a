"""The Schema Registry client against a small in-process server speaking the Confluent REST API subset it uses.

No Schema Registry package can be installed here; the server below implements the two documented endpoints
(POST /subjects/{subject}/versions, GET /schemas/ids/{id}) with Confluent's semantics: registering the same
schema again returns the same id.
"""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from streams.errors import DecodeError, SchemaRegistryError
from streams.kafka.codec import AvroCodec
from streams.kafka.topics import schema_registry
from streams.settings import load_settings
from tests.conftest import make_event


class _Registry(BaseHTTPRequestHandler):
    schemas: dict[str, int] = {}
    subjects: dict[str, int] = {}
    gets: list[int] = []

    def _reply(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def do_POST(self) -> None:
        _, subjects, subject, versions = self.path.split("/")
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        assert (subjects, versions) == ("subjects", "versions") and body["schemaType"] == "AVRO"
        schema_id = self.schemas.setdefault(body["schema"], 100 + len(self.schemas))
        self.subjects[subject] = schema_id
        self._reply(200, {"id": schema_id})

    def do_GET(self) -> None:
        schema_id = int(self.path.rsplit("/", 1)[1])
        type(self).gets.append(schema_id)
        for text, known in self.schemas.items():
            if known == schema_id:
                return self._reply(200, {"schema": text})
        return self._reply(404, {"error_code": 40403, "message": "Schema not found"})

    def log_message(self, *args: object) -> None:
        pass


@pytest.fixture
def registry_url():
    _Registry.schemas, _Registry.subjects, _Registry.gets = {}, {}, []
    server = ThreadingHTTPServer(("127.0.0.1", 0), _Registry)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}"
    server.shutdown()


def test_contracts_are_registered_per_topic_and_their_ids_used(registry_url):
    registry = schema_registry(load_settings(schema_registry_url=registry_url))
    assert set(_Registry.subjects) >= {"lead-events-value", "lead-score-changes-value", "lead-events-dlq-value"}
    codec = AvroCodec(registry)
    data = codec.encode_event(make_event("l", "email_open"))
    assert int.from_bytes(data[1:5], "big") == _Registry.subjects["lead-events-value"] >= 100
    assert codec.decode_event(data).lead_id == "l"
    again = schema_registry(load_settings(schema_registry_url=registry_url))
    assert again.by_name("LeadEvent").schema_id == registry.by_name("LeadEvent").schema_id


def test_unknown_ids_are_asked_once_then_rejected_from_cache(registry_url):
    codec = AvroCodec(schema_registry(load_settings(schema_registry_url=registry_url)))
    bogus = b"\x00" + (4242).to_bytes(4, "big") + b"\x02"
    for _ in range(3):
        with pytest.raises(DecodeError, match="unknown schema id 4242"):
            codec.decode(bogus)
    assert _Registry.gets == [4242]


def test_unreachable_registry_is_a_clear_error():
    with pytest.raises(SchemaRegistryError, match=r"POST http://127.0.0.1:1/subjects/lead-events-value/versions"):
        schema_registry(load_settings(schema_registry_url="http://127.0.0.1:1"))
