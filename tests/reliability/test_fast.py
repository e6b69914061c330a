"""The fast subset of the reliability scenarios, in the default `make test`: same code, small sizes."""

from __future__ import annotations

import pytest

from streams.devtools.apache_kafka import missing_tools
from tests.reliability.identities import run_crash_identities
from tests.reliability.scenarios import run_crash, run_hostile


def test_sigkilled_worker_restarts_and_matches_the_oracle(tmp_path):
    figures = run_crash(tmp_path, leads=500, events=5_000, kills=3, rate=800)
    assert figures["kills"] == 3
    assert figures["events"] >= 5_000
    assert figures["lost"] == 0, figures
    assert figures["double_counted"] == 0, figures
    assert figures["wrong_output_content"] == 0, figures
    assert figures["worker_alive_at_end"]


def test_hostile_messages_all_dead_lettered_and_valid_events_exact(tmp_path):
    figures = run_hostile(tmp_path, leads=500, events=3_000, hostile=500, rate=2_000)
    assert figures["hostile_classified_invalid"] == figures["hostile_messages"] == 500
    assert figures["hostile_in_dlq"] == 500, figures
    assert figures["valid_in_dlq"] == 0, figures
    assert figures["worker_restarts_from_hostile"] == 0
    assert figures["lost"] == 0 and figures["double_counted"] == 0, figures


def test_exactly_once_sigkilled_worker_no_duplicate_read_committed(tmp_path):
    """exactly_once on Apache Kafka (ADR 024), small: 2 SIGKILLs; a read_committed reader sees every output once."""
    if missing_tools():
        pytest.skip(f"exactly_once needs Apache Kafka: {' and '.join(missing_tools())} (make kafka-tools)")
    figures = run_crash(tmp_path, leads=300, events=3_000, kills=2, rate=600, processing_guarantee="exactly_once")
    assert figures["kills"] == 2 and figures["events"] >= 3_000
    assert figures["lost"] == 0, figures
    assert figures["double_counted"] == 0, figures
    assert figures["wrong_output_content"] == 0, figures
    assert figures["duplicate_outputs"] == 0, figures
    assert figures["worker_alive_at_end"]


def test_sigkilled_worker_with_merges_identifies_and_accounts_matches_the_final_oracle(tmp_path):
    """Issue 16: merges (chains too) and identifies on lead-identities during the load, 2 SIGKILLs; survivors'
    final scores, absorbed ids' tombstones, one LeadMerged per merge and the account roll-ups match the oracle.
    Merges among leads of one account, identifies into a lead's account: see tests/reliability/identities.py."""
    figures = run_crash_identities(tmp_path, leads=300, events=3_000, merges=20, identifies=20, kills=2, rate=600)
    assert figures["kills"] == 2 and figures["events"] >= 3_000
    assert figures["merges_expected"] == 40 and figures["merges_applied"] == 40, figures
    assert figures["lost"] == 0, figures
    assert figures["double_counted"] == 0, figures
    assert figures["leads_wrong"] == 0, figures
    assert figures["absorbed_not_tombstoned"] == 0, figures
    assert figures["accounts_wrong"] == 0 and figures["accounts_checked"] > 0, figures
    assert figures["accounts_with_merged_ids"] > 0, figures  # the merges moved engagement between members
    assert figures["conflicting"] == 0, figures
    assert figures["worker_alive_at_end"]
