"""The due fields read from a stored state's bytes (ADR 030) are exactly those of the decoded state, whatever the
tail holds; the due fields collected while loading agree with a scan of the loaded store."""

from __future__ import annotations

import json

import orjson
import pytest

from scoring import LeadState
from streams.worker.stored import StoredLead, encode_stored
from streams.worker.storeddue import PartitionDues, stored_due, stored_dues
from streams.worker.ticks import DueIndex, PartitionClocks, index_due

T = 1_767_603_600_000


def encoded(state: dict) -> bytes:
    return json.dumps(state, separators=(",", ":")).encode()


def lead(n: int, *, seen: bool = True, due: int | None = T + 5, trail: object = None, shell_first: bool = False):
    state = LeadState(f"lead-{n}", {}, {"d1": T + n} if seen else {}, T + n if seen else 0).to_dict()
    shell = {"p": n % 4, "d": due}
    state = {**shell, **state} if shell_first else {**state, **shell}
    if trail is not None:
        state["h"] = trail
    return state


CASES = {
    "the worker's layout": lead(1),
    "no due": lead(2, due=None),
    "no seen events, so no t": lead(3, seen=False),
    "a trail with nested t, p and d": lead(4, trail=[[T, {"t": 1, "p": 2, "d": {"t": 3}}], [T + 1, {}]]),
    "a trail with a string holding the key": lead(5, trail=[[T, {"m": ',"t":9,"p":1,"d":2}'}]]),
    "the shell's fields first": lead(6, shell_first=True),
    "the benchmark's layout (d before p)": {**{k: v for k, v in lead(7).items() if k != "p"}, "p": 3},
}


@pytest.mark.parametrize("state", CASES.values(), ids=CASES.keys())
def test_stored_due_reads_what_a_format_1_state_says(state):
    assert stored_due(encoded(state)) == (state.get("p"), state.get("d"), state.get("t", 0))


@pytest.mark.parametrize("due", [None, T + 5])
def test_stored_due_reads_the_envelope_of_format_2(due):
    trail = [[T, {"t": 1, "p": 2, "d": {"t": 3}}]]
    lead = StoredLead(3, due, LeadState("lead-1", {}, {"d1": T + 9}, T + 9), trail)
    assert stored_due(encode_stored(lead)) == (3, due, T + 9)


def test_stored_dues_decode_the_lead_id_only_for_leads_with_a_due_time():
    items = [(orjson.dumps("lead-1"), encoded(lead(1))), (orjson.dumps("lead-2"), encoded(lead(2, due=None)))]
    assert list(stored_dues(iter(items))) == [("lead-1", (1, T + 5, T + 1)), ("", (2, None, T + 2))]


def test_due_fields_collected_while_loading_index_like_a_scan_of_the_store():
    """Records in offset order, overwrites and tombstones: the collected fields give the same due index as a scan
    of what the store ends up holding; the clock is the latest event time of any record applied."""
    records = [(f"lead-{n % 7}", lead(n % 7 * 10 + n, due=None if n % 3 == 0 else T + n)) for n in range(30)]
    records += [("lead-2", None), ("lead-5", None), ("lead-5", lead(55, due=T + 99))]
    dues, store = PartitionDues(), {}
    for lead_id, state in records:
        key, value = orjson.dumps(lead_id), None if state is None else encoded({**state, "p": 0})
        dues.apply(key, value)
        if value is None:
            store.pop(key, None)
        else:
            store[key] = value
    collected, scanned = DueIndex(), DueIndex()
    clocks_collected, clocks_scanned = PartitionClocks(1000), PartitionClocks(1000)
    index_due(dues.entries(0), {0}, collected, clocks_collected, 0)
    index_due(stored_dues(iter(store.items())), {0}, scanned, clocks_scanned, 0)
    assert collected._due == scanned._due and len(collected) > 0
    assert collected.pop_due(0, T + 1000) == scanned.pop_due(0, T + 1000)
    applied = max(state.get("t", 0) for _, state in records if state is not None)
    assert clocks_collected.now(0, 0) == applied >= clocks_scanned.now(0, 0)


def test_replace_all_builds_the_heaps_at_once():
    index = DueIndex()
    index.set(0, "old", T)
    index.replace_all([(0, "b", T + 2), (0, "a", T + 1), (1, "c", T)])
    assert len(index) == 3
    assert index.pop_due(0, T + 5) == ["a", "b"] and index.pop_due(1, T) == ["c"]
