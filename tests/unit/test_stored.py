"""State format 2 (ADR 033): the stored envelope round-trips exactly, format 1 is still read, bad bytes are refused;
the engine's in-place path agrees with scoring from a stored copy every time; output ids are uuid5 exactly."""

from __future__ import annotations

import uuid

import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring import Engine, LeadEvent, LeadState, StateFormatError, derived_id, example_model_path, load_model
from scoring.outputs import ID_NAMESPACE
from streams.worker.stored import FORMAT_2, StoredLead, as_json, decode_stored, encode_stored, stored_head
from tests.conftest import DAY, T0

ENGINE = Engine([load_model(example_model_path("b2b"))])
KINDS = ["email_open", "email_click", "page_view", "content_download", "demo_request", "email_bounce", "unsubscribe"]
EVENTS = st.lists(
    st.tuples(st.sampled_from(KINDS), st.integers(0, 40 * DAY), st.sampled_from(["/pricing", "/blog", "roi-guide"])),
    min_size=1,
    max_size=25,
)


def scored(history: list[tuple[str, int, str]]) -> LeadState:
    state = None
    for n, (kind, offset, text) in enumerate(sorted(history, key=lambda item: item[1])):
        properties = {"path": text} if kind == "page_view" else {"asset": text}
        event = LeadEvent(f"e{n}", "lead", kind, T0 + offset, "web", properties)
        state = ENGINE.score_event(state, event).state
    assert state is not None
    return state


@settings(max_examples=60, deadline=None)
@given(EVENTS, st.one_of(st.none(), st.integers(T0, T0 + 90 * DAY)))
def test_format_2_round_trips_exactly_and_format_1_reads_the_same(history, due_ms):
    lead = StoredLead(2, due_ms, scored(history), [T0, "b2b", 12.5, "MQL"])
    value = encode_stored(lead)
    assert value.startswith(FORMAT_2) and decode_stored(value) == lead
    assert stored_head(value) == (2, due_ms, lead.state.latest_ms)
    format_1 = orjson.dumps(as_json(lead))  # what 0.2 wrote: to_dict with p, d and h
    assert decode_stored(format_1) == lead and stored_head(format_1) == stored_head(value)


@settings(max_examples=60, deadline=None)
@given(EVENTS)
def test_live_states_and_states_read_back_from_the_store_score_alike(history):
    """The hot path changes one live state in place; a miss decodes the stored copy: the same outputs either way."""
    live: LeadState | None = None
    stored: bytes | None = None
    for n, (kind, offset, _) in enumerate(history):
        event = LeadEvent(f"e{n}", "lead", kind, T0 + offset + 40 * DAY * (n // 5), "web")
        from_store = decode_stored(stored).state if stored is not None else None
        try:
            kept = ENGINE.score_event(live, event)
        except Exception as exc:  # too late: both refuse it, and neither changes
            with pytest.raises(type(exc)):
                ENGINE.score_event(from_store, event)
            continue
        read = ENGINE.score_event(from_store, event)
        assert (kept.changes, kept.crossings, kept.duplicate) == (read.changes, read.crossings, read.duplicate)
        assert kept.state == read.state
        live, stored = kept.state, encode_stored(StoredLead(0, None, read.state))


def test_apply_event_leaves_the_given_state_alone_and_score_event_changes_it():
    first = ENGINE.apply_event(None, LeadEvent("e1", "lead", "demo_request", T0, "web")).state
    before = first.copy()
    after = ENGINE.apply_event(first, LeadEvent("e2", "lead", "trial_request", T0 + 1, "web")).state
    assert first == before and after != before
    assert ENGINE.score_event(first, LeadEvent("e2", "lead", "trial_request", T0 + 1, "web")).state is first
    assert first == after


@pytest.mark.parametrize("value", [b"", b"\x03abc", b"\x02\xc1", b"{not json", b'{"v": 9, "id": "x", "m": {}}'])
def test_unreadable_values_are_refused_with_the_state_format_error(value):
    with pytest.raises(StateFormatError):
        decode_stored(value)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.one_of(st.text(), st.integers(), st.sampled_from(["change", "crossing", "EVENT"])), max_size=8))
def test_derived_ids_are_uuid5_of_the_joined_parts(parts):
    expected = str(uuid.uuid5(ID_NAMESPACE, "|".join(str(part) for part in parts)))
    assert derived_id(*parts) == expected


@settings(max_examples=60, deadline=None)
@given(EVENTS)
def test_the_scores_an_update_carries_give_the_due_time_and_snapshot_computed_afresh(history):
    state = None
    for n, (kind, offset, _) in enumerate(sorted(history, key=lambda item: item[1])):
        update = ENGINE.score_event(state, LeadEvent(f"e{n}", "lead", kind, T0 + offset, "web"))
        state = update.state
        at_ms = max(model.levels_at_ms for model in state.models.values())
        assert update.scores  # every model that scored the event reports its scores
        assert ENGINE.next_due(state, at_ms, update.scores) == ENGINE.next_due(state, at_ms)
        assert ENGINE.snapshot(state, at_ms, 0, update.scores) == ENGINE.snapshot(state, at_ms, 0)
