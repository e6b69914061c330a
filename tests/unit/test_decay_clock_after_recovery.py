"""Regression test for a bug the crash scenario found (issue 6): after a restart, partition clocks jumped decades.

The recovery rebuilt the clocks observing each partition's latest event at wall time 0: ``PartitionClocks.now``
then saw the partition idle since 1970 and added the whole wall clock (about 1.8e12 ms) to its event time. The next
decay tick carried that clock (year ~2082) to every lead with a crossing ahead: bogus DECAY crossings and
``lead-scores`` rewritten near 0 (seen with decay_tick_s=2 and 3 SIGKILLs over 5,000 events: 34 unexpected DECAY
crossings, 17 leads with a wrong final state). ``rebuild_due_index`` now observes them at the current wall time.
"""

from __future__ import annotations

from scoring import LeadState
from streams.worker.stored import StoredLead, encode_stored
from streams.worker.ticks import DueIndex, PartitionClocks, rebuild_due_index

T_EVENT = 1_767_603_600_000  # 2026-01-05T09:00:00Z
WALL_NOW = 1_795_348_800_000  # 2026-11-22
IDLE_AFTER = 60_000


def test_clock_rebuilt_after_recovery_starts_at_the_latest_event_time():
    clocks, due = PartitionClocks(idle_after_ms=IDLE_AFTER), DueIndex()
    states = [
        ("lead-1", encode_stored(StoredLead(0, T_EVENT + 5_000, LeadState("lead-1", latest_ms=T_EVENT)))),
        ("lead-2", encode_stored(StoredLead(1, None, LeadState("lead-2", latest_ms=1)))),
    ]
    rebuild_due_index(states, {0}, due, clocks, WALL_NOW)
    assert clocks.now(0, WALL_NOW + 1_000) == T_EVENT  # not idle yet: the clock is the latest event time
    assert clocks.now(0, WALL_NOW + 2 * IDLE_AFTER) == T_EVENT + 2 * IDLE_AFTER  # idle: advances with wall time
    assert clocks.now(1, WALL_NOW) is None  # partitions this worker does not own are not clocked
    assert due.pop_due(0, T_EVENT + 5_000) == ["lead-1"]
