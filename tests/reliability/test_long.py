"""The full reliability scenarios of issue 6 (`make reliability`); figures go into reliability-report.json."""

from __future__ import annotations

import pytest

from streams.devtools.apache_kafka import missing_tools
from tests.reliability.broker_restart import run_broker_restart
from tests.reliability.harness import write_report
from tests.reliability.identities import run_crash_identities
from tests.reliability.rebalance import run_rebalance
from tests.reliability.scenarios import run_crash, run_hostile, run_stall

pytestmark = pytest.mark.timeout(1800)  # marked integration and reliability by tests/conftest.py


def _exact(figures):
    assert figures["lost"] == 0, figures
    assert figures["double_counted"] == 0, figures
    assert figures["wrong_output_content"] == 0, figures


def test_crash_100k_events_10k_leads_10_sigkills(tmp_path):
    figures = run_crash(tmp_path, leads=10_000, events=100_000, kills=10, rate=1_500)
    write_report({k: figures[k] for k in ("events", "kills", "lost", "double_counted", "duplicate_outputs")})
    write_report({"crash": figures})
    assert figures["kills"] >= 10 and figures["events"] >= 100_000
    _exact(figures)
    assert figures["worker_alive_at_end"]


def test_exactly_once_crash_100k_events_10_sigkills(tmp_path):
    """exactly_once on Apache Kafka (ADR 024): the crash scenario's load and kills; duplicates read committed."""
    if missing_tools():
        pytest.skip(f"exactly_once needs Apache Kafka: {' and '.join(missing_tools())} (make kafka-tools)")
    figures = run_crash(
        tmp_path, leads=10_000, events=100_000, kills=10, rate=1_500, processing_guarantee="exactly_once"
    )
    keys = ("events", "kills", "lost", "double_counted", "duplicate_outputs")
    write_report({"exactly_once": {**{k: figures[k] for k in keys}, "crash": figures}})
    assert figures["kills"] >= 10 and figures["events"] >= 100_000
    _exact(figures)
    assert figures["duplicate_outputs"] == 0, figures
    assert figures["worker_alive_at_end"]


def test_exactly_once_rebalance_during_transactions(tmp_path):
    """Three exactly_once workers; one joins, one leaves, one is killed while the load (and transactions) go on."""
    if missing_tools():
        pytest.skip(f"exactly_once needs Apache Kafka: {' and '.join(missing_tools())} (make kafka-tools)")
    figures = run_rebalance(tmp_path, leads=5_000, events=150_000, rate=1_000, processing_guarantee="exactly_once")
    write_report({"exactly_once_rebalance": figures})
    _exact(figures)
    assert figures["duplicate_outputs"] == 0, figures
    assert len(figures["rebalance_seconds"]) == 3 and figures["last_worker_alive"]


def test_hostile_10k_malformed_in_20k_valid(tmp_path):
    figures = run_hostile(tmp_path, leads=2_000, events=20_000, hostile=10_000, rate=3_000)
    keys = ("hostile_messages", "hostile_in_dlq", "worker_restarts_from_hostile")
    write_report({**{k: figures[k] for k in keys}, "hostile": figures})
    assert figures["hostile_messages"] >= 10_000
    assert figures["hostile_in_dlq"] == figures["hostile_messages"], figures
    assert figures["valid_in_dlq"] == 0
    assert figures["worker_restarts_from_hostile"] == 0
    _exact(figures)


def test_broker_frozen_30s_under_load(tmp_path):
    figures = run_stall(tmp_path, leads=2_000, events=60_000, stall_s=30.0, rate=1_000)
    recovered = figures["stall_worker_alive"] and figures["lost"] == 0 and figures["double_counted"] == 0
    write_report({"stall_recovered": recovered, "stall": figures})
    _exact(figures)
    assert figures["stall_worker_alive"], "the worker exited during the broker stall"


def test_three_workers_join_leave_and_kill(tmp_path):
    figures = run_rebalance(tmp_path, leads=5_000, events=150_000, rate=1_000)
    write_report({"rebalance_seconds": figures["rebalance_seconds"], "rebalance": figures})
    _exact(figures)
    assert len(figures["rebalance_seconds"]) == 3 and figures["last_worker_alive"]


def test_broker_sigkilled_and_restarted_from_its_log_under_load(tmp_path):
    figures = run_broker_restart(tmp_path, leads=2_000, events=60_000, rate=1_000, down_s=10.0)
    write_report({"broker_restart": {k: figures[k] for k in ("lost", "double_counted", "caught_up_s")}})
    write_report({"broker_restart_detail": figures})
    _exact(figures)


def test_crash_with_merges_identifies_and_accounts_30k_events_6_sigkills(tmp_path):
    """Issue 16: merges (chains too) and identifies during the load, accounts rolled up, 6 SIGKILLs; final states
    (survivors, tombstones, LeadMerged, accounts) against the identity oracle. Merges among ids in no account until
    the worker tells accounts about merges (tests/reliability/identities.py)."""
    figures = run_crash_identities(
        tmp_path, leads=3_000, events=30_000, merges=200, identifies=200, kills=6, rate=1_000, settle_s=400
    )
    keys = ("events", "merges_expected", "merges_applied", "leads_checked", "leads_wrong", "accounts_checked")
    keys += ("accounts_wrong", "absorbed_not_tombstoned", "lost", "double_counted", "conflicting", "kills")
    write_report({"identities": {k: figures[k] for k in keys}, "identities_crash": figures})
    assert figures["kills"] >= 6 and figures["merges_applied"] == figures["merges_expected"] >= 200
    assert figures["lost"] == 0 and figures["double_counted"] == 0, figures
    assert figures["leads_wrong"] == 0 and figures["accounts_wrong"] == 0, figures
    assert figures["absorbed_not_tombstoned"] == 0 and figures["conflicting"] == 0, figures
    assert figures["worker_alive_at_end"]
