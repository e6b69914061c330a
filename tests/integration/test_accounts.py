"""Accounts on a real broker (ADR 043): events of several leads of one account, scored by a worker process, reach
the account agent through ``<app_id>-account-inputs`` and come out as AccountScoreChanged, AccountThresholdCrossed
and AccountScore (read with the reference library); ``GET /accounts/{id}`` answers with the account's scores."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import replace

from kafka import KafkaProducer

from streams.devtools.processes import spawn_worker, stop_process
from tests.conftest import T0, make_event
from tests.integration.conftest import read_topics, wait_until

MODEL = """
id: b2b
version: 1
change_note: "accounts against the broker"
rules:
  - {id: demo, event: demo_request, points: 30}
levels:
  - {name: MQL, enter: 60, leave: 50}
account:
  from: [event]
  member_cap: 40
  levels:
    - {name: engaged-account, enter: 60, leave: 40, coverage: 0}
"""


def get(url: str) -> tuple[int, dict]:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, json.loads(error.read() or b"{}")


def test_leads_of_one_account_roll_up_to_its_outputs_and_query(settings, codec, tmp_path):
    model = tmp_path / "b2b.yaml"
    model.write_text(MODEL)
    settings = settings.model_copy(update={"model_paths": [model]})
    names = settings.topics
    leads = ["ann", "bob", "cyd"]
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers)
    for n, lead in enumerate(leads):
        event = replace(make_event(lead, "demo_request", T0 + n * 1000, event_id=f"{lead}-1"), account_id="acme")
        producer.send(names.events, key=lead.encode(), value=codec.encode_event(event))
    producer.flush()
    producer.close()
    worker = spawn_worker(settings, log_file=tmp_path / "worker.log")
    topics = [names.account_score_changes, names.account_thresholds, names.account_scores]
    try:
        records = read_topics(
            settings.bootstrap_servers,
            topics,
            lambda rs: any(t == names.account_scores and v and v["models"][0]["member_count"] == 3 for t, _, v in rs),
            60,
        )
        # the state is written right after the outputs are acknowledged (ADR 013): the query may lag them a moment
        url = f"http://127.0.0.1:{settings.web_port}/accounts/acme?at={T0 + 5000}"
        wait_until(lambda: get(url)[0] == 200, 15)
        status, account = get(url)
        missing, _ = get(f"http://127.0.0.1:{settings.web_port}/accounts/nobody")
    finally:
        stop_process(worker, grace_s=15)
    changes = [v for t, _, v in records if t == names.account_score_changes]
    assert [c["score"] for c in changes] == [30.0, 60.0, 90.0]
    assert all(key == b"acme" for _, key, _ in records)
    assert sorted(c["members"][0]["member_id"] for c in changes) == leads  # leads of several partitions: any order
    [crossing] = [v for t, _, v in records if t == names.account_thresholds]
    assert (crossing["level"], crossing["direction"], crossing["score"]) == ("engaged-account", "UP", 60.0)
    assert status == 200 and account["account_id"] == "acme"
    [view] = account["models"]
    assert view["score"] == 90.0 and view["member_count"] == 3 and view["levels"] == ["engaged-account"]
    assert missing == 404
