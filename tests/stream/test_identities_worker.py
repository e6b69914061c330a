"""Stream tests of identities on the worker (ADR 044): the real app's fast path (``WorkerDriver``), its identity and
absorption decisions under the state lock, and a stand-in for the broker that delivers what the worker sends to its
own topics (``<app_id>-absorptions``, the rerouting topic, ``lead-erasures``) back to the agents that read them.

The reference for every merge is a second worker that scored all the events under the survivor's id.
"""

from __future__ import annotations

import pytest

from scoring import example_model_path
from scoring.identities.records import IdentityKind, IdentityRecord, decode_alias
from scoring.modelstate import scores_at
from streams.devtools.testing import DAY_MS, T0, WorkerDriver, make_event
from streams.kafka.identity_codec import IdentityCodec
from streams.kafka.topics import absorptions_topic_name, rerouted_topic_name
from streams.worker.processor import Message

B2B = example_model_path("b2b")
PARTITIONS = 4
HOUR = 3_600_000


class Identities:
    """The worker of ``driver`` with a broker's delivery of its internal records."""

    def __init__(self, driver: WorkerDriver) -> None:
        self.driver = driver
        self.built = driver.leadscore
        self.codec = IdentityCodec(self.built.codec)
        self.hooks = driver.scorer.processor.identities
        self.delivered = 0

    async def send(self, kind: IdentityKind, from_id: str, to_id: str, identity_id: str, at_ms: int = T0) -> None:
        value = self.codec.encode_identity(IdentityRecord(identity_id, kind, from_id, to_id, at_ms))
        await self.handle(self.built.settings.topics.identities, from_id.encode(), value, None)
        await self.deliver()

    async def handle(self, topic: str, key: bytes | None, value: bytes | None, partition: int | None) -> None:
        handler, settings = self.driver._handler, self.built.settings
        raw = self.driver.message(topic, key, value, partition)
        message = Message(raw.topic, raw.partition, raw.offset, raw.key, raw.value)
        if topic == settings.topics.identities:
            await handler.handle(message, self.hooks.identity)
        elif topic == absorptions_topic_name(settings):
            await handler.handle(message, self.hooks.absorb, avro=False)
        elif topic == rerouted_topic_name(settings):
            await handler.handle(message, handler.reroute)
        elif topic == settings.topics.erasures:
            await handler.erase(message)

    async def deliver(self) -> None:
        """What the worker sent to the topics it reads itself, delivered until nothing new comes."""
        internal = {
            absorptions_topic_name(self.built.settings),
            rerouted_topic_name(self.built.settings),
            self.built.settings.topics.erasures,
        }
        while self.delivered < len(self.driver.sink.records):
            topic, key, value, partition = self.driver.sink.records[self.delivered]
            self.delivered += 1
            if topic in internal:
                await self.handle(topic, key, value, partition)

    async def events(self, *events) -> None:
        await self.driver.send(*events)
        await self.deliver()

    def merged(self) -> list[dict]:
        return [value for _, value in self.driver.sink.decoded(self.built.settings.topics.merges)]

    def dead_letters(self) -> list[tuple[str, str]]:
        return [(d["error_type"], d["reason"]) for d in self.driver.values("dead_letters")]

    def alias(self, lead_id: str):
        value = self.built.alias_table.get(lead_id)
        return None if value is None else decode_alias(value)

    def metric(self, name: str, **labels: str) -> float:
        return self.built.metrics.registry.get_sample_value(name, labels) or 0.0


@pytest.fixture
def worker(tmp_path) -> Identities:
    return Identities(WorkerDriver(B2B, tmp_path / "worker", app_id="identities-test", partitions=PARTITIONS))


async def reference(tmp_path, events) -> WorkerDriver:
    driver = WorkerDriver(B2B, tmp_path / "reference", app_id="identities-reference", partitions=PARTITIONS)
    await driver.send(*events)
    return driver


def scores(driver: WorkerDriver, lead_id: str, at_ms: int = T0 + 3 * DAY_MS) -> dict[str, tuple[float, list[str]]]:
    """The lead's score under each model at one time (the stored score is at the state's own latest time: a merge's
    time may be later than the reference's last event), and its levels."""
    state = driver.state(lead_id)
    assert state is not None, f"{lead_id} has no state"
    models = {model.id: model for model in driver.scorer.processor.engine.models}
    return {
        model_id: (scores_at(models[model_id], model, at_ms).combined, list(model.levels))
        for model_id, model in state.models.items()
    }


def assert_same_scores(ours: dict, theirs: dict) -> None:
    assert ours.keys() == theirs.keys()
    for model_id, (score, levels) in theirs.items():
        assert ours[model_id][0] == pytest.approx(score, rel=1e-9, abs=1e-9), model_id
        assert ours[model_id][1] == levels, model_id


def anonymous_and_lead(anon: str = "anon-1", lead: str = "lead-1"):
    """Web visits of an anonymous visitor, then the known lead's own events."""
    visits = [
        make_event(anon, "page_view", T0, path="/pricing"),
        make_event(anon, "content_download", T0 + HOUR),
        make_event(anon, "page_view", T0 + 2 * HOUR, path="/pricing"),
    ]
    own = [make_event(lead, "form_fill", T0 + 3 * HOUR), make_event(lead, "webinar_attended", T0 + DAY_MS)]
    return visits, own


def under(lead_id: str, events):
    from dataclasses import replace

    return [replace(event, lead_id=lead_id) for event in events]


async def test_identify_merges_the_anonymous_history_into_the_lead_exactly(tmp_path, worker):
    visits, own = anonymous_and_lead()
    await worker.events(*visits, *own)
    await worker.send(IdentityKind.IDENTIFY, "anon-1", "lead-1", "identity-1", T0 + DAY_MS + 1)
    expected = await reference(tmp_path, under("lead-1", [*visits, *own]))
    assert_same_scores(scores(worker.driver, "lead-1"), scores(expected, "lead-1"))
    assert worker.driver.state("anon-1") is None
    assert worker.driver.state("lead-1").absorbed == ["anon-1"]
    ((merged),) = worker.merged()
    assert (merged["kind"], merged["absorbed_id"], merged["survivor_id"], merged["events_merged"]) == (
        "IDENTIFY",
        "anon-1",
        "lead-1",
        3,
    )
    assert merged["scores"][0]["score_after"] == pytest.approx(scores(expected, "lead-1", T0 + DAY_MS + 1)["b2b"][0])
    assert ("anon-1", None) in worker.driver.records("scores")  # the absorbed id's tombstone on lead-scores
    assert "anon-1" not in worker.driver.latest_scores()
    alias = worker.alias("anon-1")
    assert alias.survivor_id == "lead-1" and len(alias.seen) == 3
    assert worker.metric("leadscore_identities_total", kind="IDENTIFY", outcome="merged") == 1


async def test_merge_of_two_leads_equals_scoring_both_under_the_survivor(tmp_path, worker):
    duplicate = [make_event("lead-a", kind, T0 + n * HOUR) for n, kind in enumerate(["demo_request", "email_open"])]
    survivor = [make_event("lead-b", kind, T0 + n * HOUR + 1) for n, kind in enumerate(["trial_request", "page_view"])]
    await worker.events(*duplicate, *survivor)
    await worker.send(IdentityKind.MERGE, "lead-a", "lead-b", "merge-1", T0 + DAY_MS)
    expected = await reference(tmp_path, under("lead-b", [*duplicate, *survivor]))
    assert_same_scores(scores(worker.driver, "lead-b"), scores(expected, "lead-b"))
    assert worker.driver.state("lead-a") is None
    merge_changes = [c for c in worker.driver.values("score_changes") if c["cause_event_id"] == "merge-1"]
    assert [c["lead_id"] for c in merge_changes] == ["lead-b"]  # the survivor's score moved, cause id the merge's


async def test_a_repeated_or_redelivered_merge_changes_nothing(tmp_path, worker):
    visits, own = anonymous_and_lead()
    await worker.events(*visits, *own)
    await worker.send(IdentityKind.IDENTIFY, "anon-1", "lead-1", "identity-1", T0 + DAY_MS)
    before, sent = worker.driver.stored("lead-1"), len(worker.driver.sink.records)
    absorption = next(
        record for record in worker.driver.sink.records if record[0] == absorptions_topic_name(worker.built.settings)
    )
    await worker.send(IdentityKind.IDENTIFY, "anon-1", "lead-1", "identity-1", T0 + DAY_MS)  # re-delivered
    await worker.send(IdentityKind.IDENTIFY, "anon-1", "lead-1", "identity-2", T0 + DAY_MS)  # repeated
    await worker.handle(*absorption)  # the absorption itself re-delivered
    await worker.deliver()
    assert worker.driver.stored("lead-1") == before
    changelog = worker.built.table.changelog_topic.get_topic_name()
    assert [r for r in worker.driver.sink.records[sent:] if r[0] != changelog] == []
    assert len(worker.merged()) == 1
    assert worker.metric("leadscore_identities_total", kind="IDENTIFY", outcome="duplicate") == 3


async def test_later_events_of_the_absorbed_id_reach_the_survivor(tmp_path, worker):
    visits, own = anonymous_and_lead()
    await worker.events(*visits, *own)
    await worker.send(IdentityKind.IDENTIFY, "anon-1", "lead-1", "identity-1", T0 + DAY_MS)
    later = make_event("anon-1", "demo_request", T0 + 2 * DAY_MS)
    await worker.events(later, visits[1])  # a new event, and an old one delivered again
    assert worker.driver.state("anon-1") is None
    expected = await reference(tmp_path, under("lead-1", [*visits, *own, later]))
    assert_same_scores(scores(worker.driver, "lead-1"), scores(expected, "lead-1"))
    assert worker.metric("leadscore_aliased_events_total", outcome="forwarded") == 1
    assert worker.metric("leadscore_aliased_events_total", outcome="duplicate") == 1


async def test_cycles_self_merges_and_merges_into_erased_leads_are_dead_letters(worker):
    await worker.events(*(make_event(lead, "demo_request") for lead in ["lead-a", "lead-b", "lead-c", "lead-d"]))
    await worker.send(IdentityKind.MERGE, "lead-a", "lead-b", "merge-1")
    await worker.send(IdentityKind.MERGE, "lead-b", "lead-a", "merge-2")  # the cycle
    await worker.send(IdentityKind.MERGE, "lead-c", "lead-c", "merge-3")  # itself
    await worker.driver.erase("lead-d")
    await worker.send(IdentityKind.MERGE, "lead-c", "lead-d", "merge-4")  # into an erased lead
    assert [error for error, _ in worker.dead_letters()] == [
        "MergeCycleError",
        "SelfMergeError",
        "MergeIntoErasedError",
    ]
    assert all(reason for _, reason in worker.dead_letters())
    assert worker.driver.state("lead-b") is not None and worker.driver.state("lead-c") is not None
    for outcome in ["merge_cycle", "self_merge", "merge_into_erased"]:
        assert worker.metric("leadscore_identities_total", kind="MERGE", outcome=outcome) == 1
    await worker.handle(worker.built.settings.topics.identities, b"lead-x", b"\x00\x00\x00\x00\x10junk", None)
    assert worker.dead_letters()[-1][0] == "DecodeError"


async def test_erasing_the_survivor_erases_the_absorbed_ids(worker):
    visits, own = anonymous_and_lead()
    await worker.events(*visits, *own)
    await worker.send(IdentityKind.IDENTIFY, "anon-1", "lead-1", "identity-1", T0 + DAY_MS)
    await worker.driver.erase("lead-1", "erasure-1")
    await worker.deliver()
    completed = [(r["lead_id"], r["had_state"]) for r in worker.driver.values("erasures_completed")]
    assert completed == [("lead-1", True), ("anon-1", False)]
    assert worker.driver.state("lead-1") is None
    assert worker.alias("anon-1").erased and worker.alias("lead-1").erased
    await worker.events(make_event("anon-1", "page_view", T0 + 3 * DAY_MS))  # scored under its own id again
    assert worker.driver.state("anon-1") is not None and worker.driver.state("lead-1") is None
    await worker.send(IdentityKind.MERGE, "lead-2", "lead-1", "merge-9")
    assert worker.dead_letters()[-1][0] == "MergeIntoErasedError"
