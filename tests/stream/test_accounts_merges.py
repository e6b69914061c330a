"""Stream tests of merges and accounts together (ADR 043, 044): the real app's fast path merges two leads of one
account, or identifies an anonymous visitor whose events named an account; the member updates it sends on
``<app_id>-account-inputs`` are then rolled up by its account agent. The reference is a second worker that scored
every event under the survivor's id: its accounts must end the same (score, engagement, coverage, members).
"""

from __future__ import annotations

from dataclasses import replace

import pytest

from scoring import LeadEvent, LeadProfile, example_model_path
from scoring.accounts.engine import AccountEngine
from scoring.accounts.records import MemberCause, decode_member_update
from scoring.accounts.state import AccountState, decode_account_state
from scoring.identities.records import IdentityKind
from streams.devtools.testing import DAY_MS, T0, WorkerDriver, make_event
from streams.kafka.partitioner import lead_partition
from tests.stream.test_identities_worker import Identities

B2B = example_model_path("b2b")
PARTITIONS = 4
HOUR = 3_600_000
LATER = T0 + 3 * DAY_MS


def event(lead_id: str, kind: str, at_ms: int, account: str | None = "acme", **properties: str) -> LeadEvent:
    return replace(make_event(lead_id, kind, at_ms, **properties), account_id=account)


def under(lead_id: str, events: list[LeadEvent]) -> list[LeadEvent]:
    return [replace(e, lead_id=lead_id) for e in events]


def driver(tmp_path, name: str) -> WorkerDriver:
    return WorkerDriver(B2B, tmp_path / name, app_id=f"accounts-merges-{name}", partitions=PARTITIONS)


def member_records(worker: WorkerDriver) -> list[tuple[bytes, bytes]]:
    topic = f"{worker.leadscore.settings.app_id}-account-inputs"
    return [(key, value) for name, key, value, _ in worker.sink.records if name == topic and key and value]


async def roll_up(worker: WorkerDriver) -> None:
    """Every member update the worker sent, in order, through its account agent (each on its account's partition)."""
    agent = worker.leadscore.score_accounts
    assert agent is not None
    async with agent.test_context() as accounts:
        for key, value in member_records(worker):
            await accounts.put(value, key=key, partition=lead_partition(key.decode(), PARTITIONS))


def account(worker: WorkerDriver, account_id: str) -> AccountState | None:
    table = worker.leadscore.account_table
    assert table is not None
    value = table.get(account_id)
    return None if value is None else decode_account_state(value)


def summary(worker: WorkerDriver, account_id: str) -> dict:
    """The account's snapshot at ``LATER`` under b2b, without the trend (a history of gains, not a state: ADR 044)."""
    state = account(worker, account_id)
    assert state is not None, f"no account {account_id}"
    [snapshot] = AccountEngine(worker.scorer.processor.engine.models).snapshot(state, LATER)
    return {
        "score": pytest.approx(snapshot.score, rel=1e-9),
        "engagement": pytest.approx(snapshot.engagement, rel=1e-9),
        "fit": snapshot.fit,
        "levels": snapshot.levels,
        "coverage": snapshot.coverage,
        "members": sorted((m.member_id, pytest.approx(m.value_now, rel=1e-9)) for m in snapshot.top_members),
    }


async def test_a_merge_of_two_members_leaves_the_account_as_if_all_was_scored_under_the_survivor(tmp_path):
    worker = Identities(driver(tmp_path, "merged"))
    duplicate = [event("lead-a", "page_view", T0, path="/pricing"), event("lead-a", "email_open", T0 + HOUR)]
    survivor = [event("lead-b", "webinar_signup", T0 + 2 * HOUR), event("lead-b", "email_click", T0 + 3 * HOUR)]
    colleague = [event("lead-c", "webinar_attended", T0 + 4 * HOUR)]
    profiles = [LeadProfile("lead-b", T0, seniority="vp"), LeadProfile("lead-c", T0, seniority="manager")]
    await worker.driver.send_profiles(*profiles)
    await worker.events(*duplicate, *survivor, *colleague)
    await worker.send(IdentityKind.MERGE, "lead-a", "lead-b", "merge-1", T0 + DAY_MS)
    await roll_up(worker.driver)

    expected = driver(tmp_path, "reference")
    await expected.send_profiles(*profiles)
    await expected.send(*under("lead-b", [*duplicate, *survivor]), *colleague)
    await roll_up(expected)
    assert summary(worker.driver, "acme") == summary(expected, "acme")
    members = account(worker.driver, "acme")
    assert members is not None and set(members.models["b2b"].members) == {"lead-b", "lead-c"}  # lead-a is gone
    sent = [decode_member_update(value) for _, value in member_records(worker.driver)]
    merge = [(m.member_id, m.cause, m.cause_id) for m in sent if m.cause_id == "merge-1"]
    assert merge == [("lead-a", MemberCause.LEFT, "merge-1"), ("lead-b", MemberCause.MERGE, "merge-1")]
    assert worker.driver.state("lead-b").accounts == {"b2b": "acme"}


async def test_an_identify_moves_the_anonymous_engagement_into_the_leads_account(tmp_path):
    worker = Identities(driver(tmp_path, "identified"))
    visits = [event("anon-1", "page_view", T0, path="/pricing"), event("anon-1", "webinar_signup", T0 + HOUR)]
    own = [event("lead-1", "email_click", T0 + 2 * HOUR, account="globex")]
    await worker.events(*visits, *own)
    await worker.send(IdentityKind.IDENTIFY, "anon-1", "lead-1", "identity-1", T0 + DAY_MS)
    await roll_up(worker.driver)

    expected = driver(tmp_path, "reference")
    await expected.send(*under("lead-1", [*visits, *own]))  # lead-1 ends in globex: its latest event's account
    await roll_up(expected)
    assert summary(worker.driver, "globex") == summary(expected, "globex")
    assert account(worker.driver, "acme") is None and account(expected, "acme") is None  # its one member left
    assert worker.driver.sink.decoded(worker.built.settings.topics.account_scores)[-2:][0] == (b"acme", None)
    assert worker.driver.state("lead-1").accounts == {"b2b": "globex"}


async def test_an_identify_of_a_lead_without_account_takes_it_into_the_anonymous_account(tmp_path):
    worker = Identities(driver(tmp_path, "joined"))
    visits = [event("anon-2", "page_view", T0, path="/pricing"), event("anon-2", "content_download", T0 + HOUR)]
    own = [event("lead-2", "webinar_attended", T0 + 2 * HOUR, account=None)]
    await worker.events(*visits, *own)
    assert worker.driver.state("lead-2").accounts == {}
    await worker.send(IdentityKind.IDENTIFY, "anon-2", "lead-2", "identity-2", T0 + DAY_MS)
    await roll_up(worker.driver)

    expected = driver(tmp_path, "reference")
    await expected.send(*under("lead-2", [*visits, *own]))  # the events' account id is sticky: still acme
    await roll_up(expected)
    assert summary(worker.driver, "acme") == summary(expected, "acme")
    members = account(worker.driver, "acme")
    assert members is not None and set(members.models["b2b"].members) == {"lead-2"}
    assert worker.driver.state("lead-2").accounts == {"b2b": "acme"}
