"""Stream tests of the fast path (ADR 013): the batch scorer of the real app, with a recording producer (the public
drivers of :mod:`streams.devtools.testing`: ``WorkerDriver``, its ``TestingSink``).

The reference is the per-event Faust agent (``batch_max=0``) driven through ``test_context``: on the same input,
the fast path must send the same outputs, in the same order, and leave the same table; and it must wait for the
broker's acknowledgement of the outputs before it writes the state, and of both before it acks the inputs.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

import pytest

from scoring import example_model_path
from streams.datasets.synthetic import JourneyGenerator
from streams.devtools.testing import InputMessage, TestingSink, WorkerDriver, build_app, input_messages, make_event
from streams.settings import load_settings
from streams.worker.app import create_app
from streams.worker.batch import EventBatcher
from tests.conftest import stored_json

EVENTS = "lead-events"
B2B = example_model_path("b2b")
APP_ID = "fast-path-test"


def messages(codec, count: int = 400):
    """Generated journeys over 25 leads, a re-delivered event, a misplaced one and two bad ones."""
    values = [(e.lead_id.encode(), codec.encode_event(e)) for e in JourneyGenerator(25, seed=7).events(count)]
    values.insert(50, values[10])  # at-least-once: the same event again
    values.insert(120, (b"not-the-lead-id", values[5][1]))  # keyed by something else: rerouted
    values.insert(200, (b"lead-x", b"\x00\x00\x00\x00\x01garbage"))
    values.insert(300, (b"lead-y", codec.encode_event(make_event("lead-y", "teleport"))))
    return input_messages(EVENTS, values)


async def per_event_reference(tmp_path, inputs):
    built = build_app(B2B, tmp_path / "state-0", app_id=APP_ID, batch_max=0)
    sink = TestingSink.attach(built)
    async with built.score_events.test_context() as agent:
        for message in inputs:
            if message.key != b"not-the-lead-id":  # rerouting is the fast path's own check below
                await agent.put(message.value, key=message.key)
    return sink, dict(built.table.items())


async def fast_path(tmp_path, inputs, batch_size: int) -> WorkerDriver:
    driver = WorkerDriver(B2B, tmp_path / "state-1000", app_id=APP_ID)
    await driver.score(inputs, batch_size)
    return driver


def acked(driver: WorkerDriver) -> list[int]:
    return [message.offset for message in driver.acked]


@pytest.mark.parametrize("batch_size", [1, 7, 1000])
async def test_fast_path_sends_what_the_per_event_agent_sends(tmp_path, codec, batch_size):
    inputs = messages(codec)
    reference, reference_table = await per_event_reference(tmp_path, inputs)
    driver = await fast_path(tmp_path, inputs, batch_size)
    built, producer = driver.leadscore, driver.sink

    names = built.settings.topics
    assert producer.sent(names.score_changes) == reference.sent(names.score_changes)
    assert producer.sent(names.thresholds) == reference.sent(names.thresholds)
    assert producer.sent(names.scores) == reference.sent(names.scores)
    assert len(reference.sent(names.thresholds)) > 0 and len(reference.sent(names.score_changes)) > 150
    letters = [value for _, value in producer.decoded(names.dead_letters)]
    assert [(d["offset"], d["error_type"]) for d in letters] == [(200, "DecodeError"), (300, "InvalidEventError")]
    rerouted = [(key, partition) for name, key, _, partition in producer.records if name.endswith("-rerouted")]
    assert len(rerouted) == 1 and rerouted[0][1] == 0
    assert dict(built.table.items()) == reference_table
    assert acked(driver) == [m.offset for m in inputs]


async def test_one_changelog_record_per_lead_per_batch(tmp_path, codec):
    events = [make_event("lead-1", kind) for kind in ["email_open", "webinar_attended"] * 5]
    inputs = input_messages(EVENTS, [(b"lead-1", codec.encode_event(event)) for event in events])
    driver = await fast_path(tmp_path, inputs, 1000)
    built, producer = driver.leadscore, driver.sink
    changelog = built.table.changelog_topic.get_topic_name()
    written = [(key, value) for name, key, value, _ in producer.records if name == changelog]
    assert len(written) == 1 and written[0][0] == b'"lead-1"'
    assert len(stored_json(built.table, "lead-1")["e"]) == 10  # the last state: every event seen (by its digest)


async def test_outputs_are_acknowledged_before_state_and_both_before_inputs(tmp_path, codec):
    inputs = messages(codec, 60)
    driver = await fast_path(tmp_path, inputs, 1000)
    built, producer = driver.leadscore, driver.sink
    changelog = built.table.changelog_topic.get_topic_name()
    first_state_send = producer.log.index(("send", changelog))
    output_acks = [i for i, (what, topic) in enumerate(producer.log) if what == "acked" and topic != changelog]
    assert max(output_acks) < first_state_send
    assert len(acked(driver)) == len(inputs)


async def test_a_refused_output_stops_the_batch_before_state_and_acks(tmp_path, codec):
    inputs = messages(codec, 40)
    driver = WorkerDriver(B2B, tmp_path, app_id=APP_ID)
    built = driver.leadscore
    driver.sink.fail_topic = built.settings.topics.score_changes
    with pytest.raises(RuntimeError, match="refused"):
        await driver.score(inputs)
    changelog = built.table.changelog_topic.get_topic_name()
    assert acked(driver) == [] and len(built.table) == 0
    assert ("send", changelog) not in driver.sink.log


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
    await on_message(InputMessage("lead-profiles", 0, 0, None, None))
    for offset in range(2):
        await on_message(InputMessage(EVENTS, 0, offset, None, None))
    assert delivered == ["lead-profiles"] and len(batcher) == 2
    third = asyncio.ensure_future(on_message(InputMessage(EVENTS, 0, 2, None, None)))
    await asyncio.sleep(0.01)
    assert not third.done()  # backpressure: the fetch loop waits while batch_max messages wait
    assert [m.offset for m in await batcher.next_batch()] == [0, 1, 2]
    await asyncio.wait_for(third, 1)


async def test_other_agents_write_state_through_the_same_ordered_path(tmp_path, codec):
    """With the fast path on, profiles and erasures go through the scorer's writes (outputs, then changelog)."""
    from scoring import LeadProfile
    from tests.conftest import T0

    driver = await fast_path(tmp_path, messages(codec, 30), 1000)
    built, producer = driver.leadscore, driver.sink
    lead = next(key for topic, key, _, _ in producer.records if topic == built.settings.topics.scores).decode()
    changelog = built.table.changelog_topic.get_topic_name()
    before = len(producer.records)
    profile = LeadProfile(lead, T0 + 10**9, email="cfo@bank.example", industry="banking", company_size=4000)
    async with built.apply_profiles.test_context() as profiles:
        await profiles.put(codec.encode_profile(profile), key=lead.encode())
        await until(lambda: producer.log[-1] == ("acked", changelog))
    topics = [topic for topic, *_ in producer.records[before:]]
    assert topics[-1] == changelog and built.settings.topics.score_changes in topics
    assert stored_json(built.table, lead)["m"]["b2b"]["f"]["finance-enterprise"] == 50.0

    erasure = codec.encode("LeadErasure", {"request_id": "r-1", "lead_id": lead, "requested_at": T0})
    before = len(producer.records)
    async with built.erase_leads.test_context() as agent:
        await agent.put(erasure, key=lead.encode())
        await until(lambda: producer.log[-1] == ("acked", changelog) and len(producer.records) == before + 4)
    erased = [(topic, value) for topic, _, value, _ in producer.records[before:]]
    names, accounts = built.settings.topics, f"{APP_ID}-account-inputs"  # its account (bank.example) forgets it
    assert [topic for topic, _ in erased] == [accounts, names.scores, names.erasures_completed, changelog]
    assert erased[1][1] is None and erased[3][1] is None  # tombstones in lead-scores and in the changelog
    assert lead not in built.table


async def test_faust_consumer_hands_hot_topic_messages_to_the_batcher(tmp_path):
    """Guards the one Faust extension point the fast path relies on: the consumer's callback (ADR 013)."""
    built = build_app(B2B, tmp_path, app_id=APP_ID)
    consumer = built.app.consumer  # built by LeadscoreApp._new_consumer, not started
    batcher = built.app.leadscore_batcher
    assert batcher is not None and batcher.consumer is consumer
    tracked = []
    consumer.track_message = tracked.append
    message = InputMessage(EVENTS, 0, 0, b"k", b"v")
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
    inputs = [InputMessage(topic, 0, i, b"lead-1", value) for i, (topic, value) in enumerate(raw)]
    driver = await fast_path(tmp_path, inputs, 1000)
    built, producer = driver.leadscore, driver.sink
    assert built.batch_scorer.conversions_topic == conversions and built.join_conversions is None  # no agent
    names = built.settings.topics
    (joined,) = [
        reference_decode(value)[1] for name, _, value, _ in producer.records if name == names.conversion_scores
    ]
    (model,) = joined["models"]
    assert (model["levels"], model["exact"]) == (["MQL"], True) and model["score"] > 60
    assert acked(driver) == [0, 1, 2]


async def test_records_faust_fetched_but_dropped_are_fetched_again(tmp_path, monkeypatch):
    """Faust's getmany drops fetched records of a partition that left its active set during the fetch (after a
    rebalance, for good); the worker's consumer seeks such a partition back to them (ADR 023)."""
    from types import SimpleNamespace

    from aiokafka.structs import ConsumerRecord
    from faust.transport.drivers.aiokafka import Consumer
    from faust.types import TP

    tp = TP(EVENTS, 0)
    fetched = [ConsumerRecord(EVENTS, 0, offset, 0, 0, b"k", b"v", None, 1, 1, ()) for offset in range(5, 9)]

    async def fetch_then_lose_the_partition(self, timeout):
        return {tp: fetched}, set()  # the live active set no longer holds the partition

    monkeypatch.setattr(Consumer, "_wait_next_records", fetch_then_lose_the_partition)
    built = create_app(load_settings(store="memory://", data_dir=tmp_path, partitions=1))
    consumer = built.app._new_consumer()
    seeks: list[tuple[TP, int]] = []
    state = SimpleNamespace(has_valid_position=True, position=9)
    kafka = SimpleNamespace(
        _subscription=SimpleNamespace(subscription=SimpleNamespace(assignment={tp: state})),
        seek=lambda partition, offset: seeks.append((partition, offset)),
    )
    kafka._subscription.subscription.assignment = SimpleNamespace(state_value=lambda partition: state)
    consumer._thread._ensure_consumer = lambda: kafka
    delivered = [message async for _, message in consumer.getmany(timeout=0.1)]
    assert seeks == []  # checked before the next fetch, once per fetch
    delivered += [message async for _, message in consumer.getmany(timeout=0.1)]
    assert delivered == [] and seeks == [(tp, 5)]
