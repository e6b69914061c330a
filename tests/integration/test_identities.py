"""Identities over the wire (ADR 044): an anonymous visitor's events, an identify, more events under the anonymous
id; the lead's final score is the engine's score of every event under the lead, ``LeadMerged`` is on lead-merges,
the anonymous id's lead-scores entry is tombstoned and ``GET /leads/{anonymous id}`` redirects to the lead."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from dataclasses import replace

from kafka import KafkaProducer

from scoring import Engine, load_model
from scoring.identities.records import IdentityKind, IdentityRecord
from streams.devtools.processes import spawn_worker, stop_process
from streams.kafka.identity_codec import IdentityCodec
from tests.conftest import SIMPLE_MODEL, T0, make_event
from tests.integration.conftest import read_topics

HOUR = 3_600_000


def not_followed(url: str) -> tuple[int, str | None, dict]:
    """GET ``url`` without following a redirect: the status, the ``Location`` header and the JSON body."""

    class Keep(urllib.request.HTTPRedirectHandler):
        def redirect_request(self, *args: object, **kwargs: object) -> None:
            return None

    try:
        with urllib.request.build_opener(Keep).open(url, timeout=10) as response:
            return response.status, response.headers.get("Location"), json.loads(response.read())
    except urllib.error.HTTPError as error:
        return error.code, error.headers.get("Location"), json.loads(error.read() or b"{}")


def test_an_identify_merges_the_anonymous_history_and_later_events_follow(settings, codec, tmp_path):
    names = settings.topics
    visits = [make_event("anon-7", kind, T0 + n * HOUR) for n, kind in enumerate(["page_view", "content_download"])]
    own = [make_event("lead-7", "form_fill", T0 + 3 * HOUR)]
    later = [make_event("anon-7", "demo_request", T0 + 5 * HOUR)]
    producer = KafkaProducer(bootstrap_servers=settings.bootstrap_servers)

    def send_events(events):
        for event in events:
            producer.send(names.events, key=event.lead_id.encode(), value=codec.encode_event(event))
        producer.flush()

    def scored(lead: bytes, score: float):
        def done(records) -> bool:
            return any(
                t == names.scores and k == lead and v and v["models"][0]["score"] == score for t, k, v in records
            )

        return done

    send_events([*visits, *own])
    worker = spawn_worker(settings, log_file=tmp_path / "worker.log")
    try:
        read_topics(settings.bootstrap_servers, [names.scores], scored(b"anon-7", 10.0), 60)
        read_topics(settings.bootstrap_servers, [names.scores], scored(b"lead-7", 10.0), 30)
        identify = IdentityRecord("identify-7", IdentityKind.IDENTIFY, "anon-7", "lead-7", T0 + 4 * HOUR)
        producer.send(names.identities, key=b"anon-7", value=IdentityCodec(codec).encode_identity(identify))
        producer.flush()
        read_topics(settings.bootstrap_servers, [names.merges], lambda rs: len(rs) >= 1, 30)
        send_events(later)
        records = read_topics(settings.bootstrap_servers, [names.scores, names.merges], scored(b"lead-7", 50.0), 30)
        redirect = not_followed(f"http://127.0.0.1:{settings.web_port}/leads/anon-7?at={T0 + 6 * HOUR}")
    finally:
        producer.close()
        stop_process(worker, grace_s=15)

    engine = Engine([load_model(SIMPLE_MODEL)])
    state = None
    for event in [*visits, *own, *later]:
        state = engine.score_event(state, replace(event, lead_id="lead-7")).state
    assert state is not None and state.models["b2b"].score == 50.0
    latest = {}
    for topic, key, value in records:
        if topic == names.scores:
            latest[key] = value
    assert latest[b"lead-7"]["models"][0]["score"] == state.models["b2b"].score
    assert latest[b"anon-7"] is None  # the absorbed id's tombstone
    [merged] = [value for topic, _, value in records if topic == names.merges]
    assert (merged["absorbed_id"], merged["survivor_id"], merged["kind"], merged["events_merged"]) == (
        "anon-7",
        "lead-7",
        "IDENTIFY",
        2,
    )
    assert [(s["score_before"], s["score_after"]) for s in merged["scores"]] == [(10.0, 20.0)]
    # the query API: the absorbed id answers 308 to its survivor (ADR 044)
    status, location, body = redirect
    assert (status, location) == (308, f"/leads/lead-7?at={T0 + 6 * HOUR}")
    assert (body["lead_id"], body["merged_into"], body["identity_id"]) == ("anon-7", "lead-7", "identify-7")
