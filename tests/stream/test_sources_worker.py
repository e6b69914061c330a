"""Declared sources inside the real worker (its fast path, in-process): the shipped samples score exactly as the same
events sent natively, byte for byte; what cannot be mapped is a dead letter with its place and reason; misplaced
records are forwarded as native events."""

from __future__ import annotations

from pathlib import Path

import orjson

from scoring import LeadEvent, LeadProfile
from scoring.examples import example_model_path
from streams.devtools.testing import WorkerDriver

EXAMPLES = Path(__file__).parents[2] / "streams" / "sources" / "examples"
B2B = example_model_path("b2b")
AT = 1_714_986_000_000  # 2024-05-06T09:00:00Z
OUTPUTS = ("score_changes", "thresholds", "scores")

#: What streams/sources/examples/samples/segment.jsonl means, written out by hand (lines 1 to 5).
SEGMENT_PROFILE = LeadProfile(
    "lead-ada",
    AT,
    email="ada@northwind-bank.com",
    company="Northwind Bank",
    company_size=4200,
    industry="banking",
    title="VP Finance",
    seniority="vp",
    country="DE",
)
SEGMENT_EVENTS = [
    LeadEvent(
        "seg-0002", "lead-ada", "email_open", AT + 312_345, "segment", {"campaign": "q2-launch"}, "acct-northwind"
    ),
    LeadEvent("seg-0003", "lead-ada", "page_view", AT - 6_780_000, "segment", {"path": "/pricing/enterprise"}),
    LeadEvent("seg-0004", "lead-ada", "demo_request", AT + 600_000, "segment", {"form": "contact-sales"}),
    LeadEvent("seg-0005", "anon-91bc", "content_download", AT + 3_600_000, "segment", {"asset": "roi-whitepaper"}),
]


def sample_lines(name: str) -> list[dict]:
    return [orjson.loads(line) for line in (EXAMPLES / "samples" / f"{name}.jsonl").read_text().splitlines()]


def outputs(driver: WorkerDriver) -> dict[str, list[tuple[bytes | None, bytes | None]]]:
    routes = driver._routes
    return {kind: driver.sink.sent(getattr(routes, kind)) for kind in OUTPUTS}


async def test_segment_samples_score_byte_for_byte_as_the_native_events():
    source = WorkerDriver(B2B, sources_path=EXAMPLES / "segment.yaml")
    lines = sample_lines("segment")
    await source.score([source.message("segment-events", _key(line), orjson.dumps(line)) for line in lines])
    native = WorkerDriver(B2B)
    await native.send_profiles(SEGMENT_PROFILE)
    await native.send(*SEGMENT_EVENTS)
    assert outputs(source) == outputs(native)
    assert len(outputs(source)["score_changes"]) >= 5 and source.values("thresholds")  # it did score, and crossed

    dead = source.values("dead_letters")
    assert [(d["topic"], d["partition"], d["offset"], d["error_type"]) for d in dead] == [
        ("segment-events", 0, 7, "SourceMappingError"),
        ("segment-events", 0, 8, "SourceMappingError"),
    ]
    assert "events.occurred_at: 'last tuesday'" in dead[0]["reason"]
    assert dead[0]["value"] == orjson.dumps(lines[7])
    assert "events.event_id: no value at messageId" in dead[1]["reason"]
    skipped = source.scorer.metrics.source_records.labels("segment", "skipped")._value.get()
    assert skipped == 2  # the page call and the unmapped event name: counted, no dead letter, no score


async def test_cloudevents_in_either_mode_score_as_the_native_events():
    source = WorkerDriver(B2B, sources_path=EXAMPLES / "cloudevents.yaml")
    topic = "platform-cloudevents"
    messages = []
    for line in sample_lines("cloudevents")[:3]:
        if "kafka_headers" in line:
            headers = [(k, str(v).encode()) for k, v in line["kafka_headers"].items()]
            value = orjson.dumps(line["value"])
            messages.append(source.message(topic, line["kafka_headers"]["ce_subject"].encode(), value, headers=headers))
        else:
            messages.append(source.message(topic, line["subject"].encode(), orjson.dumps(line)))
    await source.score(messages)
    native = WorkerDriver(B2B)
    platform = "engagement-platform"
    await native.send(
        LeadEvent(
            "evt-5001",
            "lead-ada",
            "webinar_signup",
            AT + 3 * 3_600_000,
            platform,
            {"campaign": "q2-launch", "webinar": "wb-42"},
            "acct-northwind",
        ),
        LeadEvent(
            "evt-5002",
            "lead-ada",
            "webinar_attended",
            AT + 54 * 3_600_000 + 1_800_000,
            platform,
            {"minutes": "47", "webinar": "wb-42"},
        ),
        LeadEvent(
            "evt-5003", "lead-bo", "email_click", AT + 3 * 3_600_000 + 600_250, platform, {"campaign": "q2-launch"}
        ),
    )
    assert outputs(source) == outputs(native)
    assert len(outputs(source)["score_changes"]) == 3


async def test_a_record_keyed_otherwise_is_forwarded_as_the_native_event_it_maps_to():
    driver = WorkerDriver(B2B, sources_path=EXAMPLES / "segment.yaml", partitions=4)
    line = sample_lines("segment")[1]
    await driver.score([driver.message("segment-events", line["messageId"].encode(), orjson.dumps(line), partition=0)])
    rerouted = driver.sink.sent(f"{driver.leadscore.settings.app_id}-rerouted")
    assert len(rerouted) == 1
    key, value = rerouted[0]
    assert key == b"lead-ada"
    assert driver.leadscore.codec.decode_event(value) == SEGMENT_EVENTS[0]
    assert driver.values("score_changes") == []  # scored when it comes back on the rerouting topic, not here


def _key(line: dict) -> bytes | None:
    lead = line.get("userId") or line.get("anonymousId")
    return None if lead is None else str(lead).encode()


async def test_with_the_fast_path_off_each_source_has_an_agent_that_reads_headers(tmp_path):
    from streams.devtools.testing import TestingSink, build_app

    built = build_app(B2B, tmp_path, batch_max=0, sources_path=EXAMPLES / "cloudevents.yaml")
    sink = TestingSink.attach(built)
    assert sorted(built.source_agents) == ["platform-cloudevents"]
    binary = sample_lines("cloudevents")[1]
    headers = [(k, str(v).encode()) for k, v in binary["kafka_headers"].items()]
    async with built.source_agents["platform-cloudevents"].test_context() as agent:
        await agent.put(orjson.dumps(binary["value"]), key=b"lead-ada", headers=headers)
        await agent.put(orjson.dumps(binary["value"]), key=b"lead-ada")  # no ce_ headers: not a CloudEvent
    changes = sink.decoded(built.settings.topics.score_changes)
    assert [(key, change["cause_event_id"], change["score"]) for key, change in changes] == [
        (b"lead-ada", "evt-5002", 15.0)
    ]
    (letter,) = [value for _, value in sink.decoded(built.settings.topics.dead_letters)]
    assert letter["topic"] == "platform-cloudevents"
    assert "not a CloudEvent (no ce_specversion header" in letter["reason"]
