"""The end-to-end account bench (step ``accounts``, bench/accounts_e2e.py): the contestants' model (bench/model.py,
also its run without accounts) is the shipped b2b file less its ``account:`` section and nothing else, the roll-up's
polls stay in their bounds, and the report sets the two runs side by side, counted to the N-th event and to the
roll-up caught up (no broker run)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench import throughput
from bench.model import lead_model, lead_model_file
from bench.report_throughput import accounts_lines, cpu_lines
from bench.summary import summarise
from scoring import example_model_path
from scoring.model.compile import load_model


def test_the_contestants_model_is_b2b_less_its_account_section(tmp_path: Path) -> None:
    shipped = load_model(example_model_path("b2b"))
    for plain in (load_model(lead_model_file(tmp_path)), lead_model()):  # the workers' file, the peer's model
        assert shipped.account is not None and plain.account is None
        assert plain.id == shipped.id and plain.version == shipped.version
        assert plain.rules == shipped.rules and plain.levels == shipped.levels and plain.routing == shipped.routing


def test_the_catch_up_polls_half_of_what_is_left_within_bounds() -> None:
    assert throughput._catch_up_poll_s(1000, 0.0) == throughput.METRICS_POLL_S  # no rate yet
    assert throughput._catch_up_poll_s(1000, 1000.0) == 0.5
    assert throughput._catch_up_poll_s(10, 1000.0) == throughput.FINAL_POLL_S
    assert throughput._catch_up_poll_s(1_000_000, 1000.0) == throughput.LONGEST_POLL_S


def _cpu(events: int, seconds: float, cpu_s: float) -> dict[str, Any]:
    return {
        "events": events,
        "seconds": seconds,
        "eps": events / seconds,
        "cpu_s": cpu_s,
        "cpu_s_per_event": cpu_s / events,
        "broker_cpu_s": 1.0,
        "broker_cpu_s_per_event": 1.0 / events,
    }


def _step(eps: float, cpu_s: float) -> dict[str, Any]:
    cpu = _cpu(19_000, 19_000 / eps, cpu_s)
    return {"eps": eps, "seconds": cpu["seconds"], "events": 20_000, "score_changes": 9000, "cpu": cpu}


def test_the_report_sets_the_roll_up_against_the_run_without_accounts() -> None:
    rolled_cpu = _cpu(19_000, 19_000 / 2000, 5.7)
    roll_up = {
        **{"eps": 2000.0, "seconds": rolled_cpu["seconds"], "catch_up_s": 3.25, "cpu": rolled_cpu},
        **{"member_updates_sent": 12_000, "member_updates_consumed": 12_000, "outcomes": {"applied": 12_000}},
        **{"consumed_by_nth_event": 400, "sent_by_nth_event": 12_000},
    }
    without, with_ = _step(4000, 2.85), {**_step(3200, 3.8), "roll_up": roll_up}
    results = {
        "events": 20_000,
        "leads": 10_000,
        "mode": "quick",
        "throughput": {"leadscore_without_accounts": without, "leadscore_accounts": with_},
    }
    latest = summarise(results)
    assert latest["leadscore_without_accounts_eps"] == 4000 and latest["leadscore_accounts_eps"] == 3200
    assert latest["leadscore_accounts_rolled_up_eps"] == 2000
    assert latest["accounts_ratio"] == 0.8 and latest["accounts_rolled_up_ratio"] == 0.5
    assert latest["without_accounts_cpu_us_per_event"] == 150.0 and latest["accounts_cpu_us_per_event"] == 200.0
    assert latest["accounts_cpu_ratio"] == 1.333 and latest["accounts_extra_cpu_us_per_event"] == 50.0
    assert latest["accounts_rolled_up_cpu_us_per_event"] == 300.0 and latest["accounts_rolled_up_cpu_ratio"] == 2.0
    text = "\n".join(accounts_lines(latest))
    assert "**4,000** events/s at 150.0 CPU µs per event without" in text
    assert "**3,200** events/s at 200.0 µs (**0.800** in events/s, **1.333** in CPU per event, +50.0 µs)" in text
    assert "(12,000: 12,000 applied; 400 by the N-th event, then 3.2 s of catch-up)" in text
    assert "**2,000** events/s at 300.0 µs (**0.500** and **2.000**, +150.0 µs)" in text
    assert "b2b without its `account:` section" in "\n".join(cpu_lines(latest))  # and each run in the CPU table
    assert accounts_lines(summarise({**results, "throughput": {"leadscore_accounts": with_}})) == []
