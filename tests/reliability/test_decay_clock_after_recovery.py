"""Bug found by the crash scenario (issue 6): after a restart, partition clocks jump decades ahead.

``complete_recovery`` in streams/app.py rebuilds the clocks with ``clocks.observe(partition, value.get("t", 0), 0)``:
wall time 0. ``PartitionClocks.now`` then sees the partition idle since 1970 and adds the whole wall clock
(about 1.8e12 ms) to the event time. The next decay tick carries that clock (year ~2082) to every lead with a
crossing ahead: bogus DECAY crossings (DOWN to no level), ``lead-scores`` rewritten with scores near 0 at
``updated_at`` in 2082, and the clock never comes back (it never goes backwards). Seen with decay_tick_s=2 and
3 SIGKILLs over 5,000 events: 34 unexpected DECAY crossings, 17 leads with a wrong final state.
"""

from __future__ import annotations

import pytest

from streams.decay import PartitionClocks

T_EVENT = 1_767_603_600_000  # 2026-01-05T09:00:00Z
WALL_NOW = 1_795_348_800_000  # 2026-11-22


@pytest.mark.xfail(strict=True, reason="streams/app.py complete_recovery observes recovered clocks at wall time 0")
def test_clock_rebuilt_after_recovery_stays_near_the_latest_event_time():
    clocks = PartitionClocks(idle_after_ms=60_000)
    clocks.observe(0, T_EVENT, 0)  # exactly what complete_recovery does for each recovered lead
    clock = clocks.now(0, WALL_NOW)
    assert clock is not None
    assert clock - T_EVENT < 365 * 86_400_000, f"clock {clock} is {(clock - T_EVENT) / 3.15e10:.0f} years ahead"
