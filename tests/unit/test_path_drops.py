"""Time to drop: per level held, the exact time the lead falls below it if nothing else happens (issue 17)."""

from datetime import UTC, datetime

from scoring import Engine, parse_model
from scoring.engine import earliest
from scoring.modelstate import scores_at
from streams.kafka.codec import to_millis
from streams.worker.metrics import Metrics
from streams.worker.processor import Message, Processor
from tests.avro_reference import reference_decode
from tests.conftest import DAY, T0, make_event


def model(**engagement):
    return parse_model(
        {
            "id": "m",
            "version": 1,
            "change_note": "t",
            "engagement": engagement,
            "rules": [
                {"id": "demo", "event": "demo_request", "points": 70},
                {"id": "open", "event": "email_open", "points": 1, "half_life": "never"},
            ],
            "levels": [{"name": "MQL", "enter": 60, "leave": 50}, {"name": "SQL", "enter": 100, "leave": 90}],
        }
    )


def test_drops_at_is_the_first_millisecond_below_leave():
    m = model(half_life="10d")
    engine = Engine([m])
    state = engine.apply_event(None, make_event("lead", "demo_request", T0)).state
    [snapshot] = engine.snapshot(state, T0 + DAY)
    [(level, drops_at)] = snapshot.drops
    assert level == "MQL" and drops_at is not None and drops_at > T0 + DAY
    model_state = state.models["m"]
    assert scores_at(m, model_state, drops_at).combined < 50
    assert scores_at(m, model_state, drops_at - 1).combined >= 50
    assert engine.next_due(state, T0 + DAY) == drops_at  # the same time the decay tick is due


def test_no_decay_never_drops_and_levels_not_held_have_no_entry():
    engine = Engine([model()])
    state = engine.apply_event(None, make_event("lead", "demo_request", T0)).state
    assert engine.snapshot(state, T0 + 400 * DAY)[0].drops == (("MQL", None),)
    assert engine.snapshot(engine.apply_event(None, make_event("lead", "email_open")).state, T0)[0].drops == ()


def test_drops_from_transitions_are_the_drops_computed_afresh():
    m = model(half_life="5d")
    engine = Engine([m])
    state = None
    for n in range(2):
        state = engine.apply_event(state, make_event("lead", "demo_request", T0 + n * 3 * DAY, event_id=f"d{n}")).state
    at = T0 + 3 * DAY
    transitions = engine.transitions(state, at)
    assert [name for name, _ in transitions["m"]] == ["MQL", "SQL"]
    reused = engine.snapshot(state, at, transitions=transitions)[0].drops
    assert reused == engine.snapshot(state, at)[0].drops
    assert [name for name, _ in reused] == ["MQL", "SQL"] and reused[1][1] < reused[0][1]  # SQL is left first
    assert earliest(transitions) == engine.next_due(state, at) == reused[1][1]


def test_lead_scores_record_carries_the_drops_round_trip(codec):
    m = model(half_life="10d")
    engine = Engine([m])
    processor = Processor(engine, codec, Metrics(), 1, "rerouted")
    event = make_event("lead", "demo_request", T0)
    result = processor.process_event(Message("lead-events", 0, 0, b"lead", codec.encode_event(event)), lambda _: None)
    assert result.scores is not None
    _, record = codec.decode(result.scores, "LeadScore")
    [score] = record["models"]
    [drop] = score["drops"]
    expected = engine.snapshot(result.state.state, T0)[0].drops
    assert (drop["level"], to_millis(drop["drops_at"])) == expected[0]
    _, reference = reference_decode(result.scores)  # the Apache avro library reads it too
    assert reference["models"][0]["drops"][0]["level"] == "MQL"
    assert reference["models"][0]["drops"][0]["drops_at"] == datetime.fromtimestamp(expected[0][1] / 1000, UTC)
    assert result.due_ms == expected[0][1]


def test_a_never_dropping_level_is_null_on_the_wire(codec):
    engine = Engine([model()])
    state = engine.apply_event(None, make_event("lead", "demo_request", T0)).state
    _, record = codec.decode(codec.encode_scores("lead", T0, engine.snapshot(state, T0)), "LeadScore")
    assert record["models"][0]["drops"] == [{"level": "MQL", "drops_at": None}]


def test_callers_that_only_need_scores_can_skip_the_drops(b2b_model) -> None:
    from scoring import Engine
    from tests.conftest import T0, make_event

    engine = Engine([b2b_model])
    state = engine.score_event(None, make_event("l", "demo_request", T0)).state
    state = engine.score_event(state, make_event("l", "trial_request", T0 + 1)).state
    (with_drops,) = engine.snapshot(state, T0 + 1)
    (without,) = engine.snapshot(state, T0 + 1, drops=False)
    assert with_drops.drops and without.drops == ()
    assert (with_drops.score, with_drops.levels) == (without.score, without.levels)
