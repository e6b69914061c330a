from streams.worker.ticks import DueIndex, PartitionClocks


def test_due_index_pops_only_due_leads_of_the_partition():
    index = DueIndex()
    for n in range(1000):
        index.set(n % 4, f"lead-{n}", 1_000 + n)
    assert index.pop_due(1, 1_010) == ["lead-1", "lead-5", "lead-9"]
    assert index.pop_due(1, 1_010) == []
    assert len(index) == 997


def test_a_newer_due_replaces_the_old_one_and_none_removes():
    index = DueIndex()
    index.set(0, "a", 100)
    index.set(0, "a", 500)
    index.set(0, "b", 200)
    index.set(0, "b", None)
    assert index.pop_due(0, 400) == []
    assert index.pop_due(0, 500) == ["a"]


def test_pop_due_is_bounded():
    index = DueIndex()
    for n in range(50):
        index.set(0, f"l{n}", 10)
    assert len(index.pop_due(0, 10, limit=20)) == 20
    assert len(index.pop_due(0, 10)) == 30


def test_clock_follows_event_time_then_wall_time_when_idle():
    clocks = PartitionClocks(idle_after_ms=60_000)
    assert clocks.now(0, 0) is None
    clocks.observe(0, event_ms=5_000_000, wall_ms=100)
    clocks.observe(0, event_ms=4_000_000, wall_ms=200)  # late event: the clock does not go back
    assert clocks.now(0, wall_ms=30_000) == 5_000_000  # events flow: event time only
    assert clocks.now(0, wall_ms=60_200) == 5_060_000  # idle for a minute: wall time advances it
    clocks.observe(0, event_ms=5_000_001, wall_ms=60_300)
    assert clocks.now(0, wall_ms=60_400) == 5_060_000  # never backwards
