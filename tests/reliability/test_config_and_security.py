"""Issue 6, items 6 and 7: bad configuration and security.

* A broken model file makes ``leadscore worker`` (a real process, through the CLI) refuse to start with one line
  naming the file and the field, no traceback.
* Model reload at runtime (ADR 015): SIGHUP or a changed file; a broken file keeps the running models.
* Rule conditions and event properties are data, never code (side-effect sentinels prove nothing ran).
* The query API checks its bearer token; health, readiness and metrics stay open; no secret reaches the log,
  the metrics or the probe bodies of a real worker running at DEBUG.

Broker tests are marked ``integration`` (the shared embedded Tansu broker of ``tests/integration``).
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
from typing import Any

import pytest
from kafka import KafkaProducer
from pydantic import SecretStr

from scoring import Engine, LeadEvent, ModelError, load_model, parse_model
from streams.devtools.processes import spawn_worker, stop_process
from streams.settings import Settings, load_settings
from tests.conftest import SIMPLE_MODEL, T0, make_event
from tests.integration.conftest import new_settings

# --------------------------------------------------------------------------------------------------------------
# 1. A broken model file: the worker refuses to start, naming the file and the field
# --------------------------------------------------------------------------------------------------------------

VALID_HEAD = "id: broken\nversion: 1\nchange_note: test\n"

# name -> (file text or None for a missing file, substrings the one-line error must contain)
BROKEN_MODELS: dict[str, tuple[str | None, list[str]]] = {
    "wrong-type": (
        VALID_HEAD + "rules:\n  - {id: a, event: page_view, points: 1}\n  - {id: x, event: page_view, points: lots}\n",
        ["broken.yaml", "rules[1] (id 'x').points", "expected a number"],
    ),
    "version-not-a-number": (
        "id: broken\nversion: one\nchange_note: t\nrules:\n  - {id: a, event: page_view, points: 1}\n",
        ["broken.yaml", "version", "expected a whole number"],
    ),
    "misspelt-optional-field": (
        VALID_HEAD + "rules:\n  - {id: a, event: page_view, points: 1, half_lfe: 3d}\n",
        ["broken.yaml", "rules[0] (id 'a').half_lfe", "unknown field"],
    ),
    # Only pydantic's first error is reported: the missing field, not the misspelt one next to it
    "misspelt-required-field": (
        VALID_HEAD + "rules:\n  - {id: a, event: page_view, pionts: 1}\n",
        ["broken.yaml", "rules[0] (id 'a').points", "required field is missing"],
    ),
    "unknown-operator": (
        VALID_HEAD
        + "rules:\n  - {id: a, event: page_view, points: 1, when: {field: properties.path, startswith: /p}}\n",
        ["broken.yaml", "rules[0] (id 'a').when", "expected exactly one operator", "startswith"],
    ),
    "duplicate-rule-id": (
        VALID_HEAD + "rules:\n  - {id: a, event: page_view, points: 1}\n  - {id: a, event: form_fill, points: 2}\n",
        ["broken.yaml", "duplicate rule id 'a'"],
    ),
    "regex-does-not-compile": (
        VALID_HEAD
        + "rules:\n  - {id: a, event: page_view, points: 1, when: {field: properties.path, matches: '(x'}}\n",
        ["broken.yaml", "rules[0] (id 'a').when.matches", "invalid regular expression"],
    ),
    "level-leave-above-enter": (
        VALID_HEAD
        + "rules:\n  - {id: a, event: page_view, points: 1}\nlevels:\n  - {name: MQL, enter: 50, leave: 60}\n",
        ["broken.yaml", "levels[0]", "leave must not be above enter"],
    ),
    "bad-duration": (
        VALID_HEAD + "rules:\n  - {id: a, event: page_view, points: 1, half_life: 3 days}\n",
        ["broken.yaml", "rules[0] (id 'a').half_life", "expected a duration"],
    ),
    "yaml-syntax-error": (
        VALID_HEAD + "rules:\n  - {id: a, event: page_view, points: 1\n  - {id: b}\n",
        ["broken.yaml", "not valid YAML at line"],
    ),
    "python-object-tag": (  # PyYAML's unsafe loader would run os.system here; safe_load must refuse the tag
        VALID_HEAD
        + "rules:\n  - {id: a, event: page_view, points: !!python/object/apply:os.system ['touch {sentinel}']}\n",
        ["broken.yaml", "not valid YAML at line 5"],
    ),
    "empty-file": ("", ["broken.yaml", "expected a mapping"]),
    "missing-file": (None, ["broken.yaml", "cannot read model file"]),
}


def _clean_env(**extra: str) -> dict[str, str]:
    env = {key: value for key, value in os.environ.items() if not key.startswith("LEADSCORE_")}
    return {**env, **extra}


@pytest.fixture(scope="module")
def refused_workers(tmp_path_factory: pytest.TempPathFactory) -> dict[str, tuple[subprocess.CompletedProcess, Path]]:
    """Start ``leadscore worker`` once per broken model, all at once (each pays Faust's import time), and collect
    exit code and output. The bootstrap address is unreachable: the model must be refused before any connection."""
    processes: dict[str, tuple[subprocess.Popen[str], Path, list[str]]] = {}
    for name, (text, _) in BROKEN_MODELS.items():
        folder = tmp_path_factory.mktemp(name)
        path = folder / "broken.yaml"
        sentinel = folder / "pwned"
        if text is not None:
            path.write_text(text.replace("{sentinel}", str(sentinel)), encoding="utf-8")
        settings = load_settings(
            model_paths=[path], bootstrap_servers="127.0.0.1:9", data_dir=folder / "state", web_port=9
        )
        command = [sys.executable, "-m", "streams.cli", "worker"]
        process = subprocess.Popen(
            command,
            env=_clean_env(**settings.to_env()),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        processes[name] = (process, sentinel, command)
    results = {}
    try:
        for name, (process, sentinel, command) in processes.items():
            out, err = process.communicate(timeout=60)
            results[name] = (subprocess.CompletedProcess(command, process.returncode, out, err), sentinel)
    finally:
        for process, _, _ in processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()
    return results


@pytest.mark.parametrize("breakage", list(BROKEN_MODELS))
def test_worker_refuses_a_broken_model_with_one_line_naming_file_and_field(breakage, refused_workers):
    done, sentinel = refused_workers[breakage]
    assert done.returncode == 2, (done.returncode, done.stderr)
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("error: ")
    assert "Traceback" not in done.stderr + done.stdout
    for expected in BROKEN_MODELS[breakage][1]:
        assert expected in lines[0], lines[0]
    assert not sentinel.exists(), "the YAML tag ran code"


def test_a_model_may_name_an_event_type_nobody_sends(tmp_path):
    """By design (scoring/events.py: "A model may add its own types by naming them in a rule") a misspelt event
    type is a new event type: the model loads and the rule silently never scores. Stated here; see the report."""
    path = tmp_path / "typo.yaml"
    path.write_text(VALID_HEAD + "rules:\n  - {id: demo, event: demo_reqest, points: 30}\n", encoding="utf-8")
    model = load_model(path)
    assert model.event_types == {"demo_reqest"}
    assert Engine([model]).known_event_types >= {"demo_request", "demo_reqest"}


def test_duplicate_keys_in_a_model_file_are_refused(tmp_path):
    path = tmp_path / "dup.yaml"
    path.write_text(VALID_HEAD + "rules:\n  - {id: a, event: page_view, points: 5, points: 500}\n", encoding="utf-8")
    with pytest.raises(ModelError, match="duplicate"):
        load_model(path)


# --------------------------------------------------------------------------------------------------------------
# 4. Conditions and event properties are data, never code
# --------------------------------------------------------------------------------------------------------------

CODE_PAYLOADS = [
    "__import__('os').system('touch {sentinel}')",
    "{0.__class__.__mro__[1].__subclasses__}",
    "{event.__init__.__globals__}",
    "%(x)s %s %n",
    "!!python/object/apply:os.system ['touch {sentinel}']",
    "'; touch {sentinel}; '",
    "$(touch {sentinel})",
]


def _model_with(when: dict[str, Any]) -> dict[str, Any]:
    return {
        "id": "m",
        "version": 1,
        "change_note": "payloads",
        "rules": [{"id": "r", "event": "page_view", "points": 7, "when": when}],
    }


@pytest.mark.parametrize("payload", CODE_PAYLOADS)
def test_payloads_in_model_conditions_and_event_properties_are_plain_data(payload, tmp_path):
    """test_conditions.py covers parse_condition alone; this goes through the model file and the engine: the payload
    as a condition operand, as a field name, in a segment, and as an event property value and property name."""
    sentinel = tmp_path / "pwned"
    payload = payload.replace("{sentinel}", str(sentinel))
    models = [
        parse_model(_model_with({"field": "properties.path", "equals": payload})),
        parse_model(_model_with({"field": "properties.path", "contains": payload[3:9]})),
        parse_model(_model_with({"field": "properties.path", "in": [payload, "x"]})),
        parse_model(_model_with({"field": f"properties.{payload}", "exists": True})),
    ]
    segmented = {**_model_with({"field": "properties.path", "equals": payload}), "id": "seg"}
    segmented["segment"] = {"field": payload, "not_equals": payload}
    models.append(parse_model(segmented))
    for n, model in enumerate(models):
        engine = Engine([model])
        hit = make_event("lead-1", "page_view", T0, event_id=f"hit-{n}", path=payload, **{payload: "1"})
        miss = make_event("lead-1", "page_view", T0, event_id=f"miss-{n}", path="/pricing")
        assert engine.apply_event(None, hit).state.models[model.id].rules, f"payload did not match as text: {n}"
        assert not engine.apply_event(None, miss).state.models[model.id].rules
    assert not sentinel.exists()


def test_a_yaml_python_tag_inside_a_condition_is_refused_and_runs_nothing(tmp_path):
    sentinel = tmp_path / "pwned"
    path = tmp_path / "tag.yaml"
    path.write_text(
        VALID_HEAD + "rules:\n  - id: a\n    event: page_view\n    points: 1\n    when:\n"
        f"      field: !!python/object/apply:os.system ['touch {sentinel}']\n      equals: x\n"
        f"  - {{id: b, event: page_view, points: 1, when: {{field: x, equals: !!python/name:os.system ''}}}}\n",
        encoding="utf-8",
    )
    with pytest.raises(ModelError, match="not valid YAML at line"):
        load_model(path)
    assert not sentinel.exists()


def _alias_bomb(levels: int, fan_out: int = 10) -> str:
    """A "billion laughs" model: rule k's condition is ``any`` of fan_out aliases of rule k-1's. The YAML is small
    (aliases are shared references), but the condition tree parse_condition builds has fan_out**levels leaves."""
    lines = [VALID_HEAD + "rules:", "  - {id: r0, event: page_view, points: 1, when: &c0 {field: x, equals: y}}"]
    for k in range(1, levels + 1):
        refs = ", ".join([f"*c{k - 1}"] * fan_out)
        lines.append(f"  - {{id: r{k}, event: page_view, points: 1, when: &c{k} {{any: [{refs}]}}}}")
    return "\n".join(lines) + "\n"


def test_a_yaml_alias_bomb_in_a_model_is_refused(tmp_path):
    path = tmp_path / "bomb.yaml"
    path.write_text(_alias_bomb(4), encoding="utf-8")
    assert len(path.read_bytes()) < 1500
    with pytest.raises(ModelError, match="aliases"):
        load_model(path)


def test_a_nested_quantifier_regex_is_refused_at_load():
    """Catastrophic backtracking: ``(a+)+$`` took 1.8 s on a 26-character property and doubles with each character."""
    for pattern in ["(a+)+$", "(a*)*b", "(x|y+)*z", "((ab)*)+"]:
        with pytest.raises(ModelError, match="repeats a group that itself repeats"):
            parse_model(_model_with({"field": "properties.q", "matches": pattern}))
    for pattern in ["financial (advisor|adviser)", "^[a-z]+@[a-z]+\\.com$", "(ab){2,5}", "x+y*z"]:
        parse_model(_model_with({"field": "properties.q", "matches": pattern}))


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


@pytest.mark.integration
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


@pytest.mark.integration
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


@pytest.mark.integration
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
