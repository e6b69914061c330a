"""Issue 6, items 3, 5 and 6 on a real worker (a process on the session's embedded broker): the query API checks its
bearer token, health, readiness and metrics stay open, no secret reaches the log, the metrics or the probe bodies of
a worker running at DEBUG; and model reload at runtime (ADR 015): SIGHUP or a changed file, a broken file keeps the
running models.

The broker-free checks of bad configuration and hostile model files are in tests/unit/test_config_and_security.py.
"""

from __future__ import annotations

import json
import os
import secrets
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest
from kafka import KafkaProducer
from pydantic import SecretStr

from scoring import LeadEvent
from streams.devtools.processes import spawn_worker, stop_process
from streams.settings import Settings
from tests.conftest import SIMPLE_MODEL, T0, make_event
from tests.integration.conftest import new_settings

VALID_HEAD = "id: broken\nversion: 1\nchange_note: test\n"


def _clean_env(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("LEADSCORE_")}
    return {**env, **extra}


# --------------------------------------------------------------------------------------------------------------
# 3 and 5. A real worker with a token and secrets at DEBUG: the token is checked, probes stay open, nothing leaks
# --------------------------------------------------------------------------------------------------------------


def _get(url: str, authorization: str | None = None) -> tuple[int, bytes, dict[str, str]]:
    request = urllib.request.Request(url, headers={"Authorization": authorization} if authorization else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, response.read(), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, error.read(), dict(error.headers)
    except OSError:  # not listening yet
        return 0, b"", {}


def _wait_for(check, timeout_s: float, what: str):  # type: ignore[no-untyped-def]
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        result = check()
        if result:
            return result
        time.sleep(0.2)
    raise AssertionError(f"timed out waiting for {what}")


class SecretWorker:
    def __init__(self, settings: Settings, process: subprocess.Popen[bytes], log: Path, model: Path) -> None:
        self.settings, self.process, self.log, self.model = settings, process, log, model
        self.url = f"http://127.0.0.1:{settings.web_port}"
        self.token = settings.api_token.get_secret_value()  # type: ignore[union-attr]
        self.password = settings.sasl_password.get_secret_value()  # type: ignore[union-attr]


@pytest.fixture(scope="module")
def secret_worker(broker, tmp_path_factory) -> Iterator[SecretWorker]:
    folder = tmp_path_factory.mktemp("secret-worker")
    model = folder / "model.yaml"
    model.write_text(SIMPLE_MODEL.read_text(encoding="utf-8"), encoding="utf-8")
    settings = new_settings(
        broker,
        folder / "state",
        model_paths=[model],
        api_token=SecretStr(f"tok-{secrets.token_hex(16)}"),
        sasl_username="leadscore-user",
        sasl_password=SecretStr(f"pw-{secrets.token_hex(16)}"),  # PLAINTEXT: streams/security.py ignores SASL
        log_level="DEBUG",
        store="memory://",
    )
    log = folder / "worker.log"
    process = spawn_worker(settings, log_file=log)
    try:
        running = SecretWorker(settings, process, log, model)
        _wait_for(lambda: process.poll() is not None or _get(f"{running.url}/readyz")[0] == 200, 60, "/readyz")
        assert process.poll() is None, log.read_text(errors="replace")[-3000:]
        yield running
    finally:
        stop_process(process, grace_s=5.0)


def _produce(settings: Settings, codec, events: list[LeadEvent], raw: tuple[tuple[bytes, bytes], ...] = ()) -> None:
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers)
    try:
        for event in events:
            producer.send(settings.topics.events, key=event.lead_id.encode(), value=codec.encode_event(event))
        for key, value in raw:
            producer.send(settings.topics.events, key=key, value=value)
        producer.flush()
    finally:
        producer.close()


def test_query_api_token_and_open_probes_and_no_secret_leaks(secret_worker: SecretWorker, codec):
    worker, token, password = secret_worker, secret_worker.token, secret_worker.password
    events = [make_event("lead-1", "demo_request", T0 + k, event_id=f"e-{k}") for k in range(3)]
    bad = make_event("lead-2", "no_such_type", T0, event_id="bad")  # dead-lettered: exercises the error path
    _produce(worker.settings, codec, [*events, bad], raw=((b"lead-3", b"\x00garbage"),))
    lead = f"{worker.url}/leads/lead-1"
    status, body, _ = _wait_for(lambda: (r := _get(lead, f"Bearer {token}"))[0] == 200 and r, 60, "lead-1 scored")
    assert json.loads(body)["models"][0]["score"] == 90.0

    # The token: required, exact, Bearer scheme; the 401 body does not echo what was sent or expected
    refused = {
        "no header": None,
        "wrong token": "Bearer wrong",
        "token as prefix": f"Bearer {token}x",
        "token prefix": f"Bearer {token[:-1]}",
        "no scheme": token,
        "basic scheme": f"Basic {token}",
        "empty bearer": "Bearer ",
        # RFC 9110 11.1: auth schemes are case-insensitive; api.py compares the whole header (see the report)
        "lowercase scheme": f"bearer {token}",
    }
    for what, header in refused.items():
        status, body, _ = _get(lead, header)
        assert status == 401, what
        assert json.loads(body) == {"error": "missing or wrong bearer token"}, what
    assert _get(f"{worker.url}/leads/nobody", f"Bearer {token}")[0] == 404
    assert _get(f"{worker.url}/leads/nobody")[0] == 401  # no token: 401 before the lookup (no existence oracle)
    assert _get(f"{lead}?at=yesterday", f"Bearer {token}")[0] == 400

    # Probes and metrics: open (kubelet and Prometheus send no token), and free of secrets
    bodies = {}
    for path in ("/healthz", "/readyz", "/metrics"):
        status, body, headers = _get(f"{worker.url}{path}")
        assert status == 200, path
        bodies[path] = body + json.dumps(headers).encode()
    assert b"leadscore_events_consumed_total" in bodies["/metrics"]

    # Settings repr and --help
    assert token not in repr(worker.settings) and password not in repr(worker.settings)
    assert token not in str(worker.settings.model_dump()) and password not in str(worker.settings.model_dump())
    help_text = subprocess.run(
        [sys.executable, "-m", "streams.cli", "worker", "--help"],
        env=_clean_env(**worker.settings.to_env()),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert help_text.returncode == 0 and "Run a scoring worker" in help_text.stdout

    time.sleep(1)  # let the DEBUG log catch up with the requests above
    log = worker.log.read_text(errors="replace")
    assert log.count("DEBUG") > 10, log[-2000:]
    # Positive control: at DEBUG aiokafka logs fetched record bytes (lead ids, event ids), so the log does carry what
    # flows through the worker and the search below means something. (HTTP requests are not logged at all.)
    assert "lead-1" in log and "demo_reque" in log
    for secret in (token, password):
        for where, text in {
            "worker log": log,
            "worker --help": help_text.stdout + help_text.stderr,
            **{path: body.decode(errors="replace") for path, body in bodies.items()},
        }.items():
            assert secret not in text, f"secret found in {where}"


def test_reload_with_an_invalid_model_keeps_the_old_model_and_reports(secret_worker: SecretWorker, codec):
    """SIGHUP with a broken model file: the worker keeps running on the old models and logs the error (ADR 015)."""
    worker = secret_worker
    worker.model.write_text(VALID_HEAD + "rules:\n  - {id: x, event: page_view, points: lots}\n", encoding="utf-8")
    worker.process.send_signal(signal.SIGHUP)
    with pytest.raises(subprocess.TimeoutExpired):
        worker.process.wait(timeout=3)
    _produce(worker.settings, codec, [make_event("lead-9", "demo_request", T0, event_id="after-reload")])
    _, body, _ = _wait_for(
        lambda: (r := _get(f"{worker.url}/leads/lead-9", f"Bearer {worker.token}"))[0] == 200 and r, 30, "lead-9"
    )
    assert json.loads(body)["models"][0]["score"] == 30.0  # the old model still scores
    assert "rules[0] (id 'x').points" in worker.log.read_text(errors="replace")  # and the error is reported


def test_a_changed_model_file_is_picked_up_without_a_restart(secret_worker: SecretWorker, codec):
    """After the broken file above, a valid one with other points: the file check (every 10 s) loads it, no signal."""
    worker = secret_worker
    worker.model.write_text(SIMPLE_MODEL.read_text(encoding="utf-8").replace("points: 30}", "points: 45}"), "utf-8")
    _wait_for(
        lambda: 'leadscore_model_reloads_total{outcome="ok"} 1.0' in _get(f"{worker.url}/metrics")[1].decode(),
        30,
        "reload",
    )
    _produce(worker.settings, codec, [make_event("lead-10", "demo_request", T0, event_id="after-good-reload")])
    _, body, _ = _wait_for(
        lambda: (r := _get(f"{worker.url}/leads/lead-10", f"Bearer {worker.token}"))[0] == 200 and r, 30, "lead-10"
    )
    assert json.loads(body)["models"][0]["score"] == 45.0
    assert worker.process.poll() is None
