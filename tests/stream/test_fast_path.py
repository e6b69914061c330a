"""Stream tests of the fast path (ADR 013): the batch scorer of the real app, with a recording producer.

The reference is the per-event Faust agent (``batch_max=0``) driven through ``test_context``: on the same input,
the fast path must send the same outputs, in the same order, and leave the same table; and it must wait for the
broker's acknowledgement of the outputs before it writes the state, and of both before it acks the inputs.
"""

from __future__ import annotations

import asyncio
import itertools
from types import SimpleNamespace
from unittest.mock import AsyncMock

import pytest

from scoring import example_model_path
from streams.datasets.synthetic import JourneyGenerator
from streams.settings import load_settings
from streams.worker.app import create_app
from streams.worker.batch import EventBatcher
from tests.conftest import make_event

EVENTS = "lead-events"


class RecordingProducer:
    """Stands in for the fast path's batch producer: logs every record, acknowledges them a loop iteration later."""

    def __init__(self, fail_topic: str | None = None) -> None:
        self.log: list[tuple[str, str]] = []
        self.records: list[tuple[str, bytes | None, bytes | None, int | None]] = []
        self.offsets: dict[tuple[str, int | None], itertools.count[int]] = {}
        self.fail_topic = fail_topic

    async def send_all(self, records):
        offsets = [
            next(self.offsets.setdefault((topic, partition), itertools.count())) for topic, *_, partition in records
        ]
        self.log += [("send", topic) for topic, *_ in records]
        self.records += records
        await asyncio.sleep(0)  # the broker answers later
        self.log += [("acked", topic) for topic, *_ in records]
        if any(topic == self.fail_topic for topic, *_ in records):
            raise RuntimeError("broker refused the record")
        return offsets

    async def stop(self) -> None:
        pass


def build(tmp_path, batch_max: int):
    settings = load_settings(
        store="memory://",
        data_dir=tmp_path / f"state-{batch_max}",
        app_id="fast-path-test",
        model_paths=[example_model_path("b2b")],
        partitions=1,
        batch_max=batch_max,
    )
    return create_app(settings)


def messages(codec, count: int = 400):
    """Generated journeys over 25 leads, a re-delivered event, a misplaced one and two bad ones."""
    values = [(e.lead_id.encode(), codec.encode_event(e)) for e in JourneyGenerator(25, seed=7).events(count)]
    values.insert(50, values[10])  # at-least-once: the same event again
    values.insert(120, (b"not-the-lead-id", values[5][1]))  # keyed by something else: rerouted
    values.insert(200, (b"lead-x", b"\x00\x00\x00\x00\x01garbage"))
    values.insert(300, (b"lead-y", codec.encode_event(make_event("lead-y", "teleport"))))
    return [
        SimpleNamespace(topic=EVENTS, partition=0, offset=offset, key=key, value=value, tp=(EVENTS, 0))
        for offset, (key, value) in enumerate(values)
    ]


async def per_event_reference(tmp_path, inputs):
    built = build(tmp_path, batch_max=0)
    for topic in vars(built.outputs).values():
        topic.send = AsyncMock()
    async with built.score_events.test_context() as agent:
        for message in inputs:
            if message.key != b"not-the-lead-id":  # rerouting is the fast path's own check below
                await agent.put(message.value, key=message.key)
    sent = {
        name: [(c.kwargs["key"], c.kwargs["value"]) for c in topic.send.await_args_list]
        for name, topic in vars(built.outputs).items()
    }
    return sent, dict(built.table.items())


async def fast_path(tmp_path, inputs, batch_size: int, producer: RecordingProducer):
    built = build(tmp_path, batch_max=1000)
    built.batch_scorer.producer = producer
    acked: list[int] = []
    for start in range(0, len(inputs), batch_size):
        await built.batch_scorer.score(inputs[start : start + batch_size], lambda m: acked.append(m.offset))
    return built, acked


@pytest.mark.parametrize("batch_size", [1, 7, 1000])
async def test_fast_path_sends_what_the_per_event_agent_sends(tmp_path, codec, batch_size):
    inputs = messages(codec)
    reference, reference_table = await per_event_reference(tmp_path, inputs)
    producer = RecordingProducer()
    built, acked = await fast_path(tmp_path, inputs, batch_size, producer)

    def sent_to(topic):
        return [(key, value) for name, key, value, _ in producer.records if name == topic]

    names = built.settings.topics
    assert sent_to(names.score_changes) == reference["score_changes"]
    assert sent_to(names.thresholds) == reference["thresholds"]
    assert sent_to(names.scores) == reference["scores"]
    assert len(reference["thresholds"]) > 0 and len(reference["score_changes"]) > 150
    letters = [codec.decode(value)[1] for _, value in sent_to(names.dead_letters)]
    assert [(d["offset"], d["error_type"]) for d in letters] == [(200, "DecodeError"), (300, "InvalidEventError")]
    rerouted = [(key, partition) for name, key, _, partition in producer.records if name.endswith("-rerouted")]
    assert len(rerouted) == 1 and rerouted[0][1] == 0
    assert dict(built.table.items()) == reference_table
    assert acked == [m.offset for m in inputs]


async def test_one_changelog_record_per_lead_per_batch(tmp_path, codec):
    inputs = [
        SimpleNamespace(topic=EVENTS, partition=0, offset=i, key=b"lead-1", value=codec.encode_event(event), tp=None)
        for i, event in enumerate(make_event("lead-1", kind) for kind in ["email_open", "webinar_attended"] * 5)
    ]
    producer = RecordingProducer()
    built, _ = await fast_path(tmp_path, inputs, 1000, producer)
    changelog = built.table.changelog_topic.get_topic_name()
    written = [(key, value) for name, key, value, _ in producer.records if name == changelog]
    assert len(written) == 1 and written[0][0] == b'"lead-1"'
    assert len(built.table["lead-1"]["e"]) == 10  # the last state: every event seen (by its digest)


async def test_outputs_are_acknowledged_before_state_and_both_before_inputs(tmp_path, codec):
    inputs = messages(codec, 60)
    producer = RecordingProducer()
    built, acked = await fast_path(tmp_path, inputs, 1000, producer)
    changelog = built.table.changelog_topic.get_topic_name()
    first_state_send = producer.log.index(("send", changelog))
    output_acks = [i for i, (what, topic) in enumerate(producer.log) if what == "acked" and topic != changelog]
    assert max(output_acks) < first_state_send
    assert len(acked) == len(inputs)


async def test_a_refused_output_stops_the_batch_before_state_and_acks(tmp_path, codec):
    inputs = messages(codec, 40)
    built = build(tmp_path, batch_max=1000)
    built.batch_scorer.producer = RecordingProducer(fail_topic=built.settings.topics.score_changes)
    acked: list[int] = []
    with pytest.raises(RuntimeError, match="refused"):
        await built.batch_scorer.score(inputs, lambda m: acked.append(m.offset))
    changelog = built.table.changelog_topic.get_topic_name()
    assert acked == [] and len(built.table) == 0
    assert ("send", changelog) not in built.batch_scorer.producer.log


async def until(condition, timeout_s: float = 2.0) -> None:
    """The agent's test context returns once the agent took the value; the writes it awaits come after."""
    loop = asyncio.get_running_loop()
    deadline = loop.time() + timeout_s
    while not condition():
        assert loop.time() < deadline, "timed out"
        await asyncio.sleep(0.001)


async def test_batcher_keeps_its_topic_and_passes_the_rest_on():
    delivered = []

    async def conductor(message):
        delivered.append(message.topic)

    batcher = EventBatcher(EVENTS, batch_max=3)
    batcher.consumer = SimpleNamespace(track_message=lambda message: None)
    on_message = batcher.wrap(conductor)
    await on_message(SimpleNamespace(topic="lead-profiles"))
    for offset in range(2):
        await on_message(SimpleNamespace(topic=EVENTS, offset=offset))
    assert delivered == ["lead-profiles"] and len(batcher) == 2
    third = asyncio.ensure_future(on_message(SimpleNamespace(topic=EVENTS, offset=2)))
    await asyncio.sleep(0.01)
    assert not third.done()  # backpressure: the fetch loop waits while batch_max messages wait
    assert [m.offset for m in await batcher.next_batch()] == [0, 1, 2]
    await asyncio.wait_for(third, 1)


async def test_other_agents_write_state_through_the_same_ordered_path(tmp_path, codec):
    """With the fast path on, profiles and erasures go through the scorer's writes (outputs, then changelog)."""
    from scoring import LeadProfile
    from tests.conftest import T0

    producer = RecordingProducer()
    built, _ = await fast_path(tmp_path, messages(codec, 30), 1000, producer)
    lead = next(key for topic, key, _, _ in producer.records if topic == built.settings.topics.scores).decode()
    changelog = built.table.changelog_topic.get_topic_name()
    before = len(producer.records)
    profile = LeadProfile(lead, T0 + 10**9, email="cfo@bank.example", industry="banking", company_size=4000)
    async with built.apply_profiles.test_context() as profiles:
        await profiles.put(codec.encode_profile(profile), key=lead.encode())
        await until(lambda: producer.log[-1] == ("acked", changelog))
    topics = [topic for topic, *_ in producer.records[before:]]
    assert topics[-1] == changelog and built.settings.topics.score_changes in topics
    assert built.table[lead]["m"]["b2b"]["f"]["finance-enterprise"] == 50.0

    erasure = codec.encode("LeadErasure", {"request_id": "r-1", "lead_id": lead, "requested_at": T0})
    before = len(producer.records)
    async with built.erase_leads.test_context() as agent:
        await agent.put(erasure, key=lead.encode())
        await until(lambda: producer.log[-1] == ("acked", changelog) and len(producer.records) == before + 3)
    erased = [(topic, value) for topic, _, value, _ in producer.records[before:]]
    names = built.settings.topics
    assert [topic for topic, _ in erased] == [names.scores, names.erasures_completed, changelog]
    assert erased[0][1] is None and erased[2][1] is None  # tombstones in lead-scores and in the changelog
    assert lead not in built.table


async def test_faust_consumer_hands_hot_topic_messages_to_the_batcher(tmp_path):
    """Guards the one Faust extension point the fast path relies on: the consumer's callback (ADR 013)."""
    built = build(tmp_path, batch_max=1000)
    consumer = built.app.consumer  # built by LeadscoreApp._new_consumer, not started
    batcher = built.app.leadscore_batcher
    assert batcher is not None and batcher.consumer is consumer
    tracked = []
    consumer.track_message = tracked.append
    message = SimpleNamespace(topic=EVENTS, partition=0, offset=0, key=b"k", value=b"v", tp=(EVENTS, 0))
    await consumer.callback(message)
    assert tracked == [message] and len(batcher) == 1
    assert EVENTS in {topic.get_topic_name() for topic in built.app.topics} and built.score_events is None


async def test_the_worker_consumer_gets_the_configured_fetch_wait(tmp_path):
    """Faust hard-codes fetch_max_wait_ms=1500 for its worker consumer; leadscore sets its own (ADR 014)."""
    settings = load_settings(store="memory://", data_dir=tmp_path, partitions=1, fetch_max_wait_ms=37)
    built = create_app(settings)
    kafka_consumer = built.app.consumer._thread._create_worker_consumer(built.app.transport)
    assert kafka_consumer._fetch_max_wait_ms == 37


async def test_conversions_are_joined_in_the_batch_with_the_state_written_before_them(tmp_path, codec):
    """On the fast path lead-conversions reach the batch scorer with the events (no Faust agent): an outcome after
    the lead's events in the same batch sees the state those events left, not yet written to the store."""
    from scoring.conversions import Conversion, Outcome
    from tests.avro_reference import reference_decode
    from tests.conftest import T0

    conversions = "lead-conversions"
    events = [make_event("lead-1", kind, T0 + n) for n, kind in enumerate(["demo_request", "trial_request"])]
    won = Conversion("won-1", "lead-1", Outcome.WON, T0 + 60_000, 900.0, "EUR")
    raw = [(EVENTS, codec.encode_event(e)) for e in events] + [(conversions, codec.encode_conversion(won))]
    inputs = [
        SimpleNamespace(topic=topic, partition=0, offset=i, key=b"lead-1", value=value, tp=(topic, 0))
        for i, (topic, value) in enumerate(raw)
    ]
    producer = RecordingProducer()
    built, acked = await fast_path(tmp_path, inputs, 1000, producer)
    assert built.batch_scorer.conversions_topic == conversions and built.join_conversions is None  # no agent
    names = built.settings.topics
    (joined,) = [
        reference_decode(value)[1] for name, _, value, _ in producer.records if name == names.conversion_scores
    ]
    (model,) = joined["models"]
    assert (model["levels"], model["exact"]) == (["MQL"], True) and model["score"] > 60
    assert acked == [0, 1, 2]
