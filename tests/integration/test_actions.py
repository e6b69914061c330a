"""Issue 17 on the wire: one worker on the session's broker, one model (tests/fixtures/actions.yaml) with routing,
a trend, scanner-click filtering and decaying levels. Leads entering MQL are routed (LeadRouted on lead-routes, by
territory, round robin, with a fallback), a surge is a crossing on lead-thresholds, scanner clicks are ignored in
either arrival order and counted on /metrics, lead-scores carries the exact time to drop, and the query API's path
to SQL is the one the engine computes offline from the same input."""

from __future__ import annotations

import json
import urllib.request
from pathlib import Path

from kafka import KafkaProducer

from scoring import Engine, LeadProfile, load_model
from scoring.path import path_record, path_to
from streams.devtools.processes import spawn_worker, stop_process
from streams.kafka.codec import AvroCodec
from tests.conftest import T0, TESTS, make_event
from tests.integration.conftest import new_settings, read_topics, wait_until

MODEL = TESTS / "fixtures" / "actions.yaml"
MINUTE = 60_000
PROFILES = [
    LeadProfile("emea-1", T0, attributes={"region": "EMEA"}),
    LeadProfile("emea-2", T0, attributes={"region": "EMEA"}),
    LeadProfile("us-1", T0, attributes={"region": "NA"}),
]
HOT = ("demo_request", "webinar_attended", "webinar_attended")  # 40 + 15 + 15 = 70: MQL, and a surge (>= 50)
EVENTS = [
    *(
        make_event(lead, kind, T0 + MINUTE + n, event_id=f"{lead}-{n}")
        for lead in ("emea-1", "emea-2", "us-1")
        for n, kind in enumerate(HOT)
    ),
    # a scanner's click 5 s after its send, the send first; and one whose send arrives after it (taken back)
    make_event("mail-1", "email_sent", T0, event_id="send-1", email_id="m1"),
    make_event("mail-1", "email_click", T0 + 5_000, event_id="scan-1", email_id="m1"),
    make_event("mail-1", "email_click", T0 + 60 * MINUTE, event_id="human-1", email_id="m1"),
    make_event("mail-2", "email_click", T0 + 5_000, event_id="scan-2", email_id="m2"),
    make_event("mail-2", "email_sent", T0, event_id="send-2", email_id="m2"),
]


def _get(url: str) -> tuple[int, object]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.loads(response.read()) if "json" in response.headers["Content-Type"] else None
    except urllib.error.HTTPError as error:
        return error.code, None


def _metrics(port: int) -> str:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        return response.read().decode()


def _produce(settings, codec: AvroCodec, records: list[tuple[str, str, bytes]]) -> None:
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers)
    for topic, key, value in records:
        producer.send(topic, key=key.encode(), value=value)
    producer.flush()
    producer.close()


def test_routing_trend_filters_drops_and_the_path_on_the_broker(broker, codec, tmp_path: Path) -> None:
    settings = new_settings(broker, tmp_path / "state", model_paths=[MODEL])
    names = settings.topics
    _produce(settings, codec, [(names.profiles, p.lead_id, codec.encode_profile(p)) for p in PROFILES])
    worker = spawn_worker(settings, log_file=tmp_path / "worker.log")
    try:
        # the territory (a profile field routing reads) must be known before the leads cross MQL
        profiled = read_topics(settings.bootstrap_servers, [names.score_changes], lambda rs: len(rs) >= 2, 90)
        assert len(profiled) == 2, (tmp_path / "worker.log").read_text()[-3000:]
        _produce(settings, codec, [(names.events, e.lead_id, codec.encode_event(e)) for e in EVENTS])
        topics = [names.lead_routes, names.thresholds, names.scores]

        def complete(records) -> bool:
            routed = [r for r in records if r[0] == names.lead_routes]
            surges = [r for r in records if r[0] == names.thresholds and r[2]["level"] == "surging"]
            return len(routed) == 3 and len(surges) == 3

        records = read_topics(settings.bootstrap_servers, topics, complete, 90)
        assert complete(records), (tmp_path / "worker.log").read_text()[-3000:]
        port = settings.web_port
        assert wait_until(lambda: 'reason="scanner_click"} 2.0' in _metrics(port), 30), _metrics(port)

        owners = {
            r[2]["lead_id"]: (r[2]["route_id"], r[2]["owner_id"], r[2]["action"])
            for r in records
            if r[0] == names.lead_routes
        }
        assert owners["us-1"] == ("mql-fallback", "inside-sales", "ASSIGNED")
        assert {owners["emea-1"], owners["emea-2"]} == {("emea", "anna", "ASSIGNED"), ("emea", "ben", "ASSIGNED")}
        surges = [r[2] for r in records if r[0] == names.thresholds and r[2]["level"] == "surging"]
        assert {(s["lead_id"], s["direction"], s["cause"]) for s in surges} == {
            (lead, "UP", "EVENT") for lead in ("emea-1", "emea-2", "us-1")
        }

        # offline, the same model on the same input: the reference for drops, scores and the path
        engine = Engine([load_model(MODEL)])
        states = {}
        for profile in PROFILES:
            states[profile.lead_id] = engine.apply_profile(states.get(profile.lead_id), profile).state
        for event in EVENTS:
            states[event.lead_id] = engine.apply_event(states.get(event.lead_id), event).state
        latest = {}
        for topic, key, value in records:
            if topic == names.scores and value is not None:
                latest[key.decode()] = value
        at_ms = T0 + MINUTE + 2
        (offline,) = engine.snapshot(states["emea-1"], at_ms)
        (model_score,) = latest["emea-1"]["models"]
        drop = model_score["drops"][0]
        assert (drop["level"], drop["drops_at"].timestamp() * 1000) == ("MQL", offline.drops[0][1])
        assert offline.drops[0][1] is not None and offline.drops[0][1] > at_ms

        status, mail_1 = _get(f"http://127.0.0.1:{port}/leads/mail-1?at={T0 + 60 * MINUTE}")
        assert status == 200 and mail_1["models"][0]["score"] == 5.0  # the human click only
        status, mail_2 = _get(f"http://127.0.0.1:{port}/leads/mail-2?at={T0 + 5_000}")
        assert status == 200 and mail_2["models"][0]["score"] == 0.0  # the scanner's click taken back

        status, answer = _get(f"http://127.0.0.1:{port}/leads/us-1/path?to=SQL&at={at_ms}")
        assert status == 200
        expected = path_record(path_to(engine.models[0], states["us-1"], "SQL", at_ms))
        assert answer["models"] == [json.loads(json.dumps(expected))]
        assert expected["status"] == "reachable" and expected["score_after"] >= 120
        assert worker.poll() is None
    finally:
        stop_process(worker)
