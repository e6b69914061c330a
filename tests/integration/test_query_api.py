"""The query API: any worker answers for any lead, routing to the owner; a bearer token protects it."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request

from kafka import KafkaProducer
from pydantic import SecretStr

from streams.devtools.processes import free_port, spawn_worker, stop_process
from tests.conftest import T0, make_event
from tests.integration.conftest import read_topics

TOKEN = "s3cret-token"


def get(url: str, token: str | None = TOKEN) -> tuple[int, dict, dict]:
    request = urllib.request.Request(url, headers={"Authorization": f"Bearer {token}"} if token else {})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read()), dict(response.headers)
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}"), dict(error.headers)


def test_two_workers_answer_for_every_lead_and_check_the_token(settings, codec, tmp_path):
    leads = [f"lead-{n}" for n in range(16)]
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers)
    for n, lead in enumerate(leads):
        for k, event_type in enumerate(["demo_request", "demo_request", "page_view"]):
            event = make_event(lead, event_type, T0 + n * 10 + k, event_id=f"{lead}-{k}")
            producer.send(settings.topics.events, key=lead.encode(), value=codec.encode_event(event))
    producer.flush()
    producer.close()

    ports = [settings.web_port, free_port()]
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    workers = [
        spawn_worker(
            settings.model_copy(
                update={"web_port": port, "api_token": SecretStr(TOKEN), "data_dir": tmp_path / str(port)}
            ),
            log_file=tmp_path / f"worker-{port}.log",
        )
        for port in ports
    ]
    try:
        read_topics(settings.bootstrap_servers, [settings.topics.score_changes], lambda rs: len(rs) >= 48, 90)
        served_by: dict[str, str] = {}
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:  # until both workers own partitions and answer through each other
            answers = [get(f"{urls[0]}/leads/{lead}?at={T0 + 1000}") for lead in leads]
            if all(status == 200 for status, _, _ in answers):
                served_by = {
                    lead: headers["X-Leadscore-Served-By"] for lead, (_, _, headers) in zip(leads, answers, strict=True)
                }
                if len(set(served_by.values())) == 2:
                    break
            time.sleep(1)
        assert set(served_by.values()) == set(urls), served_by

        status, body, _ = get(f"{urls[1]}/leads/{leads[0]}?at={T0 + 1000}")
        assert status == 200
        [model] = body["models"]
        assert (model["model_id"], model["score"], model["levels"]) == ("b2b", 62.0, ["MQL"])
        assert model["top_contributors"][0] == {"rule_id": "demo-request", "value": 60.0}

        assert get(f"{urls[0]}/leads/{leads[0]}", token=None)[0] == 401
        assert get(f"{urls[0]}/leads/{leads[0]}", token="wrong")[0] == 401
        assert get(f"{urls[0]}/leads/nobody")[0] == 404
        assert get(f"{urls[0]}/leads/{leads[0]}?at=yesterday")[0] == 400
        assert get(f"{urls[0]}/healthz", token=None)[:2] == (200, {"status": "ok"})
        # ready once its rebalance and recovery are over (on Kafka a second rebalance can follow the first answers)
        deadline = time.monotonic() + 60
        while (ready := get(f"{urls[1]}/readyz", token=None))[0] != 200 and time.monotonic() < deadline:
            assert ready[1]["status"] == "recovering", ready
            time.sleep(0.5)
        assert ready[:2] == (200, {"status": "ready"})  # a probe: nothing counted
        counted = get(f"{urls[1]}/readyz?leads=1", token=None)
        assert counted[:2] == (200, {"status": "ready", "leads": counted[1].get("leads")}) and counted[1]["leads"] > 0
    finally:
        for worker in workers:
            stop_process(worker, grace_s=15)
