"""The account agent (ADR 043) in Faust's test_context: leads of one account scored by the events agent send member
updates on ``<app_id>-account-inputs`` (keyed by account id); the account agent turns them into
AccountScoreChanged, AccountThresholdCrossed and AccountScore, ignores a re-delivered update, dead-letters a record
that is no member update, and advances an account past a decay crossing on a tick."""

import asyncio
import time
from dataclasses import replace

import pytest

from scoring import LeadProfile, load_models
from scoring.accounts.engine import AccountEngine
from scoring.accounts.records import decode_member_update
from scoring.accounts.state import decode_account_state
from streams.devtools.testing import TestingSink, build_app
from streams.worker.accounts import account_tick
from tests.conftest import T0, make_event

DAY_MS = 86_400_000
MODEL = """
id: b2b
version: 1
change_note: "accounts in the stream test"
engagement: {half_life: 7d}
rules:
  - {id: demo, event: demo_request, points: 30}
levels:
  - {name: MQL, enter: 60, leave: 50}
account:
  from: [event]
  member_cap: 40
  buying_group: {field: seniority, roles: [vp, manager], engaged_at: 10}
  levels:
    - {name: sales-ready-account, enter: 50, leave: 40, coverage: 2}
"""


@pytest.fixture
def leadscore(tmp_path):
    path = tmp_path / "b2b.yaml"
    path.write_text(MODEL)
    return build_app(path, tmp_path, batch_max=0, app_id="leadscore-accounts-test", store="memory://")


async def handled(leadscore, count, timeout_s=10.0):
    """Wait until the account agent has written the batches of ``count`` records (it takes them in batches)."""
    worker = leadscore.app.leadscore_accounts
    deadline = time.monotonic() + timeout_s
    while worker.handled < count:
        assert time.monotonic() < deadline, f"the account agent wrote {worker.handled} of {count} records"
        await asyncio.sleep(0.01)


def account_event(lead_id, at_ms, account_id="acme"):
    return replace(make_event(lead_id, "demo_request", at_ms), account_id=account_id)


async def member_updates(leadscore, sink, events, seniority):
    """Profiles (seniority), then ``events`` through the per-event agents; the member updates sent, as records."""
    codec = leadscore.codec
    async with leadscore.apply_profiles.test_context() as profiles:
        for lead, role in seniority.items():
            await profiles.put(codec.encode_profile(LeadProfile(lead, T0, seniority=role)), key=lead.encode())
    async with leadscore.score_events.test_context() as agent:
        for event in events:
            await agent.put(codec.encode_event(event), key=event.lead_id.encode())
    topic = f"{leadscore.settings.app_id}-account-inputs"
    return [(key, value) for name, key, value, _ in sink.records if name == topic]


async def test_members_of_one_account_roll_up_and_a_duplicate_changes_nothing(leadscore):
    sink = TestingSink.attach(leadscore)
    names = leadscore.settings.topics
    events = [account_event("ann", T0 + 1000), account_event("bob", T0 + 2000)]
    updates = await member_updates(leadscore, sink, events, {"ann": "vp", "bob": "manager"})
    assert {key for key, _ in updates} == {b"acme"}
    assert [decode_member_update(value).member_id for _, value in updates][-2:] == ["ann", "bob"]
    sink.records.clear()
    async with leadscore.score_accounts.test_context() as accounts:
        for key, value in updates:
            await accounts.put(value, key=key)
        await handled(leadscore, len(updates))
        sent = len(sink.records)
        await accounts.put(updates[-1][1], key=updates[-1][0])  # re-delivered: a duplicate
        await handled(leadscore, len(updates) + 1)
    assert len(sink.records) == sent
    changes = [record for _, record in sink.decoded(names.account_score_changes)]
    assert changes and changes[-1]["account_id"] == "acme" and changes[-1]["score"] == pytest.approx(60.0)
    assert {m["member_id"] for c in changes for m in c["members"]} == {"ann", "bob"}
    [(key, crossing)] = sink.decoded(names.account_thresholds)
    assert key == b"acme" and (crossing["level"], crossing["direction"]) == ("sales-ready-account", "UP")
    assert sorted(crossing["coverage"]) == ["manager", "vp"]
    _, latest = sink.decoded(names.account_scores)[-1]
    assert latest is not None
    [model] = latest["models"]
    assert model["member_count"] == 2 and model["levels"] == ["sales-ready-account"]
    stored = leadscore.account_table.get("acme")
    assert stored is not None and set(decode_account_state(stored).models["b2b"].members) == {"ann", "bob"}
    consumed = leadscore.metrics.member_updates_consumed
    assert consumed.labels("duplicate")._value.get() == 1


async def test_a_bad_record_is_dead_lettered_and_the_agent_goes_on(leadscore):
    sink = TestingSink.attach(leadscore)
    [(key, value)] = await member_updates(leadscore, sink, [account_event("ann", T0)], {"ann": "vp"})
    sink.records.clear()
    async with leadscore.score_accounts.test_context() as accounts:
        await accounts.put(b"not a member update", key=b"acme")
        await accounts.put(value, key=b"globex")  # keyed by another account
        await accounts.put(value, key=key)
        await handled(leadscore, 3)
    letters = [letter for _, letter in sink.decoded(leadscore.settings.topics.dead_letters)]
    assert [letter["error_type"] for letter in letters] == ["DecodeError", "DecodeError"]
    assert letters[0]["reason"].startswith("not a member update")
    assert "keyed by b'globex'" in letters[1]["reason"]
    assert sink.decoded(leadscore.settings.topics.account_score_changes)  # the good one after them is applied


async def test_a_tick_past_the_due_time_sends_the_decay_crossing(leadscore, tmp_path):
    sink = TestingSink.attach(leadscore)
    events = [account_event("ann", T0), account_event("bob", T0)]
    updates = await member_updates(leadscore, sink, events, {"ann": "vp", "bob": "manager"})
    sink.records.clear()
    async with leadscore.score_accounts.test_context() as accounts:
        for key, value in updates:
            await accounts.put(value, key=key)
        await handled(leadscore, len(updates))
        state = decode_account_state(leadscore.account_table.get("acme"))
        due = AccountEngine(load_models([tmp_path / "b2b.yaml"])).next_due(state, T0)
        assert due is not None and due > T0
        await accounts.put(account_tick(due + 30 * DAY_MS), key=b"acme")
        await handled(leadscore, len(updates) + 1)
    crossings = [record for _, record in sink.decoded(leadscore.settings.topics.account_thresholds)]
    assert [(c["direction"], c["cause"]) for c in crossings] == [("UP", "MEMBER"), ("DOWN", "DECAY")]
    assert crossings[1]["occurred_at"] is not None


async def test_a_shadow_worker_rolls_up_nothing(tmp_path):
    path = tmp_path / "b2b.yaml"
    path.write_text(MODEL)
    shadow = build_app(path, tmp_path, batch_max=0, shadow=True, app_id="leadscore-accounts-shadow")
    assert shadow.score_accounts is None and shadow.outputs.account_inputs is None


async def test_an_update_that_moves_no_score_is_still_written_and_announced(leadscore):
    """A member above the cap: its third event moves no account score, but the account keeps the member's newer
    state (decay brings it back under the cap later) and its AccountScore is dated at that update."""
    sink = TestingSink.attach(leadscore)
    events = [account_event("ann", T0 + n * 1000) for n in range(3)]  # 30, 60, 90 points: capped at 40 from the 2nd
    updates = await member_updates(leadscore, sink, events, {"ann": "vp"})
    assert len(updates) == 3
    sink.records.clear()
    async with leadscore.score_accounts.test_context() as accounts:
        for key, value in updates[:2]:
            await accounts.put(value, key=key)
        await handled(leadscore, 2)
        changes = len(sink.sent(leadscore.settings.topics.account_score_changes))
        await accounts.put(updates[2][1], key=updates[2][0])
        await handled(leadscore, 3)
    assert len(sink.sent(leadscore.settings.topics.account_score_changes)) == changes  # no score moved
    member = decode_account_state(leadscore.account_table.get("acme")).models["b2b"].members["ann"]
    assert member.state.events_scored == 3 and member.updated_at_ms == T0 + 2000
    _, latest = sink.decoded(leadscore.settings.topics.account_scores)[-1]
    assert latest is not None and latest["updated_at"].timestamp() * 1000 == T0 + 2000
