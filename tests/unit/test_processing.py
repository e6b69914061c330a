import pytest

from scoring import Engine, LeadProfile
from streams.kafka.partitioner import lead_partition
from streams.worker.metrics import Metrics
from streams.worker.processor import Message, Processor
from streams.worker.stored import as_json
from tests.conftest import T0, make_event


@pytest.fixture
def processor(simple_model, codec):
    return Processor(Engine([simple_model]), codec, Metrics(), 4, "rerouted")


def message(value: bytes | None, key: bytes | None, offset: int = 0, partition: int | None = None) -> Message:
    """A message on the partition the default partitioner gives its key, unless told otherwise."""
    if partition is None:
        partition = lead_partition(key.decode(), 4) if key else 2
    return Message("lead-events", partition, offset, key, value)


def test_valid_event_is_scored_and_encoded(processor, codec, simple_model):
    event = make_event("lead-7", "demo_request", event_id="e1")
    result = processor.process_event(message(codec.encode_event(event), b"lead-7"), lambda lead: None)
    assert result.dead_letter is None
    assert result.lead_id == "lead-7"
    assert result.state.state.models["b2b"].score == 30
    _, change = codec.decode(result.changes[0])
    assert change["change_id"] == Engine([simple_model]).apply_event(None, event).changes[0].change_id
    assert result.crossings == []


def test_state_is_read_from_the_table(processor, codec):
    first = processor.process_event(message(codec.encode_event(make_event("l", "demo_request")), b"l"), lambda _: None)
    second = processor.process_event(
        message(codec.encode_event(make_event("l", "trial_request")), b"l"), lambda _: first.state
    )
    assert second.state.state.models["b2b"].score == 60
    _, crossing = codec.decode(second.crossings[0])
    assert (crossing["level"], crossing["direction"], crossing["score"]) == ("MQL", "UP", 60.0)


@pytest.mark.parametrize(
    ("value", "key", "error_type", "reason"),
    [
        (b"\x07garbage", b"l", "DecodeError", "wrong magic byte 7"),
        ("event:unknown_type", b"l", "InvalidEventError", "unknown event type 'teleport'"),
        ("event:empty_lead", b"", "InvalidEventError", "lead_id is empty"),
        ("event:1970", b"l", "InvalidEventError", "outside 2000-01-01..2100-01-01"),
        (None, b"l", "DecodeError", "too short"),
    ],
)
def test_bad_input_becomes_a_dead_letter(processor, codec, value, key, error_type, reason):
    events = {
        "event:unknown_type": make_event("l", "teleport"),
        "event:empty_lead": make_event("", "email_open"),
        "event:1970": make_event("l", "email_open", at_ms=5),
        "event:ok": make_event("l", "email_open"),
    }
    raw = codec.encode_event(events[value]) if isinstance(value, str) else value
    result = processor.process_event(message(raw, key, offset=41), lambda _: pytest.fail("must not read state"))
    assert result.state is None and result.changes == []
    _, letter = codec.decode(result.dead_letter)
    assert letter["error_type"] == error_type
    assert reason in letter["reason"]
    assert (letter["topic"], letter["offset"]) == ("lead-events", 41)
    assert letter["value"] == raw and letter["key"] == key
    assert processor.metrics.dead_letters.labels("lead-events", error_type)._value.get() == 1


def test_metrics_count_what_happened(processor, codec):
    for n, event_type in enumerate(["demo_request", "trial_request", "email_open"]):
        processor.process_event(message(codec.encode_event(make_event("l", event_type)), b"l", n), lambda _: None)
    text = processor.metrics.exposition().decode()
    assert 'leadscore_events_consumed_total{topic="lead-events"} 3.0' in text
    assert 'leadscore_score_changes_total{model="b2b"} 3.0' in text


def test_profile_message_recomputes_fit(codec, b2b_model):
    processor = Processor(Engine([b2b_model]), codec, Metrics(), 4, "rerouted")
    profile = LeadProfile("l", 1_767_603_600_000, email="x@bank.com", industry="finance", company_size=3000)
    home = lead_partition("l", 4)
    result = processor.process_profile(
        Message("lead-profiles", home, 3, b"l", codec.encode_profile(profile)), lambda _: None
    )
    _, change = codec.decode(result.changes[0])
    assert (change["fit"], change["grade"], change["cause"], change["cause_event_id"]) == (
        75.0,
        "A",
        "PROFILE",
        "profile@1767603600000",
    )
    misplaced = processor.process_profile(
        Message("lead-profiles", home, 4, b"other", codec.encode_profile(profile)), lambda _: None
    )
    assert misplaced.forward == (home, b"l") and misplaced.state is None and misplaced.changes == []


@pytest.mark.parametrize(("key", "partition"), [(b"someone-else", None), (None, None), (b"l", "wrong")])
def test_inputs_keyed_or_partitioned_otherwise_are_forwarded_once(processor, codec, key, partition):
    home = lead_partition("l", 4)
    raw = codec.encode_event(make_event("l", "email_open"))
    where = (home + 1) % 4 if partition == "wrong" else None
    result = processor.process_event(message(raw, key, partition=where), lambda _: pytest.fail("no state read"))
    assert result.forward == (home, b"l") and result.state is None
    rerouted = processor.process_rerouted(Message("rerouted", home, 0, b"l", raw), lambda _: None, lambda _: False)
    assert rerouted.forward is None and rerouted.state.state.models["b2b"].score == 1


def _conversion_message(codec, lead_id: str, at_ms: int, key: bytes | None = None, partition: int | None = None):
    from scoring.conversions import Conversion, Outcome

    conversion = Conversion(f"won-{lead_id}", lead_id, Outcome.WON, at_ms, 1200.0, "EUR")
    raw = codec.encode_conversion(conversion)
    msg = message(raw, key if key is not None else lead_id.encode(), partition=partition)
    return Message("lead-conversions", msg.partition, msg.offset, msg.key, msg.value)


def test_a_conversion_is_joined_to_the_score_reported_before_it(processor, codec):
    from tests.avro_reference import reference_decode

    day = 86_400_000
    first = processor.process_event(
        message(codec.encode_event(make_event("l", "demo_request", at_ms=T0)), b"l"), lambda _: None
    )
    second = processor.process_event(
        message(codec.encode_event(make_event("l", "trial_request", at_ms=T0 + 10 * day)), b"l"),
        lambda _: first.state,
    )
    assert second.state.trail == [T0, "b2b", 30.0, "", T0 + 10 * day, "b2b", 60.0, "MQL"]  # beside the state
    result = processor.process_conversion(_conversion_message(codec, "l", T0 + 12 * day), lambda _: second.state)
    assert result.state is None and result.dead_letter is None  # a conversion changes no score
    name, joined = reference_decode(result.conversion)
    assert name == "ConversionScored"
    assert (joined["outcome"], joined["value"], joined["lead_time_ms"], joined["known_lead"]) == (
        "WON",
        1200.0,
        7 * day,
        True,
    )
    (model,) = joined["models"]
    # the simple model has no decay: after the last event the score is exact; 7 days before, the first event's
    assert (model["score"], model["levels"], model["score_before"], model["exact"]) == (60.0, ["MQL"], 30.0, True)
    assert processor.metrics.conversions.labels("b2b", "WON", "MQL")._value.get() == 1


def test_conversions_of_unknown_leads_bad_ones_and_misplaced_ones(processor, codec):
    from tests.avro_reference import reference_decode

    unknown = processor.process_conversion(_conversion_message(codec, "new", T0), lambda _: None)
    assert reference_decode(unknown.conversion)[1]["known_lead"] is False
    assert reference_decode(unknown.conversion)[1]["models"] == []
    assert processor.metrics.conversions.labels("b2b", "WON", "unknown")._value.get() == 1  # counted all the same
    bad = processor.process_conversion(
        Message("lead-conversions", 0, 5, b"l", codec.encode_event(make_event("l", "email_open"))), lambda _: None
    )
    assert bad.dead_letter is not None and bad.conversion is None
    wrong_partition = (lead_partition("m", 4) + 1) % 4
    misplaced = processor.process_conversion(
        _conversion_message(codec, "m", T0, partition=wrong_partition), lambda _: pytest.fail("must not read state")
    )
    assert misplaced.forward == (lead_partition("m", 4), b"m")
    rerouted = processor.process_rerouted(
        Message("rerouted", lead_partition("m", 4), 0, b"m", misplaced_value(codec)), lambda _: None, lambda _: False
    )
    assert rerouted.conversion is not None


def misplaced_value(codec) -> bytes:
    from scoring.conversions import Conversion, Outcome

    return codec.encode_conversion(Conversion("won-m", "m", Outcome.WON, T0))


def test_a_level_left_by_decay_is_in_the_trail_so_later_joins_do_not_report_it(codec, b2b_model):
    """A tick's decay crossing changes the levels without a score change; a conversion dated after it, but joined
    after later activity (from the trail), must not see the level the lead had left."""
    from scoring.conversions import Conversion, Outcome
    from streams.worker.processor import TICK
    from tests.avro_reference import reference_decode

    day = 86_400_000
    processor = Processor(Engine([b2b_model]), codec, Metrics(), 4, "rerouted")
    table: dict = {}

    def feed(result):
        if result.state is not None:
            table[result.lead_id] = result.state
        return result

    for n, event_type in enumerate(["demo_request", "trial_request"]):
        feed(processor.process_event(message(codec.encode_event(make_event("l", event_type, T0 + n)), b"l"), table.get))
    assert table["l"].state.models["b2b"].levels == ["MQL"]
    partition = lead_partition("l", 4)
    tick = feed(processor.process_tick(Message("ticks", partition, 0, b"l", TICK.pack(T0 + 25 * day)), table.get))
    (left,) = [reference_decode(c)[1] for c in tick.crossings]
    assert (left["level"], left["direction"], left["cause"]) == ("MQL", "DOWN", "DECAY")
    feed(
        processor.process_event(
            message(codec.encode_event(make_event("l", "email_open", T0 + 40 * day)), b"l"), table.get
        )
    )
    conversion = Conversion("won", "l", Outcome.WON, T0 + 30 * day)
    raw = Message("lead-conversions", partition, 0, b"l", codec.encode_conversion(conversion))
    (joined,) = reference_decode(processor.process_conversion(raw, table.get).conversion)[1]["models"]
    assert joined["exact"] is False  # the e-mail open came later: answered from the trail
    assert joined["levels"] == []  # not MQL: it had left by decay at ~day 20
    assert joined["score"] == left["score"] == joined["score_before"]  # the score reported at the crossing


def test_the_trail_changes_nothing_but_the_trail(codec, b2b_model):
    """With the join on or off, every output and the state (but its trail) are the same: here a decay tick, whose
    crossing happened days before the tick's clock, must still value lead-scores at the clock."""
    from streams.worker.processor import TICK

    day = 86_400_000
    partition = lead_partition("l", 4)
    outputs = []
    for lead_time_ms in (7 * day, None):
        processor = Processor(Engine([b2b_model]), codec, Metrics(), 4, "rerouted", lead_time_ms)
        table: dict = {}
        results: list = []

        def keep(result, results=results):  # the state as it was then: the processor changes it in place
            results.append((result, {k: v for k, v in as_json(result.state).items() if k != "h"}))
            return result

        for n, event_type in enumerate(["demo_request", "trial_request"]):
            raw = message(codec.encode_event(make_event("l", event_type, T0 + n, event_id=f"e{n}")), b"l")
            table["l"] = keep(processor.process_event(raw, table.get)).state
        tick = Message("ticks", partition, 0, b"l", TICK.pack(T0 + 40 * day))
        assert keep(processor.process_tick(tick, table.get)).crossings  # MQL left by decay, at ~day 20
        outputs.append([(r.changes, r.crossings, r.scores, state) for r, state in results])
    with_trail, without = outputs
    assert with_trail == without
    assert codec.decode(with_trail[-1][2])[1]["updated_at"] == datetime_of(T0 + 40 * day)


def datetime_of(ms: int):
    from datetime import UTC, datetime, timedelta

    return datetime(1970, 1, 1, tzinfo=UTC) + timedelta(milliseconds=ms)
