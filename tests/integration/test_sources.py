"""Issue 19's acceptance: each example source (Segment, Snowplow, CloudEvents structured and binary, the CRM's
Debezium-style Avro) fed to a worker on the broker scores exactly as the same events and profiles sent natively to
another worker; mapping errors reach the dead-letter topic with their reason; skipped records produce nothing.

One scenario, run once for the module (two workers side by side, both on one in-process Schema Registry, so that
their outputs carry the same schema ids and can be compared byte for byte):

* the native journey is written here as LeadEvents and LeadProfiles; small renderers, written from the example
  mappings' documentation and independent of the mapping code, turn each one into its source's record;
* worker A reads the four example sources (the shipped mappings, only their topics renamed for this run), worker B
  the native events on lead-events and profiles on lead-profiles;
* some leads' records are keyed otherwise (no key, a message id, a Debezium key, a CloudEvent id) on a partition
  that is not the lead's, so they go through the rerouting topic;
* the records go in three phases (profiles, events, profile updates), each awaited on both workers: a lead's
  native events and profiles are on two topics, and only the phases fix their order.
"""

from __future__ import annotations

import io
import json
import struct
import time
import urllib.request
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import fastavro
import pytest
import yaml
from kafka import KafkaConsumer, KafkaProducer
from prometheus_client.parser import text_string_to_metric_families

from scoring import LeadEvent, LeadProfile
from streams.devtools.processes import spawn_worker, stop_process
from streams.kafka.codec import AvroCodec
from streams.kafka.partitioner import lead_partition
from streams.kafka.topics import rerouted_topic_name, schema_registry
from streams.settings import Settings
from tests.integration.conftest import new_settings
from tests.integration.sources_render import CRM_SCHEMA, EXAMPLE_FILES, EXAMPLES, MODEL, CrmSchema
from tests.integration.sources_scenario import EXPECTED_COUNTS, Letter, Record, Scenario, Step, scenario
from tests.registry_server import RegistryServer

# ---- running it --------------------------------------------------------------------------------------------------


def sources_file(directory: Path, suffix: str) -> tuple[Path, dict[str, str]]:
    """The four example mappings in one sources file, as shipped but for their topics (this run's own)."""
    sources = []
    for name in EXAMPLE_FILES:
        example = yaml.safe_load((EXAMPLES / name).read_text())
        assert example["version"] == 1 and not example.get("lists")
        for source in example["sources"]:
            sources.append({**source, "topic": f"{source['topic']}-{suffix}"})
    path = directory / "sources.yaml"
    path.write_text(yaml.safe_dump({"version": 1, "sources": sources}, sort_keys=False))
    return path, {source["name"]: source["topic"] for source in sources}


class Reader:
    """Every record of some topics from the start, kept as it came (raw key and value), read on demand."""

    def __init__(self, bootstrap: str, *topics: str) -> None:
        self.consumer = KafkaConsumer(*topics, bootstrap_servers=bootstrap, auto_offset_reset="earliest", group_id=None)
        self.records: list[Any] = []

    def until(self, done: Callable[[list[Any]], bool], timeout_s: float) -> list[Any]:
        deadline = time.monotonic() + timeout_s
        while not done(self.records) and time.monotonic() < deadline:
            for batch in self.consumer.poll(timeout_ms=300).values():
                self.records.extend(batch)
        return self.records

    def on(self, topic: str) -> list[Any]:
        return [r for r in self.records if r.topic == topic]

    def close(self) -> None:
        self.consumer.close()


def by_lead(records: Iterable[Any]) -> dict[str, list[bytes]]:
    """Values per lead (the key), in the order of their partition."""
    grouped: dict[str, list[bytes]] = {}
    for record in records:
        grouped.setdefault(record.key.decode(), []).append(record.value)
    return grouped


def decode(registry: RegistryServer, value: bytes) -> dict[str, Any]:
    """A framed record read with the schema the registry holds for its id."""
    magic, schema_id = struct.unpack(">bI", value[:5])
    assert magic == 0
    _, text = registry.state.schemas[schema_id]
    return fastavro.schemaless_reader(io.BytesIO(value[5:]), fastavro.parse_schema(json.loads(text)))


def log_tail(path: Path, lines: int = 40) -> str:
    return "\n".join(path.read_text(errors="replace").splitlines()[-lines:]) if path.exists() else "(no log)"


def scraped(settings: Settings) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    text = urllib.request.urlopen(f"http://127.0.0.1:{settings.web_port}/metrics", timeout=5).read().decode()
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(text)
        for sample in family.samples
    }


def source_lag(settings: Settings, topics: Iterable[str]) -> dict[tuple[str, int], float]:
    """``leadscore_consumer_lag_records`` of these topics, by (topic, partition)."""
    wanted = set(topics)
    return {
        (dict(labels)["topic"], int(dict(labels)["partition"])): value
        for (name, labels), value in scraped(settings).items()
        if name == "leadscore_consumer_lag_records" and dict(labels)["topic"] in wanted
    }


def source_counts(settings: Settings) -> dict[tuple[str, str], float]:
    return {
        (dict(labels)["source"], dict(labels)["outcome"]): value
        for (name, labels), value in scraped(settings).items()
        if name == "leadscore_source_records_total"
    }


@dataclass
class Run:
    """What the two workers wrote, and what was sent."""

    scenario: Scenario
    a: Settings
    b: Settings
    topics: dict[str, str]  # source name -> topic
    registry: RegistryServer
    outputs_a: Reader
    outputs_b: Reader
    rerouted: list[Any]
    letters: list[tuple[Letter, int]]  # each with the offset it was written at
    counts: dict[tuple[str, str], float]
    native_codec: AvroCodec
    lag: dict[tuple[str, int], float]  # leadscore_consumer_lag_records of the source topics, once all is read


@pytest.fixture(scope="module", params=["fast-path", "agents"])
def run(request, broker, tmp_path_factory) -> Iterator[Run]:
    """The scenario, with worker A on the fast path (source topics batched with lead-events), then with one Faust
    agent per source topic (``batch_max=0``); worker B always on the fast path."""
    directory = tmp_path_factory.mktemp("sources")
    (directory / "model.yaml").write_text(MODEL)
    suffix = f"{request.param}-{int(time.time())}"
    with RegistryServer() as registry:
        crm = CrmSchema(
            registry.add_schema(CRM_SCHEMA.read_text()), fastavro.parse_schema(json.loads(CRM_SCHEMA.read_text()))
        )
        path, topics = sources_file(directory, suffix)
        common = {"model_paths": [directory / "model.yaml"], "schema_registry_url": registry.url}
        batch_max = {"batch_max": 0} if request.param == "agents" else {}
        a = new_settings(broker, directory / "a", f"src-a-{suffix}", sources_path=path, **common, **batch_max)
        b = new_settings(broker, directory / "b", f"src-b-{suffix}", **common)
        # The source topics (a team's own, with the deployment's partition count) and the workers' internal topics
        # were created by new_settings, as `leadscore topics create` does: internal topics a worker declared only at
        # its first start could miss the group's first assignment (Faust's "Ignoring missing topic") for 5 minutes.
        native_codec = AvroCodec(schema_registry(b))  # the contracts' ids from the registry, as the workers use
        plan = scenario(a.partitions, crm)
        producer = KafkaProducer(bootstrap_servers=a.bootstrap_servers)

        def send(record: Record) -> int:
            future = producer.send(
                topics[record.source],
                key=record.key,
                value=record.value,
                partition=record.partition,
                headers=list(record.headers),
            )
            return future.get(timeout=30).offset

        def send_native(step: Step) -> None:
            native, lead = step.native, step.native.lead_id
            topic, value = (
                (b.topics.events, native_codec.encode_event(native))
                if isinstance(native, LeadEvent)
                else (b.topics.profiles, native_codec.encode_profile(native))
            )
            producer.send(topic, key=lead.encode(), value=value, partition=lead_partition(lead, b.partitions))

        outputs = (a.topics.score_changes, a.topics.thresholds, a.topics.scores, a.topics.dead_letters)
        outputs_a = Reader(a.bootstrap_servers, *outputs)
        outputs_b = Reader(b.bootstrap_servers, b.topics.score_changes, b.topics.thresholds, b.topics.scores)
        logs = {"A": directory / "worker-a.log", "B": directory / "worker-b.log"}
        workers = {}
        letters: list[tuple[Letter, int]] = []
        try:
            expected = 0
            for number, phase in enumerate(plan.phases):
                if number == 1:
                    letters = [(letter, send(letter.record)) for letter in plan.letters]
                    for record in plan.skipped:
                        send(record)
                if number == 2:
                    for record in plan.skipped_later:
                        send(record)
                for step in phase:
                    send(step.record)
                    send_native(step)
                producer.flush()
                if number == 0:
                    workers = {name: spawn_worker(s, log_file=logs[name]) for name, s in (("A", a), ("B", b))}
                expected += len(phase)
                for name, reader, settings in (("A", outputs_a, a), ("B", outputs_b, b)):
                    changes = reader.until(
                        lambda rs, s=settings, n=expected: sum(r.topic == s.topics.score_changes for r in rs) >= n,
                        90 if number == 0 else 45,
                    )
                    got = sum(r.topic == settings.topics.score_changes for r in changes)
                    assert workers[name].poll() is None, f"worker {name} exited:\n{log_tail(logs[name])}"
                    if got < expected:
                        letters_seen = [
                            decode(registry, r.value)["reason"] for r in outputs_a.on(a.topics.dead_letters)
                        ]
                        raise AssertionError(
                            f"worker {name}: {got} of {expected} score changes after phase {number + 1}; worker A's"
                            f" dead letters: {letters_seen}\n{log_tail(logs[name])}"
                        )
            outputs_a.until(lambda rs: len([r for r in rs if r.topic == a.topics.dead_letters]) >= len(letters), 30)
            deadline = time.monotonic() + 20
            while (counts := source_counts(a)) != EXPECTED_COUNTS and time.monotonic() < deadline:
                time.sleep(0.5)
            every_partition = {(topic, n) for topic in topics.values() for n in range(a.partitions)}
            deadline = time.monotonic() + 15  # the gauge is measured every 5 s
            while set(lag := source_lag(a, topics.values())) != every_partition and time.monotonic() < deadline:
                time.sleep(0.5)
            time.sleep(1.0)  # anything a skipped or dead-lettered record wrongly produced would be out by now
            for reader in (outputs_a, outputs_b):
                reader.until(lambda rs: False, 1.5)
            rerouted = Reader(a.bootstrap_servers, rerouted_topic_name(a))
            try:
                misplaced = sum(s.native.lead_id in plan.rerouted_leads for phase in plan.phases for s in phase)
                rerouted_records = rerouted.until(lambda rs: len(rs) >= misplaced, 20)
            finally:
                rerouted.close()
        finally:
            for worker in workers.values():
                worker.terminate()
            for worker in workers.values():
                stop_process(worker, grace_s=15)
            producer.close()
            outputs_a.close()
            outputs_b.close()
        yield Run(
            plan, a, b, topics, registry, outputs_a, outputs_b, rerouted_records, letters, counts, native_codec, lag
        )


# ---- the tests ---------------------------------------------------------------------------------------------------


def test_every_source_scores_exactly_as_its_native_events(run):
    """ScoreChanged records per lead, in order, byte for byte; the same for level crossings and the latest score."""
    natives: dict[str, int] = {}
    for phase in run.scenario.phases:
        for step in phase:
            natives[step.native.lead_id] = natives.get(step.native.lead_id, 0) + 1
    changes_a = by_lead(run.outputs_a.on(run.a.topics.score_changes))
    changes_b = by_lead(run.outputs_b.on(run.b.topics.score_changes))
    assert {lead: len(values) for lead, values in changes_b.items()} == natives  # each input moved the score once
    assert set(changes_a) == set(changes_b)
    for lead in natives:
        decoded_a = [decode(run.registry, value) for value in changes_a[lead]]
        decoded_b = [decode(run.registry, value) for value in changes_b[lead]]
        assert decoded_a == decoded_b, lead
        assert changes_a[lead] == changes_b[lead], lead
    assert by_lead(run.outputs_a.on(run.a.topics.thresholds)) == by_lead(run.outputs_b.on(run.b.topics.thresholds))
    crossings = [decode(run.registry, r.value) for r in run.outputs_b.on(run.b.topics.thresholds)]
    assert {c["lead_id"] for c in crossings} >= {"seg-ada", "crm-erin", "sp-cleo"}  # levels crossed, not vacuous
    latest_a = {lead: values[-1] for lead, values in by_lead(run.outputs_a.on(run.a.topics.scores)).items()}
    latest_b = {lead: values[-1] for lead, values in by_lead(run.outputs_b.on(run.b.topics.scores)).items()}
    assert latest_a == latest_b and set(latest_a) == set(natives)


def test_every_example_format_took_part(run):
    """Each format, both CloudEvents modes and the anonymous ids were scored (not just some of the sources)."""
    changes = [decode(run.registry, r.value) for r in run.outputs_a.on(run.a.topics.score_changes)]
    causes = {(c["lead_id"], c["cause"]) for c in changes}
    assert {
        ("seg-ada", "PROFILE"),  # Segment identify
        ("seg-ada", "EVENT"),  # Segment track
        ("anon-bob", "EVENT"),  # Segment, anonymous
        ("sp-cleo", "EVENT"),  # Snowplow
        ("sp-cookie-42", "EVENT"),  # Snowplow, the cookie id
        ("ce-dan", "EVENT"),  # CloudEvents, structured
        ("crm-erin", "EVENT"),  # CloudEvents, binary
        ("crm-erin", "PROFILE"),  # CRM Avro
        ("crm-finn", "PROFILE"),
    } <= causes
    ids = {c["cause_event_id"] for c in changes if c["cause"] == "EVENT"}
    assert {"seg-8", "sp-2", "ce-4", "ce-7"} <= ids  # timestamp alone, collector time, data_base64, float minutes


def test_misplaced_records_are_rerouted_as_the_native_events(run):
    """Records keyed otherwise on another partition went through the rerouting topic, as the LeadEvent or
    LeadProfile they map to: exactly the native ones, in order."""
    expected: dict[str, list[LeadEvent | LeadProfile]] = {}
    for phase in run.scenario.phases:
        for step in phase:
            if step.native.lead_id in run.scenario.rerouted_leads:
                expected.setdefault(step.native.lead_id, []).append(step.native)
    codec = run.native_codec
    forwarded: dict[str, list[LeadEvent | LeadProfile]] = {}
    for record in run.rerouted:
        name = codec.schema_name(record.value)
        native = codec.decode_event(record.value) if name == "LeadEvent" else codec.decode_profile(record.value)
        assert record.key == native.lead_id.encode()
        assert record.partition == lead_partition(native.lead_id, run.a.partitions)
        forwarded.setdefault(native.lead_id, []).append(native)
    assert forwarded == expected


def test_mapping_errors_reach_the_dead_letter_topic_with_their_reason(run):
    letters = [decode(run.registry, r.value) for r in run.outputs_a.on(run.a.topics.dead_letters)]
    assert len(letters) == len(run.letters)
    found = {(letter["topic"], letter["partition"], letter["offset"]): letter for letter in letters}
    for sent, offset in run.letters:
        record = sent.record
        where = (run.topics[record.source], record.partition, offset)
        assert where in found, f"no dead letter for {sent.reason!r} at {where}"
        letter = found[where]
        assert letter["error_type"] == "SourceMappingError"
        assert letter["reason"].startswith(sent.reason), (letter["reason"], sent.reason)
        assert (letter["key"], letter["value"]) == (record.key, record.value)  # the record, verbatim


def test_skipped_records_are_counted_and_produce_nothing(run):
    """Segment page and group calls, an unmapped track name, a Snowplow page ping and an unmapped action, a CRM
    delete: counted as skipped; every record of every source is accounted for, and no other output came of them
    (the score changes match the native run's exactly, above; no dead letter names them)."""
    assert run.counts == EXPECTED_COUNTS
    skipped_ids = {"seg-x", "sp-x", "sp-y"}
    changes = [decode(run.registry, r.value) for r in run.outputs_a.on(run.a.topics.score_changes)]
    assert not {c["cause_event_id"] for c in changes} & skipped_ids
    letters = [decode(run.registry, r.value) for r in run.outputs_a.on(run.a.topics.dead_letters)]
    skipped_values = {record.value for record in run.scenario.skipped + run.scenario.skipped_later}
    assert not {letter["value"] for letter in letters} & skipped_values


def test_the_consumer_lag_of_every_source_topic_is_measured(run):
    """Declared topics are inputs like lead-events: their lag per partition is on /metrics (the lag alert and the
    dashboard's lag panels read it), and it is 0 once every record is read."""
    expected = {(topic, n): 0.0 for topic in run.topics.values() for n in range(run.a.partitions)}
    assert run.lag == expected
