"""The dashboard and the alert rules against a real Prometheus scraping a real worker under load.

A worker on the embedded broker scores generated journeys (with profiles, malformed inputs, re-deliveries and
misplaced inputs, so that every metric the kit reads has series) while more events keep arriving. Debian's
Prometheus scrapes it every second on a loopback port, with deploy/prometheus/alerts.yml loaded. Then:

- every query of the Grafana dashboard must run and return data;
- every alert expression must run, and every series selector inside it must return data on its own (an alert is
  normally silent, so only its selectors can show that it reads metrics that exist);
- ``promtool check metrics`` must find nothing to say about leadscore's own metrics.
"""

from __future__ import annotations

import dataclasses
import json
import subprocess
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from pathlib import Path
from typing import Any

import orjson
import pytest
import yaml
from kafka import KafkaProducer

from scoring import example_model_path
from scoring.conversions import Conversion, Outcome
from streams.datasets.segment import track_call
from streams.datasets.synthetic import JourneyGenerator
from streams.devtools.brokers import Broker
from streams.devtools.processes import die_with_parent, free_port, spawn_worker, stop_process, wait_for_port
from streams.kafka.codec import AvroCodec
from streams.kafka.registry import LocalSchemaRegistry
from streams.settings import Settings
from tests.integration.conftest import new_settings
from tests.ops.conftest import checks, require_tool
from tests.ops.promql import metric_name, selectors

LEADS = 60
FIRST_BATCH = 600
LOAD_EVENTS_PER_S = 40
DATA_TIMEOUT_S = 60
SEGMENT_EXAMPLE = Path(__file__).parents[2] / "streams" / "sources" / "examples" / "segment.yaml"
SEGMENT_TOPIC = f"segment-events-ops-{int(time.time())}"


def _get(url: str, timeout_s: float = 5.0) -> tuple[int, bytes]:
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return response.status, response.read()
    except urllib.error.HTTPError as exc:
        return exc.code, exc.read()


class PrometheusServer:
    """Debian's prometheus on a free 127.0.0.1 port, scraping ``targets`` every second, with the alert rules."""

    def __init__(self, binary: str, workdir: Path, targets: list[str]) -> None:
        self.port = free_port()
        workdir.mkdir(parents=True, exist_ok=True)
        (workdir / "alerts.yml").write_text(checks.ALERTS.read_text())
        config = {
            "global": {"scrape_interval": "1s", "scrape_timeout": "1s", "evaluation_interval": "1s"},
            "rule_files": ["alerts.yml"],
            "scrape_configs": [{"job_name": "leadscore", "static_configs": [{"targets": targets}]}],
        }
        (workdir / "prometheus.yml").write_text(yaml.safe_dump(config))
        self.log = workdir / "prometheus.log"
        with open(self.log, "wb") as log:
            self.process = subprocess.Popen(
                [
                    binary,
                    f"--config.file={workdir / 'prometheus.yml'}",
                    f"--storage.tsdb.path={workdir / 'tsdb'}",
                    f"--web.listen-address=127.0.0.1:{self.port}",
                    "--log.level=warn",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                preexec_fn=die_with_parent,
                start_new_session=True,
            )
        wait_for_port("127.0.0.1", self.port, 30, self.process)
        deadline = time.monotonic() + 30
        while _get(f"http://127.0.0.1:{self.port}/-/ready")[0] != 200:  # 503 until the TSDB is open
            assert self.process.poll() is None and time.monotonic() < deadline, self.log.read_text()
            time.sleep(0.2)

    def query(self, expr: str) -> dict[str, Any]:
        """The JSON answer of ``/api/v1/query``: ``status`` (``success`` or ``error``), ``data.result``, ``error``."""
        url = f"http://127.0.0.1:{self.port}/api/v1/query?" + urllib.parse.urlencode({"query": expr})
        status, body = _get(url)
        try:
            answer: dict[str, Any] = json.loads(body)
        except ValueError:
            return {"status": "error", "error": f"HTTP {status}: {body[:200]!r}", "data": {"result": []}}
        answer.setdefault("data", {"result": []})  # errors (HTTP 400) come without data
        return answer

    def stop(self) -> None:
        stop_process(self.process, grace_s=10)


class Load:
    """Keeps producing fresh events (event time = now) from a background thread until stopped."""

    def __init__(self, producer: KafkaProducer, codec: AvroCodec, topic: str) -> None:
        self.producer, self.codec, self.topic = producer, codec, topic
        self.stopped = threading.Event()
        self.sent = 0
        self.thread = threading.Thread(target=self._run, name="load", daemon=True)

    def _run(self) -> None:
        events = JourneyGenerator(LEADS, seed=2).events(10**6)
        while not self.stopped.wait(1.0 / LOAD_EVENTS_PER_S):
            event = dataclasses.replace(next(events), occurred_at_ms=int(time.time() * 1000))
            self.producer.send(self.topic, key=event.lead_id.encode(), value=self.codec.encode_event(event))
            self.sent += 1

    def __enter__(self) -> Load:
        self.thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stopped.set()
        self.thread.join(timeout=10)


def segment_sources(directory: Path, topic: str) -> Path:
    """The shipped Segment mapping, on a topic of this test's own."""
    path = directory / "segment.yaml"
    path.write_text(SEGMENT_EXAMPLE.read_text().replace("topic: segment-events", f"topic: {topic}"))
    return path


def _produce_history(settings: Settings, producer: KafkaProducer, codec: AvroCodec) -> None:
    """Profiles and journeys of the last minutes, plus what makes the other series exist: malformed inputs
    (dead letters), re-deliveries (duplicates) and inputs keyed by account instead of lead (rerouted)."""
    names = settings.topics
    start_ms = int(time.time() * 1000) - 5 * 60_000
    generator = JourneyGenerator(LEADS, seed=1, start_ms=start_ms, mean_gap_ms=400)
    for lead_id in generator.lead_ids:
        producer.send(names.profiles, key=lead_id.encode(), value=codec.encode_profile(generator.profile(lead_id)))
    sent = []
    for event in generator.events(FIRST_BATCH):
        value = codec.encode_event(event)
        producer.send(names.events, key=event.lead_id.encode(), value=value)
        sent.append((event, value))
    for event, value in sent[:5]:  # re-delivered: same event ids
        producer.send(names.events, key=event.lead_id.encode(), value=value)
    for event, _ in sent[5:10]:  # keyed by something else than the lead id: rerouted
        rekeyed = dataclasses.replace(event, event_id=f"{event.event_id}-rekeyed")
        producer.send(names.events, key=f"account-of-{event.lead_id}".encode(), value=codec.encode_event(rekeyed))
    for n in range(3):
        producer.send(names.events, key=f"lead-x{n}".encode(), value=b"not avro at all")
    unknown = dataclasses.replace(sent[0][0], event_id="unknown-type", type="teleport")
    producer.send(names.events, key=unknown.lead_id.encode(), value=codec.encode_event(unknown))
    for event, _ in sent[:3]:  # outcomes from the CRM: joined to the scores (leadscore_conversions_total)
        won = Conversion(f"won-{event.event_id}", event.lead_id, Outcome.WON, event.occurred_at_ms + 1, 500.0, "EUR")
        producer.send(names.conversions, key=event.lead_id.encode(), value=codec.encode_conversion(won))
    for event, _ in sent[10:15]:  # the same journeys as Segment calls on a declared source (ADR 035)
        call = track_call(dataclasses.replace(event, event_id=f"{event.event_id}-segment"))
        producer.send(SEGMENT_TOPIC, key=event.lead_id.encode(), value=orjson.dumps(call))
    producer.send(SEGMENT_TOPIC, key=b"lead-y", value=b'{"type": "page"}')  # skipped on purpose
    producer.flush()


def _wait_ready(settings: Settings, worker: subprocess.Popen[bytes], log: Path, timeout_s: float = 90) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        assert worker.poll() is None, log.read_text()
        try:
            if _get(f"http://127.0.0.1:{settings.web_port}/readyz", timeout_s=2)[0] == 200:
                return
        except OSError:  # refused while starting, or timed out
            pass
        time.sleep(0.5)
    pytest.fail(f"the worker was not ready within {timeout_s:.0f} s:\n{log.read_text()[-3000:]}")


def _problems(prometheus: PrometheusServer) -> list[str]:
    """Everything the dashboard and the alerts need that Prometheus cannot give yet (empty: all good)."""
    problems = []
    for title, expr in checks.dashboard_queries():
        answer = prometheus.query(expr)
        if answer["status"] != "success":
            problems.append(f"dashboard panel {title!r}: {expr}: {answer.get('error')}")
        elif not answer["data"]["result"]:
            problems.append(f"dashboard panel {title!r}: no data for {expr}")
    for variable, selector, label in checks.dashboard_variable_selectors():
        result = prometheus.query(selector)["data"]["result"]
        if not any(label in series["metric"] for series in result):
            problems.append(f"dashboard variable ${variable}: no {label!r} label in {selector}")
    for rule in checks.alert_rules():
        answer = prometheus.query(rule["expr"])
        if answer["status"] != "success":
            problems.append(f"alert {rule['alert']}: {answer.get('error')}")
        for selector in selectors(rule["expr"]):
            if not prometheus.query(selector)["data"]["result"]:
                problems.append(f"alert {rule['alert']}: no series for {selector}")
    return problems


def test_dashboard_queries_and_alert_expressions_on_a_live_worker(broker: Broker, tmp_path: Path) -> None:
    prometheus_binary = require_tool("prometheus")
    promtool = require_tool("promtool")
    settings = new_settings(
        broker,
        tmp_path / "state",
        model_paths=[example_model_path("b2b")],
        decay_tick_s=1.0,
        log_level="WARNING",
        sources_path=segment_sources(tmp_path, SEGMENT_TOPIC),
    )
    codec = AvroCodec(LocalSchemaRegistry())
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers, linger_ms=5)
    worker_log = tmp_path / "worker.log"
    worker = spawn_worker(settings, log_file=worker_log)
    prometheus: PrometheusServer | None = None
    started = time.monotonic()
    try:
        _produce_history(settings, producer, codec)
        _wait_ready(settings, worker, worker_log)
        prometheus = PrometheusServer(prometheus_binary, tmp_path / "prometheus", [f"127.0.0.1:{settings.web_port}"])
        with Load(producer, codec, settings.topics.events) as load:
            deadline = time.monotonic() + DATA_TIMEOUT_S
            problems = _problems(prometheus)
            while problems and time.monotonic() < deadline:
                time.sleep(2)
                problems = _problems(prometheus)
            assert load.sent > 0
        assert worker.poll() is None, worker_log.read_text()
        assert not problems, "\n".join(problems)

        # A misspelt metric gets no data: the check above would have caught it.
        misspelt = prometheus.query("leadscore_events_scored_totl")
        assert misspelt["status"] == "success" and misspelt["data"]["result"] == []
        assert prometheus.query('up{job="leadscore"}')["data"]["result"][0]["value"][1] == "1"
        # The server accepted and evaluates every alert rule.
        status, body = _get(f"http://127.0.0.1:{prometheus.port}/api/v1/rules")
        loaded = [rule["name"] for group in json.loads(body)["data"]["groups"] for rule in group["rules"]]
        assert status == 200 and sorted(loaded) == sorted(rule["alert"] for rule in checks.alert_rules())

        # promtool's linter on the live exposition: nothing about leadscore's own metrics.
        _, exposition = _get(f"http://127.0.0.1:{settings.web_port}/metrics")
        lint = subprocess.run(
            [promtool, "check", "metrics"], input=exposition, capture_output=True, timeout=30, check=False
        )
        findings = lint.stdout.decode() + lint.stderr.decode()
        lines = [line for line in findings.splitlines() if line.strip()]
        # Faust's sensor names a metric `faust_events_runtime_ms` (an abbreviated unit): not ours to rename.
        assert all(line.startswith("faust_") for line in lines), findings
        assert lint.returncode == (3 if lines else 0), findings  # 3: lint findings; 1: the text did not parse
        assert b"leadscore_events_scored_total" in exposition
        for title, expr in checks.dashboard_queries():
            for selector in selectors(expr):
                name = metric_name(selector).removesuffix("_bucket")
                assert name == "up" or name.encode() in exposition, f"{title}: {name} not exposed by the worker"
    finally:
        if prometheus is not None:
            prometheus.stop()
        stop_process(worker, grace_s=15)
        producer.close()
    assert prometheus is None or prometheus.process.returncode is not None
    assert time.monotonic() - started < 120
