"""Replay order and pacing (no broker: the producer is only used in tests/integration/test_replay.py)."""

from __future__ import annotations

from scoring import LeadEvent, LeadProfile
from scoring.conversions import Conversion, Outcome
from streams.analysis.history import History
from streams.analysis.replay import CONVERSION, EVENT, PROFILE, merged, wall_delays

T = 1_600_000_000_000


def _history() -> History:
    return History(
        events=[LeadEvent("e2", "b", "form_fill", T + 5000, "s"), LeadEvent("e1", "a", "form_fill", T, "s")],
        profiles=[LeadProfile("a", T), LeadProfile("b", T + 9000)],
        conversions=[Conversion("c1", "a", Outcome.WON, T)],
    )


def test_merged_is_time_then_profile_event_conversion() -> None:
    records = merged(_history())
    assert [(at - T, kind, key) for at, kind, key, _ in records] == [
        (0, PROFILE, "a"),
        (0, EVENT, "e1"),
        (0, CONVERSION, "c1"),
        (5000, EVENT, "e2"),
        (9000, PROFILE, "b"),
    ]
    assert [key for _, _, key, _ in merged(_history(), limit=2)] == ["a", "e1"]


def test_pacing_divides_gaps_by_speed_and_caps_them() -> None:
    records = merged(_history())
    assert list(wall_delays(records, 0, 1000)) == [0.0] * 5
    assert list(wall_delays(records, 10, 60_000)) == [0.0, 0.0, 0.0, 0.5, 0.4]
    assert list(wall_delays(records, 1, 1000)) == [0.0, 0.0, 0.0, 1.0, 1.0]
