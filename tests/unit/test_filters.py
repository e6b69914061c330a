"""Bot and scanner filters (ADR 036): each filter, its validation errors, and the engine's promises about ignored
events (they never change a score, re-delivery changes nothing, what a late send or a burst disqualifies is taken
back, and a cap takes in the event it had turned away)."""

import json
from pathlib import Path

import msgspec
import pytest
from typer.testing import CliRunner

from scoring import Direction, Engine, LeadEvent, LeadState, ModelError, load_model, parse_model
from scoring.filterlog import FilterLog
from scoring.filters import send_time_ms
from streams.cli.main import app
from streams.kafka.partitioner import lead_partition
from streams.worker.metrics import Metrics
from streams.worker.processor import Message, Processor
from tests.conftest import DAY, T0

SECOND = 1000


def model(filters, rules=None, **overrides):
    data = {
        "id": "m",
        "version": 1,
        "change_note": "test",
        "engagement": {"floor": None},
        "rules": rules
        or [
            {"id": "click", "event": "email_click", "points": 3},
            {"id": "view", "event": "page_view", "points": 1},
            {"id": "sent", "event": "email_sent", "points": 0.5},
        ],
        "filters": filters,
        **overrides,
    }
    return parse_model(data, "m.yaml")


SCANNER = {"scanner_clicks": {"within": "30s", "send_event": "email_sent", "match": "email_id"}}


def event(event_id, event_type, at_ms, **properties):
    return LeadEvent(event_id, "lead", event_type, T0 + at_ms, "test", properties)


def run(engine, events, state=None):
    updates = []
    for item in events:
        update = engine.apply_event(state, item)
        state = update.state
        updates.append(update)
    return state, updates


def score(engine, state, at_ms=10 * DAY):
    return engine.snapshot(state, T0 + at_ms)[0].score


def ignored_ids(updates):
    return {(ignored.event_id, ignored.reason) for update in updates for ignored in update.ignored}


# ---- the model file ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("filters", "expected"),
    [
        ({"bursts": {"max_events": 0, "per": "1s"}}, "m.yaml: filters.bursts.max_events: must be at least 1"),
        ({"bursts": {"max_events": 5, "per": "soon"}}, "m.yaml: filters.bursts.per: expected a duration"),
        ({"bursts": {"max_events": 5}}, "m.yaml: filters.bursts.per: required field is missing"),
        ({"scanner_clicks": {"within": "30s"}}, "m.yaml: filters.scanner_clicks: say where the send is known"),
        (
            {"scanner_clicks": {"within": "30s", "send_property": "sent_at", "match": "email_id"}},
            "m.yaml: filters.scanner_clicks: match ties a click to its send event: it needs send_event",
        ),
        (
            {"scanner_clicks": {"within": "30s", "send_event": "email_click"}},
            "filters.scanner_clicks: send_event must not be one of the click events",
        ),
        ({"scanner_clicks": {"within": "30s", "send_event": "email_sent", "events": []}}, "events: must not be empty"),
        ({"user_agents": {"property": "ua"}}, "m.yaml: filters.user_agents: give either match"),
        ({"user_agents": {"match": ["bot"], "in_list": "bots"}}, "filters.user_agents: give either match"),
        ({"user_agents": {"in_list": "bots"}}, "filters.user_agents.in_list: no list named 'bots' in the file's lists"),
        ({"bots": {"max_events": 5}}, "m.yaml: filters.bots: unknown field (check the spelling)"),
        ({}, "m.yaml: filters: name at least one filter"),
    ],
)
def test_invalid_filters_are_refused_naming_file_and_field(filters, expected):
    with pytest.raises(ModelError) as error:
        model(filters)
    assert expected in str(error.value)


def test_a_model_file_with_filters_loads_and_names_its_send_event_as_known(tmp_path: Path):
    path = tmp_path / "bots.yaml"
    path.write_text(
        "id: bots\nversion: 1\nchange_note: filters\nlists: {bots: [HeadlessChrome, Bot]}\n"
        "rules: [{id: click, event: email_click, points: 3}]\n"
        "filters:\n"
        "  scanner_clicks: {events: [email_click], within: 30s, send_event: email_sent, send_property: sent_at,"
        " match: email_id}\n"
        "  bursts: {max_events: 5, per: 1s}\n"
        "  user_agents: {in_list: bots}\n",
        encoding="utf-8",
    )
    loaded = load_model(path)
    assert loaded.filters is not None
    assert loaded.filters.scanner_clicks.within_ms == 30 * SECOND
    assert (loaded.filters.bursts.max_events, loaded.filters.bursts.per_ms) == (5, SECOND)
    assert loaded.filters.user_agents.substrings == ("bot", "headlesschrome")
    assert "email_sent" in Engine([loaded]).known_event_types
    bad = tmp_path / "bad.yaml"
    bad.write_text(path.read_text().replace("within: 30s", "within: 30"), encoding="utf-8")
    with pytest.raises(ModelError, match=r"^bad.yaml: filters.scanner_clicks.within: expected a duration"):
        load_model(bad)


def test_a_model_without_filters_keeps_no_filter_state():
    plain = parse_model(
        {"id": "p", "version": 1, "change_note": "t", "rules": [{"id": "v", "event": "page_view", "points": 1}]}
    )
    state, updates = run(Engine([plain]), [event("a", "page_view", 0)])
    assert plain.filters is None and state.models["p"].filter_log is None
    assert updates[0].ignored == ()


# ---- user agents -----------------------------------------------------------------------------------------------


def test_events_of_bot_user_agents_are_ignored_case_insensitively_and_recorded_as_seen():
    engine = Engine([model({"user_agents": {"match": ["HeadlessChrome", "bot"]}})])
    bot = event("b", "page_view", 0, user_agent="Mozilla/5.0 (X11) headlesschrome/120")
    person = event("p", "page_view", SECOND, user_agent="Mozilla/5.0 (Macintosh) Safari/17")
    state, updates = run(engine, [bot, person])
    assert score(engine, state) == 1
    assert [i.reason for i in updates[0].ignored] == ["user_agent"] and updates[1].ignored == ()
    assert updates[0].changes == ()
    again = engine.apply_event(state, bot)
    assert again.duplicate and score(engine, again.state) == 1


def test_user_agents_from_a_named_list():
    engine = Engine([model({"user_agents": {"property": "ua", "in_list": "bots"}}, lists={"bots": ["Googlebot"]})])
    state, updates = run(engine, [event("a", "page_view", 0, ua="Googlebot/2.1"), event("b", "page_view", 1, ua="x")])
    assert score(engine, state) == 1 and ignored_ids(updates) == {("a", "user_agent")}


# ---- scanner clicks --------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("sent_at", "ignored"),
    [
        (str(T0 + 10 * SECOND), True),  # Unix ms, 20 s before the click
        ("2026-01-05T09:00:10Z", True),  # the same as ISO-8601 (T0 is 2026-01-05T09:00Z)
        ("2026-01-05T09:00:10", True),  # no zone: UTC
        ("2026-01-05T10:00:10+01:00", True),  # another zone
        (str(T0), True),  # exactly 30 s before: still within
        (str(T0 - 20 * SECOND), False),  # 50 s before the click: a person
        (str(T0 + 40 * SECOND), False),  # after the click (clock skew): not a scanner's
        ("yesterday", False),  # not a time: the click counts
    ],
)
def test_clicks_soon_after_the_send_named_by_a_property_are_scanners(sent_at, ignored):
    engine = Engine([model({"scanner_clicks": {"within": "30s", "send_property": "sent_at"}})])
    state, updates = run(engine, [event("c", "email_click", 30 * SECOND, sent_at=sent_at)])
    assert score(engine, state) == (0 if ignored else 3)
    assert ignored_ids(updates) == ({("c", "scanner_click")} if ignored else set())
    assert send_time_ms("2026-01-05T09:00:00Z") == T0 and send_time_ms(None) is None


def test_a_click_soon_after_its_own_send_event_is_ignored_and_another_emails_is_not():
    engine = Engine([model(SCANNER)])
    sent = event("s", "email_sent", 0, email_id="e1")
    state, updates = run(
        engine,
        [
            sent,
            event("c1", "email_click", 12 * SECOND, email_id="e1"),  # the scanner
            event("c2", "email_click", 13 * SECOND, email_id="e2"),  # another email's click: a person's
            event("c3", "email_click", 31 * SECOND, email_id="e1"),  # 31 s after the send: a person's
        ],
    )
    assert score(engine, state) == 0.5 + 3 + 3
    assert ignored_ids(updates) == {("c1", "scanner_click")}


def test_without_match_any_send_of_the_lead_disqualifies_the_click():
    engine = Engine([model({"scanner_clicks": {"within": "30s", "send_event": "email_sent"}})])
    state, updates = run(
        engine, [event("s", "email_sent", 0, email_id="e1"), event("c", "email_click", SECOND, email_id="e2")]
    )
    assert score(engine, state) == 0.5 and ignored_ids(updates) == {("c", "scanner_click")}


def test_a_send_arriving_after_its_click_takes_the_click_back():
    engine = Engine([model(SCANNER, levels=[{"name": "warm", "enter": 3}])])
    click = event("c", "email_click", 5 * SECOND, email_id="e1")
    sent = event("s", "email_sent", 0, email_id="e1")
    state, updates = run(engine, [click, sent])
    late = updates[1]
    [change] = late.changes
    assert {c.rule_id: c.points for c in change.contributions} == {"click": -3, "sent": 0.5}
    assert (change.previous_score, change.score) == (3, 0.5)
    [crossing] = late.crossings
    assert (crossing.level, crossing.direction, crossing.cause_event_id) == ("warm", Direction.DOWN, "s")
    assert [(i.event_id, i.reason) for i in late.ignored] == [("c", "scanner_click")]
    in_order, _ = run(engine, [sent, click])
    assert score(engine, state) == score(engine, in_order) == 0.5
    assert state.models["m"].levels == in_order.models["m"].levels == []
    assert engine.apply_event(state, click).duplicate


def test_an_ignored_send_still_disqualifies_its_clicks():
    engine = Engine([model({**SCANNER, "user_agents": {"match": ["bot"]}})])
    state, updates = run(
        engine,
        [
            event("c", "email_click", SECOND, email_id="e1"),
            event("s", "email_sent", 0, email_id="e1", user_agent="bot"),
        ],
    )
    assert score(engine, state) == 0
    assert ignored_ids(updates) == {("c", "scanner_click"), ("s", "user_agent")}


# ---- bursts ----------------------------------------------------------------------------------------------------


def test_the_event_that_makes_a_burst_takes_back_the_whole_period():
    engine = Engine([model({"bursts": {"max_events": 3, "per": "1s"}}, levels=[{"name": "warm", "enter": 3}])])
    period = [event(f"v{n}", "page_view", 100 * n) for n in range(3)]  # three in one second: a person may
    state, updates = run(engine, [*period, event("other", "page_view", 5 * SECOND)])
    assert score(engine, state) == 4 and "warm" in state.models["m"].levels and ignored_ids(updates) == set()
    fourth = engine.apply_event(state, event("v3", "page_view", 900))
    [change] = fourth.changes
    assert {c.rule_id: c.points for c in change.contributions} == {"view": -3}
    assert change.score == 1 and [c.direction for c in fourth.crossings] == [Direction.DOWN]
    assert {(i.event_id, i.reason) for i in fourth.ignored} == {(f"v{n}", "burst") for n in range(4)}
    fifth = engine.apply_event(fourth.state, event("v4", "page_view", 950))
    assert fifth.changes == () and [(i.event_id, i.reason) for i in fifth.ignored] == [("v4", "burst")]
    assert score(engine, fifth.state) == 1
    # aligned periods: three before and three after a second's boundary are no burst
    split = [event(f"s{n}", "page_view", 2 * SECOND - 300 + 100 * n) for n in range(6)]
    state, updates = run(engine, split)
    assert score(engine, state) == 6 and ignored_ids(updates) == set()


def test_events_ignored_for_another_reason_still_count_toward_a_burst():
    engine = Engine([model({"bursts": {"max_events": 2, "per": "1s"}, "user_agents": {"match": ["bot"]}})])
    state, updates = run(
        engine,
        [event("a", "page_view", 0), event("b", "page_view", 1, user_agent="bot"), event("c", "page_view", 2)],
    )
    assert score(engine, state) == 0
    assert ignored_ids(updates) == {("a", "burst"), ("b", "user_agent"), ("c", "burst")}


# ---- ignored events never change a score -----------------------------------------------------------------------


def test_the_score_is_that_of_the_events_that_are_not_ignored():
    rules = [
        {"id": "click", "event": "email_click", "points": 3, "half_life": "1d", "cap": {"points": 6, "per": "1d"}},
        {"id": "view", "event": "page_view", "points": 1, "window": "2d"},
        {"id": "open", "event": "email_open", "points": 2, "once_per": "1d"},
    ]
    filters = {**SCANNER, "bursts": {"max_events": 2, "per": "1m"}, "user_agents": {"match": ["bot"]}}
    events = [
        event("s", "email_sent", 0, email_id="e1"),
        event("c1", "email_click", 10 * SECOND, email_id="e1"),  # scanner
        event("c2", "email_click", 3_600_000, email_id="e1"),
        event("c3", "email_click", 7_200_000, email_id="e2"),
        event("c4", "email_click", 9_000_000, email_id="e2"),  # over the cap
        event("o1", "email_open", 4_000_000, user_agent="Bot"),  # bot
        event("o2", "email_open", 5_000_000),
        *(event(f"b{n}", "page_view", DAY + n) for n in range(3)),  # burst
        event("v", "page_view", DAY + 10 * 60_000),
    ]
    filtered = Engine([model(filters, rules)])
    plain = Engine([model(None, rules)])
    kept = [e for e in events if e.event_id not in {"c1", "o1", "b0", "b1", "b2"}]
    for order in (events, list(reversed(events)), events[3:] + events[:3]):
        state, updates = run(filtered, order)
        expected, _ = run(plain, kept)
        for at in (DAY, 2 * DAY, 3 * DAY + 1):
            assert score(filtered, state, at) == pytest.approx(score(plain, expected, at), rel=1e-12, abs=1e-12)
        assert {i for i, _ in ignored_ids(updates)} == {"c1", "o1", "b0", "b1", "b2"}


# ---- caps take in what they had turned away ----------------------------------------------------------------------


def test_a_cap_takes_in_the_click_it_had_turned_away_when_a_counted_one_is_taken_back():
    rules = [{"id": "click", "event": "email_click", "points": 3, "cap": {"points": 6, "per": "1d"}}]
    engine = Engine([model(SCANNER, rules)])
    clicks = [event(f"c{n}", "email_click", (n + 1) * 60 * SECOND, email_id=f"e{n}") for n in range(3)]
    state, _ = run(engine, clicks)
    assert score(engine, state) == 6  # the third is over the cap
    late = engine.apply_event(state, event("s", "email_sent", 50 * SECOND, email_id="e0"))
    assert late.changes == () and [(i.event_id, i.reason) for i in late.ignored] == [("c0", "scanner_click")]
    bucket = late.state.models["m"].rules["click"].buckets[(T0 + 60 * SECOND) // DAY]
    assert bucket == [T0 + 120 * SECOND, T0 + 180 * SECOND]  # c1 and c2 count now
    assert score(engine, late.state) == 6


def test_once_per_takes_in_the_next_event_of_its_bucket_with_decay():
    rules = [{"id": "click", "event": "email_click", "points": 4, "half_life": "1h", "once_per": "1d"}]
    engine = Engine([model(SCANNER, rules)])
    first = event("c0", "email_click", 10 * SECOND, email_id="e0")
    second = event("c1", "email_click", 3_600_000, email_id="e1")
    state, _ = run(engine, [first, second])
    assert score(engine, state, 3_600_000) == pytest.approx(4 * 2 ** (-(3_600_000 - 10 * SECOND) / 3_600_000))
    late = engine.apply_event(state, event("s", "email_sent", 0, email_id="e0"))
    [change] = late.changes
    [contribution] = change.contributions
    assert contribution.points == pytest.approx(4 - 4 * 2 ** (-(3_600_000 - 10 * SECOND) / 3_600_000))
    assert score(engine, late.state, 3_600_000) == pytest.approx(4)


def test_a_window_rule_gives_back_the_points_of_a_click_taken_back():
    rules = [{"id": "click", "event": "email_click", "points": 3, "window": "1h"}]
    engine = Engine([model(SCANNER, rules)])
    state, _ = run(
        engine,
        [event("c0", "email_click", 5 * SECOND, email_id="e0"), event("c1", "email_click", 5 * SECOND, email_id="e1")],
    )
    late = engine.apply_event(state, event("s", "email_sent", 0, email_id="e0"))
    assert late.state.models["m"].rules["click"].times == [T0 + 5 * SECOND]
    assert score(engine, late.state, 60 * SECOND) == 3


# ---- state -----------------------------------------------------------------------------------------------------


def test_the_filter_log_is_kept_within_the_lateness_and_survives_state_format_2():
    engine = Engine([model({**SCANNER, "bursts": {"max_events": 5, "per": "1s"}}, lateness="1d")])
    events = [event(f"c{n}", "email_click", n * 3_600_000, email_id="e") for n in range(30)]
    events += [event(f"s{n}", "email_sent", n * 3_600_000 + 1, email_id="e") for n in range(30)]
    state, _ = run(engine, sorted(events, key=lambda e: e.occurred_at_ms))
    log = state.models["m"].filter_log
    assert log is not None
    oldest = state.models["m"].anchor_ms - DAY
    assert min(e.at_ms for e in log.events) >= oldest and len(log.events) <= 2 * 25
    assert min(s.at_ms for s in log.sends) >= oldest - 30 * SECOND
    assert min(p.index for p in log.periods) >= oldest // SECOND
    decoded = msgspec.msgpack.decode(msgspec.msgpack.encode(state), type=LeadState)
    assert decoded.models["m"].filter_log == log and isinstance(decoded.models["m"].filter_log, FilterLog)
    copy = state.copy()
    copy.models["m"].filter_log.periods[0].events += 1
    assert copy.models["m"].filter_log != log


# ---- reported: the worker's counter and `leadscore score` ----------------------------------------------------------


def test_the_worker_counts_ignored_events_by_model_and_reason(codec):
    engine = Engine([model({**SCANNER, "user_agents": {"match": ["bot"]}})])
    processor = Processor(engine, codec, Metrics(), 4, "rerouted")
    stored = None
    events = [
        event("c", "email_click", SECOND, email_id="e1"),
        event("v", "page_view", 2 * SECOND, user_agent="SomeBot"),
        event("s", "email_sent", 0, email_id="e1"),  # takes the click back
    ]
    for offset, item in enumerate(events):
        value = codec.encode_event(item)
        partition = lead_partition("lead", 4)
        result = processor.process_event(
            Message("lead-events", partition, offset, b"lead", value), {"lead": stored}.get
        )
        assert result.dead_letter is None
        stored = result.state
    text = processor.metrics.exposition().decode()
    assert 'leadscore_ignored_events_total{model="m",reason="scanner_click"} 1.0' in text
    assert 'leadscore_ignored_events_total{model="m",reason="user_agent"} 1.0' in text
    assert stored.state.models["m"].score == 0.5


def test_leadscore_score_lists_ignored_events_per_lead_for_models_with_filters(tmp_path: Path):
    path = tmp_path / "events.jsonl"
    rows = [
        {"event_id": "s", "lead_id": "a", "type": "email_sent", "occurred_at": T0, "properties": {"email_id": "1"}},
        {
            "event_id": "c",
            "lead_id": "a",
            "type": "email_click",
            "occurred_at": T0 + 5,
            "properties": {"email_id": "1"},
        },
        {"event_id": "v", "lead_id": "b", "type": "page_view", "occurred_at": T0, "properties": {"user_agent": "bot"}},
        {"event_id": "w", "lead_id": "b", "type": "page_view", "occurred_at": T0 + 1},
    ]
    path.write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    filtered = tmp_path / "filtered.yaml"
    plain = tmp_path / "plain.yaml"
    rules = "rules: [{id: click, event: email_click, points: 3}, {id: view, event: page_view, points: 1}]\n"
    filtered.write_text(
        "id: filtered\nversion: 1\nchange_note: t\n" + rules + "filters:\n"
        "  scanner_clicks: {within: 30s, send_event: email_sent, match: email_id}\n"
        "  user_agents: {match: [bot]}\n",
        encoding="utf-8",
    )
    plain.write_text("id: plain\nversion: 1\nchange_note: t\n" + rules, encoding="utf-8")
    result = CliRunner().invoke(app, ["score", "-m", str(filtered), "-m", str(plain), "-e", str(path)])
    assert result.exit_code == 0, result.output
    printed = {(row["lead_id"], row["model_id"]): row for row in map(json.loads, result.stdout.splitlines())}
    assert printed["a", "filtered"]["ignored"] == {"scanner_click": 1} and printed["a", "filtered"]["score"] == 0
    assert printed["b", "filtered"]["ignored"] == {"user_agent": 1} and printed["b", "filtered"]["score"] == 1
    assert "ignored" not in printed["a", "plain"] and printed["a", "plain"]["score"] == 3


def test_a_reload_that_drops_the_filters_drops_their_log():
    filtered = model({"bursts": {"max_events": 5, "per": "1s"}})
    state, _ = run(Engine([filtered]), [event("a", "page_view", 0)])
    assert state.models["m"].filter_log is not None
    state, _ = run(Engine([model(None)]), [event("b", "page_view", 1)], state)
    assert state.models["m"].filter_log is None and score(Engine([model(None)]), state) == 2


def test_a_digit_string_too_long_for_a_time_is_no_send_time_and_bursts_need_a_period() -> None:
    import pytest

    from scoring.errors import ModelError
    from scoring.filters import send_time_ms
    from scoring.model.compile import parse_model

    assert send_time_ms("1" * 5000) is None and send_time_ms("1767603600000") == 1_767_603_600_000
    raw = {"id": "m", "version": 1, "change_note": "x", "rules": [{"id": "r", "event": "page_view", "points": 1}]}
    with pytest.raises(ModelError, match="per period"):
        parse_model({**raw, "filters": {"bursts": {"max_events": 3, "per": "never"}}})
