"""The offline account roll-up (streams/analysis/accounts.py): leads' engagement rolled up to their accounts with the
member cap, weights, fit and coverage computed by hand; ``leadscore score --accounts``; the account-level evaluation."""

import json

import pytest
from typer.testing import CliRunner

from scoring import Engine, LeadEvent, LeadProfile, load_models, parse_model
from scoring.accounts.engine import AccountEngine
from scoring.conversions import Conversion, Outcome
from scoring.evaluation.cohort import CohortSpec
from streams.analysis.accounts import account_rows, history_inputs, leads_without_account, roll_up
from streams.analysis.evaluate.accounts import account_report_json, evaluate_accounts
from streams.analysis.history import History
from streams.cli.main import app

DAY = 86_400_000
T0 = 1_767_603_600_000

#: No decay, so that every score is a sum of points: demo 40, page view 10 (lead levels play no part).
MODEL = {
    "id": "acc",
    "version": 1,
    "change_note": "test",
    "rules": [
        {"id": "demo", "event": "demo_request", "points": 40},
        {"id": "view", "event": "page_view", "points": 10},
    ],
    "levels": [{"name": "MQL", "enter": 60, "leave": 50}],
    "account": {
        "from": ["event"],
        "member_cap": 50,
        "weights": {"field": "seniority", "values": {"vp": 2.0}, "default": 1.0},
        "buying_group": {"field": "seniority", "roles": ["vp", "manager"], "engaged_at": 5},
        "fit": [{"id": "big", "when": {"field": "company_size", "gte": 1000}, "points": 20}],
        "levels": [{"name": "hot", "enter": 100, "leave": 80, "coverage": 2}],
    },
}


def event(number, lead, kind, account, at=None):
    at_ms = at if at is not None else T0 + number * 60_000
    return LeadEvent(f"e{number:03d}", lead, kind, at_ms, "web", {}, account)


def profile(lead, seniority=None, size=None):
    return LeadProfile(lead, T0 - 1, seniority=seniority, company_size=size)


def two_accounts():
    """a1 (vp of a company of 5,000) and a2 (manager) in A, b1 (no role) in B, c1 in no account."""
    events = [
        event(1, "a1", "demo_request", "A"),
        event(2, "a1", "page_view", "A"),
        event(3, "a2", "page_view", "A"),
        event(4, "b1", "demo_request", "B"),
        event(5, "a1", "page_view", "A"),
        event(6, "c1", "page_view", None),
    ]
    profiles = [profile("a1", "vp", 5000), profile("a2", "manager"), profile("b1")]
    return events, profiles


def engines(raw=MODEL):
    model = parse_model(raw, source="test")
    return Engine([model]), AccountEngine([model])


def test_members_roll_up_with_cap_weight_fit_and_coverage():
    engine, accounts = engines()
    events, profiles = two_accounts()
    run = roll_up(engine, accounts, history_inputs(events, profiles))
    rows = {row["account_id"]: row for row in account_rows(accounts, run)}
    assert set(rows) == {"A", "B"}
    a, b = rows["A"], rows["B"]
    # a1: 40 + 10 + 10 = 60, capped at 50, weight 2 (vp) -> 100; a2: 10, weight 1 -> 10
    assert a["engagement"] == pytest.approx(110)
    assert a["fit"] == pytest.approx(20)  # a1's company_size 5000 >= 1000
    assert a["score"] == pytest.approx(130)
    assert sorted(a["coverage"]) == ["manager", "vp"] and a["missing_roles"] == []
    assert a["levels"] == ["hot"] and a["members"] == 2
    assert [(m["member_id"], m["value"]) for m in a["top_members"]] == [("a1", 100), ("a2", 10)]
    assert [(c["level"], c["direction"]) for c in a["crossings"]] == [("hot", "UP")]
    # b1: 40, no role (no coverage), weight 1; no firmographics
    assert (b["engagement"], b["fit"], b["score"], b["levels"], b["coverage"]) == (40, 0, 40, [], [])
    assert b["crossings"] == []
    assert leads_without_account(accounts, run) == 1
    assert run.leads["a1"].accounts == {"acc": "A"}


def test_history_inputs_put_a_profile_before_an_event_at_the_same_time():
    same = LeadProfile("x", T0)
    later = event(1, "x", "page_view", "A", at=T0 + 1)
    first = event(2, "x", "page_view", "A", at=T0)
    assert history_inputs([later, first], [same]) == [same, first, later]


def test_the_account_crosses_when_its_second_role_engages():
    engine, accounts = engines()
    events, profiles = two_accounts()
    run = roll_up(engine, accounts, history_inputs(events, profiles))
    (crossing,) = run.crossings
    assert crossing.account_id == "A" and crossing.occurred_at_ms == T0 + 3 * 60_000  # a2's view gives coverage 2


def write_files(tmp_path, events, profiles, raw=MODEL):
    from streams.kafka.codec import event_to_record, profile_to_record

    model = tmp_path / "model.yaml"
    model.write_text(json.dumps(raw))  # JSON is YAML
    events_file, profiles_file = tmp_path / "events.jsonl", tmp_path / "profiles.jsonl"
    events_file.write_text("".join(json.dumps(event_to_record(e)) + "\n" for e in events))
    profiles_file.write_text("".join(json.dumps(profile_to_record(p)) + "\n" for p in profiles))
    return model, events_file, profiles_file


def test_score_accounts_prints_one_line_per_account(tmp_path):
    model, events, profiles = write_files(tmp_path, *two_accounts())
    result = CliRunner().invoke(app, ["score", "-m", str(model), "-e", str(events), "-p", str(profiles), "--accounts"])
    assert result.exit_code == 0, result.output
    rows = [json.loads(line) for line in result.stdout.splitlines()]
    assert [(row["account_id"], row["score"]) for row in rows] == [("A", 130), ("B", 40)]
    assert "into 2 accounts (1 leads in no account)" in result.stderr
    assert load_models([model])[0].account is not None


def test_score_accounts_without_an_account_section_is_a_one_line_error(tmp_path):
    plain = {key: value for key, value in MODEL.items() if key != "account"}
    model, events, _ = write_files(tmp_path, *two_accounts(), raw=plain)
    result = CliRunner().invoke(app, ["score", "-m", str(model), "-e", str(events), "--accounts"])
    assert result.exit_code == 2
    assert "no model has an `account:` section" in result.stderr and len(result.stderr.strip().splitlines()) == 1
    both = CliRunner().invoke(app, ["score", "-m", str(model), "-e", str(events), "--accounts", "--path-to", "MQL"])
    assert both.exit_code == 2 and "--path-to" in both.stderr


def ranked_history():
    """Accounts K1..K6, one lead each (k1..k6) doing i page views: i * 10 points. K4..K6 convert (K4 by its lead's
    conversion, K5 and K6 by account-level conversions), so the account ranking is exact: AUC 1."""
    events = [
        event(10 * i + n, f"k{i}", "page_view", f"K{i}", at=T0 + 10 * i * 60_000 + n)
        for i in range(1, 7)
        for n in range(i)
    ]
    conversions = [
        Conversion("c4", "k4", Outcome.WON, T0 + 5 * DAY),
        Conversion("c5", "K5", Outcome.WON, T0 + 5 * DAY),
        Conversion("c6", "K6", Outcome.WON, T0 + 6 * DAY),
        Conversion("c-none", "nobody", Outcome.WON, T0 + 6 * DAY),
    ]
    return History(events=events, conversions=conversions)


def test_evaluate_accounts_ranks_the_converted_accounts_first():
    raw = {**MODEL, "account": {"from": ["event"], "levels": [{"name": "hot", "enter": 30, "leave": 20}]}}
    model = parse_model(raw, source="test")
    spec = CohortSpec(window_ms=30 * DAY, observe_after_ms=DAY, data_end_ms=T0 + 40 * DAY)
    run = evaluate_accounts([model], ranked_history(), spec)
    assert (run.accounts, run.conversions, run.unmapped_conversions) == (6, 3, 1)
    (evaluation,) = run.models
    assert evaluation.report.roc_auc == 1.0
    (hot,) = evaluation.levels
    assert (hot.level, hot.accounts, hot.converted) == ("hot", 4, 3)  # K3..K6 hold it at their moment
    assert hot.precision == pytest.approx(0.75) and hot.recall == 1.0
    data = account_report_json(run)
    assert data["cohort"]["accounts"] == 6 and data["models"][0]["level_precision"][0]["recall"] == 1.0


def test_evaluate_accounts_on_the_command_line(tmp_path):
    from streams.kafka.codec import event_to_record

    history = ranked_history()
    raw = {**MODEL, "account": {"from": ["event"], "levels": [{"name": "hot", "enter": 30, "leave": 20}]}}
    model = tmp_path / "model.yaml"
    model.write_text(json.dumps(raw))
    events, conversions = tmp_path / "events.jsonl", tmp_path / "conversions.jsonl"
    events.write_text("".join(json.dumps(event_to_record(e)) + "\n" for e in history.events))
    end = Conversion("c-end", "nobody", Outcome.WON, T0 + 40 * DAY)  # the data runs to here
    conversions.write_text(
        "".join(
            json.dumps({"conversion_id": c.conversion_id, "lead_id": c.lead_id, "outcome": "WON", "occurred_at": at})
            + "\n"
            for c in [*history.conversions, end]
            for at in [c.occurred_at_ms]
        )
    )
    out = tmp_path / "report.json"
    result = CliRunner().invoke(
        app,
        [
            *("evaluate", "-m", str(model), "-e", str(events), "-c", str(conversions), "-w", "30d"),
            *("--observe-after", "1d", "--accounts", "--json", str(out)),
        ],
    )
    assert result.exit_code == 0, result.output
    assert "1.000" in result.stdout and "75.0%" in result.stdout
    assert json.loads(out.read_text())["format"] == "leadscore.account-evaluation/1"
