"""A small in-process Schema Registry speaking the subset of the Confluent REST API that confluent-kafka's client
uses here, for tests (ours, and a team's own: ``with RegistryServer() as registry: ... registry.url``).

Endpoints: ``POST /subjects/{subject}/versions`` (register; the same schema text gets the same id, as Confluent
does) and ``GET /schemas/ids/{id}`` (404 with error code 40403 when unknown). Options: HTTP basic auth, TLS (with
or without client certificates), and failures on demand (connections closed without an answer, or 503s) for a
registry that is down and comes back. Every request is counted; it listens on 127.0.0.1, on a free port.
"""

from __future__ import annotations

import base64
import contextlib
import json
import socket
import ssl
import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from urllib.parse import unquote, urlsplit

FIRST_ID = 100


@dataclass(frozen=True)
class Request:
    method: str
    path: str  # without the query string


class _State:
    """What the server knows and what it was asked; shared by the handler threads."""

    def __init__(self, user_info: str | None) -> None:
        self.lock = threading.Lock()
        self.user_info = user_info
        self.ids: dict[tuple[str, str], int] = {}  # (schema type, schema text) -> id
        self.schemas: dict[int, tuple[str, str]] = {}
        self.subjects: dict[str, list[int]] = {}
        self.requests: list[Request] = []
        self.drops = 0  # the next requests whose connection is closed without an answer
        self.unavailable = 0  # the next requests answered 503
        self.connections: set[socket.socket] = set()  # open keep-alive connections, closed by stop()

    def add(self, text: str, schema_type: str = "AVRO") -> int:
        with self.lock:
            schema_id = self.ids.setdefault((schema_type, text), FIRST_ID + len(self.ids))
            self.schemas[schema_id] = (schema_type, text)
            return schema_id


class _Handler(BaseHTTPRequestHandler):
    server: _Server
    protocol_version = "HTTP/1.1"  # keep-alive, as a real registry
    disable_nagle_algorithm = True  # headers and body are separate writes: no delayed-ACK stall between them

    def setup(self) -> None:
        super().setup()
        with self.server.state.lock:
            self.server.state.connections.add(self.connection)

    def finish(self) -> None:
        with self.server.state.lock:
            self.server.state.connections.discard(self.connection)
        super().finish()

    def do_GET(self) -> None:
        self._serve("GET")

    def do_POST(self) -> None:
        self._serve("POST")

    def _serve(self, method: str) -> None:
        state = self.server.state
        path = urlsplit(self.path).path
        with state.lock:
            state.requests.append(Request(method, path))
            dropped, state.drops = state.drops > 0, max(0, state.drops - 1)
            unavailable, state.unavailable = state.unavailable > 0, max(0, state.unavailable - 1)
        if dropped:
            self.close_connection = True
            return
        if unavailable:
            return self._reply(503, {"error_code": 50301, "message": "Service unavailable"})
        if not self._authorised(state):
            return self._reply(401, {"error_code": 401, "message": "Unauthorized"})
        parts = path.strip("/").split("/")
        if method == "POST" and len(parts) == 3 and parts[0] == "subjects" and parts[2] == "versions":
            return self._register(state, unquote(parts[1]))
        if method == "GET" and len(parts) == 3 and parts[:2] == ["schemas", "ids"] and parts[2].isdigit():
            return self._schema(state, int(parts[2]))
        self._reply(404, {"error_code": 404, "message": f"no such endpoint {path}"})

    def _authorised(self, state: _State) -> bool:
        if state.user_info is None:
            return True
        expected = "Basic " + base64.b64encode(state.user_info.encode()).decode()
        return self.headers.get("Authorization") == expected

    def _register(self, state: _State, subject: str) -> None:
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        schema_id = state.add(body["schema"], body.get("schemaType", "AVRO"))
        with state.lock:
            versions = state.subjects.setdefault(subject, [])
            if schema_id not in versions:
                versions.append(schema_id)
        self._reply(200, {"id": schema_id})

    def _schema(self, state: _State, schema_id: int) -> None:
        with state.lock:
            found = state.schemas.get(schema_id)
        if found is None:
            return self._reply(404, {"error_code": 40403, "message": f"Schema {schema_id} not found"})
        schema_type, text = found
        reply = {"schema": text} if schema_type == "AVRO" else {"schema": text, "schemaType": schema_type}
        self._reply(200, reply)

    def _reply(self, status: int, body: object) -> None:
        data = json.dumps(body).encode()
        self.send_response(status)
        self.send_header("Content-Type", "application/vnd.schemaregistry.v1+json")
        self.send_header("Content-Length", str(len(data)))
        self.end_headers()
        self.wfile.write(data)

    def log_message(self, format: str, *args: object) -> None:
        pass


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    state: _State


class RegistryServer:
    """The registry, started by ``with`` (or :meth:`start`) and stopped at its end.

    ``tls`` is a server-side SSL context (see :func:`tests.certificates.server_context`); ``user_info`` is
    ``user:password`` for basic auth.
    """

    def __init__(self, user_info: str | None = None, tls: ssl.SSLContext | None = None, port: int = 0) -> None:
        self.state = _State(user_info)
        self._tls = tls
        self._port = port
        self._server: _Server | None = None
        self._thread: threading.Thread | None = None

    @property
    def url(self) -> str:
        assert self._port, "not started"
        scheme = "https" if self._tls else "http"
        return f"{scheme}://127.0.0.1:{self._port}"

    def start(self) -> RegistryServer:
        server = _Server(("127.0.0.1", self._port), _Handler)
        server.state = self.state
        self._port = server.server_address[1]  # a restart (after stop) comes back on the same port
        if self._tls is not None:
            server.socket = self._tls.wrap_socket(server.socket, server_side=True)
        self._server = server
        self._thread = threading.Thread(target=server.serve_forever, args=(0.05,), name="registry-server", daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        """Stop listening and close the open connections (a registry that goes away)."""
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None
        with self.state.lock:
            connections = list(self.state.connections)
        for connection in connections:
            with contextlib.suppress(OSError):
                connection.shutdown(socket.SHUT_RDWR)

    def __enter__(self) -> RegistryServer:
        return self.start()

    def __exit__(self, kind: type[BaseException] | None, error: BaseException | None, tb: TracebackType | None) -> None:
        self.stop()

    # ---- what tests set and read -------------------------------------------------------------------------

    def add_schema(self, text: str, schema_type: str = "AVRO") -> int:
        """Register a schema as another producer would (no subject); returns its id."""
        return self.state.add(text, schema_type)

    def subjects(self) -> dict[str, list[int]]:
        with self.state.lock:
            return {subject: list(ids) for subject, ids in self.state.subjects.items()}

    def requests(self, method: str | None = None) -> list[Request]:
        with self.state.lock:
            return [r for r in self.state.requests if method is None or r.method == method]

    def lookups(self) -> list[int]:
        """The ids asked for with ``GET /schemas/ids/{id}``, in order."""
        return [int(r.path.rsplit("/", 1)[1]) for r in self.requests("GET") if r.path.startswith("/schemas/ids/")]

    def drop_next(self, count: int) -> None:
        """Close the connection of the next ``count`` requests without answering (a registry that is down)."""
        with self.state.lock:
            self.state.drops = count

    def unavailable_next(self, count: int) -> None:
        """Answer the next ``count`` requests with HTTP 503."""
        with self.state.lock:
            self.state.unavailable = count


def closed_port() -> int:
    """A port on 127.0.0.1 where nothing listens (a registry that is down)."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])
