"""A secured cluster over the wire (issue 14, item 5): Apache Kafka whose only client listener is SASL_SSL
(SCRAM-SHA-512 user ``alice``, TLS with a CA and a server certificate this module makes), and through it
`leadscore topics create`, `data replay`, a worker scoring, `evaluate --bootstrap`, `models rescore` and the
benchmark's own clients (kafka-python, aiokafka, librdkafka). A wrong password and an untrusted certificate each
end in one line naming the cause, exit code 2, no traceback and no password, for `topics create` and the worker.

One broker for the module (about 8 s to start); skipped without Java, or without Maven while the jars are not cached.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
import yaml
from kafka import KafkaAdminClient
from kafka.errors import KafkaError
from pydantic import SecretStr
from typer.testing import CliRunner

from bench import throughput
from bench.common import produce_events
from streams.cli.main import app
from streams.devtools.apache_kafka import ApacheKafkaBroker, kafka_jars
from streams.devtools.processes import free_port, spawn_worker, stop_process
from streams.devtools.secured_kafka import SecuredKafkaBroker, ServerTls
from streams.errors import EmbeddedBrokerError
from streams.kafka.security import kafka_python_config
from streams.settings import Settings, TopicNames
from tests.certificates import make_certificates
from tests.conftest import SIMPLE_MODEL
from tests.integration.conftest import read_topics
from tests.unit.test_cli_evaluate import DATA_END, LATE_LEADS, LEADS, write_history

PASSWORD = f"alice-{secrets.token_hex(8)}"  # must never appear in any output or log
WRONG_PASSWORD = f"wrong-{secrets.token_hex(8)}"
POINTS = {"page_view": 2.0, "demo_request": 30.0}  # tests/fixtures/simple.yaml, the events write_history makes
ALL_LEADS = LEADS + LATE_LEADS
runner = CliRunner()


@pytest.fixture(scope="session")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[SecuredKafkaBroker]:
    if shutil.which("java") is None:
        pytest.skip("Apache Kafka for the tests needs Java 17 (make kafka-tools)")
    try:
        kafka_jars()
    except EmbeddedBrokerError as exc:
        pytest.skip(f"Apache Kafka for the tests is not available: {exc}")
    folder = tmp_path_factory.mktemp("secured")
    certificates = make_certificates(folder)
    tls = ServerTls(certificates.ca, certificates.server_cert, certificates.server_key)
    with SecuredKafkaBroker(tls, {"alice": PASSWORD}, log_file=folder / "kafka.log") as broker:
        yield broker
    assert PASSWORD not in (folder / "kafka.log").read_text()


def client_settings(broker: SecuredKafkaBroker, folder: Path, name: str, **overrides: object) -> Settings:
    """A worker's settings on the secured listener, its own topics (not created) and the simple model."""
    topics = TopicNames(**{field: f"{default}-{name}" for field, default in TopicNames().model_dump().items()})
    values = {"app_id": f"secured-{name}", "topics": topics, "model_paths": [SIMPLE_MODEL], "web_port": free_port()}
    return broker.client_settings(**{**ApacheKafkaBroker.SETTINGS, **values, "data_dir": folder / name, **overrides})


@dataclass
class Scored:
    settings: Settings
    history: Path  # events.jsonl, conversions.jsonl and the two models of the evaluate tests
    expected: dict[str, float]  # each lead's final score under the simple model
    events: int
    outputs: str  # what topics create and data replay printed
    worker_log: str
    latest: dict[str, float]  # each lead's last score on lead-score-changes


@pytest.fixture(scope="session")
def scored(secured: SecuredKafkaBroker, tmp_path_factory: pytest.TempPathFactory) -> Scored:
    """Topics created and a history replayed by the CLI, then scored by a worker, all through SASL_SSL."""
    folder = tmp_path_factory.mktemp("scored")
    write_history(folder)
    settings = client_settings(secured, folder, "pipeline")
    env = settings.to_env()
    created = runner.invoke(app, ["topics", "create", "--timeout", "30"], env=env)
    assert created.exit_code == 0, created.output
    expected: dict[str, float] = {}
    lines = (folder / "events.jsonl").read_text().splitlines()
    for event in map(json.loads, lines):
        expected[event["lead_id"]] = expected.get(event["lead_id"], 0.0) + POINTS[event["type"]]

    log = folder / "worker.log"
    worker = spawn_worker(settings, log_file=log)  # it starts while the history is replayed: it reads from the start
    try:
        replayed = runner.invoke(app, ["data", "replay", str(folder)], env=env)
        assert replayed.exit_code == 0, replayed.output
        topic = settings.topics.score_changes
        security = kafka_python_config(settings)
        records = read_topics(settings.bootstrap_servers, [topic], lambda r: len(r) >= len(lines), 120, **security)
        assert worker.poll() is None, log.read_text()
    finally:
        stop_process(worker, grace_s=15)
    latest = {value["lead_id"]: value["score"] for _, _, value in records}
    return Scored(settings, folder, expected, len(lines), created.output + replayed.output, log.read_text(), latest)


def test_the_cli_and_a_worker_score_through_the_secured_listener(secured: SecuredKafkaBroker, scored: Scored) -> None:
    settings = scored.settings
    assert f"created  {settings.topics.events}" in scored.outputs
    assert f"produced {scored.events} events to {settings.topics.events}" in scored.outputs
    assert scored.latest == scored.expected and len(scored.expected) == ALL_LEADS
    assert PASSWORD not in scored.outputs and PASSWORD not in scored.worker_log

    admin = KafkaAdminClient(bootstrap_servers=secured.bootstrap, **kafka_python_config(settings))
    try:  # the only listener clients are told about is the secured one
        assert [(b["host"], b["port"]) for b in admin.describe_cluster()["brokers"]] == [("127.0.0.1", secured.port)]
    finally:
        admin.close()
    with pytest.raises(KafkaError):  # and it speaks nothing but TLS
        KafkaAdminClient(bootstrap_servers=secured.bootstrap, bootstrap_timeout_ms=1000, request_timeout_ms=1000)


def test_evaluate_and_rescore_read_the_topics_through_it(scored: Scored, tmp_path: Path) -> None:
    settings, history = scored.settings, scored.history
    env = settings.to_env()
    models = ["--model", str(history / "good.yaml"), "--model", str(history / "blind.yaml")]
    window = ["--window", "30d", "--data-end", DATA_END]
    files = [*models, "--events", str(history / "events.jsonl"), "--conversions", str(history / "conversions.jsonl")]
    from_files = runner.invoke(app, ["evaluate", *files, *window, "--json", str(tmp_path / "files.json")])
    assert from_files.exit_code == 0, from_files.output
    args = ["evaluate", *models, "--bootstrap", settings.bootstrap_servers, *window, "--json", str(tmp_path / "t.json")]
    from_topics = runner.invoke(app, args, env=env)
    assert from_topics.exit_code == 0, from_topics.output
    report = json.loads((tmp_path / "t.json").read_text())
    assert report["cohort"]["leads"] == 200 and report == json.loads((tmp_path / "files.json").read_text())

    spec = yaml.safe_load(SIMPLE_MODEL.read_text())  # v2: a demo request is worth 15 instead of 30
    spec.update(version=2, change_note="Demo requests count half.")
    for rule in spec["rules"]:
        rule["points"] = 15 if rule["event"] == "demo_request" else rule["points"]
    (tmp_path / "v2.yaml").write_text(yaml.safe_dump(spec))
    staging = f"{settings.topics.scores}-staging"
    rescore = ["models", "rescore", "-m", str(tmp_path / "v2.yaml"), "-b", settings.bootstrap_servers]
    result = runner.invoke(app, [*rescore, "--report", str(tmp_path / "r.json"), "--publish", staging], env=env)
    assert result.exit_code == 0, result.output
    model = json.loads((tmp_path / "r.json").read_text())["models"]["b2b"]
    assert (model["version"], model["leads_compared"]) == (2, ALL_LEADS)  # the worker's live scores, read back
    assert model["top_movers"] and {mover["delta"] for mover in model["top_movers"]} == {-15.0}
    published = read_topics(
        settings.bootstrap_servers, [staging], lambda r: len(r) >= ALL_LEADS, 30, **kafka_python_config(settings)
    )
    assert len(published) == ALL_LEADS and len({key for _, key, _ in published}) == ALL_LEADS
    assert PASSWORD not in from_topics.output + result.output


def test_the_benchmark_clients_log_in_and_check_the_certificate(scored: Scored) -> None:
    cluster = scored.settings
    source = f"{cluster.app_id}-bench-input"
    assert produce_events(cluster, source, 300, 30) == 300  # kafka-python
    ceiling = throughput.ceiling(cluster, source, 300, sink=f"{source}-passthrough")  # aiokafka in and out
    assert ceiling["events"] == 300
    layout = throughput.changelog_layout(cluster, cluster.app_id, cluster.partitions, sample=len(scored.expected))
    assert layout["records_checked"] >= len(scored.expected) and layout["mismatched"] == 0  # librdkafka


REFUSALS = {
    "wrong password": (
        "error: authentication failed for user alice on 127.0.0.1:{port}: wrong username or password "
        "(SASL SCRAM-SHA-512; check LEADSCORE_SASL_USERNAME and LEADSCORE_SASL_PASSWORD)"
    ),
    "untrusted certificate": (
        "error: TLS: the certificate of 127.0.0.1:{port} is not trusted by LEADSCORE_SSL_CAFILE ({ca}): unable to "
        "get local issuer certificate; set LEADSCORE_SSL_CAFILE to the CA that signed the brokers' certificates"
    ),
}


@pytest.mark.parametrize("command", ["topics create", "worker"])
@pytest.mark.parametrize("refusal", sorted(REFUSALS))
def test_a_refused_login_or_certificate_is_one_line_without_the_password(
    secured: SecuredKafkaBroker, tmp_path: Path, refusal: str, command: str
) -> None:
    other_ca = make_certificates(tmp_path).ca  # a CA that did not sign the broker's certificate
    wrong = {"sasl_password": SecretStr(WRONG_PASSWORD)} if refusal == "wrong password" else {"ssl_cafile": other_ca}
    settings = client_settings(secured, tmp_path, command.replace(" ", "-"), **wrong)
    if command == "worker":
        log = tmp_path / "worker.log"
        worker = spawn_worker(settings, log_file=log)
        try:
            code = worker.wait(timeout=60)
        finally:
            stop_process(worker)
        output = log.read_text()
    else:
        cli = [sys.executable, "-m", "streams.cli", "topics", "create", "--timeout", "30"]
        done = subprocess.run(cli, env={**os.environ, **settings.to_env()}, capture_output=True, text=True, timeout=60)
        code, output = done.returncode, done.stdout + done.stderr
    assert code == 2
    assert output.strip().splitlines() == [REFUSALS[refusal].format(port=secured.port, ca=other_ca)]
    assert PASSWORD not in output and WRONG_PASSWORD not in output
