"""The lead page (ADR 040): the moves kept beside a lead's state, the view model, its SVG chart and its HTML."""

from __future__ import annotations

import re

import msgspec
import pytest

from scoring import Engine, LeadState, parse_model
from scoring.levels import transition_time
from scoring.modelstate import scores_at
from scoring.trail import HISTORY_MOVES, extend_moves
from streams.kafka.partitioner import lead_partition
from streams.worker.metrics import Metrics
from streams.worker.processor import Message, Processor
from streams.worker.stored import FORMAT_2, StoredLead, decode_stored, encode_stored
from streams.worker.ui.html import render_error, render_page
from streams.worker.ui.page import DAY_MS, PathView, build_page
from streams.worker.ui.svg import BOTTOM, HEIGHT, LEFT, RIGHT, TOP, WIDTH, Scale, chart, date_ticks, scale_for
from tests.conftest import T0, make_event

HOUR = 3_600_000


def scored(engine: Engine, lead_id: str, events: list[tuple[str, int]]) -> StoredLead:
    """The stored lead after ``events`` ((type, ms after T0)), moves kept as the worker keeps them."""
    state: LeadState | None = None
    moves = None
    for n, (type_, after_ms) in enumerate(events):
        update = engine.score_event(state, make_event(lead_id, type_, T0 + after_ms, event_id=f"{lead_id}-{n}"))
        state, moves = update.state, extend_moves(moves, update)
    assert state is not None
    return StoredLead(0, None, state, None, moves)


@pytest.mark.parametrize("kept", [0, 3])
def test_the_worker_keeps_as_many_moves_as_page_moves_says(b2b_model, codec, kept):
    processor = Processor(Engine([b2b_model]), codec, Metrics(), 4, "rerouted", moves_kept=kept)
    states: dict[str, StoredLead] = {}
    for n in range(6):
        event = make_event("l", "email_click", T0 + n * DAY_MS, event_id=f"l-{n}")
        result = processor.process_event(
            Message("lead-events", lead_partition("l", 4), n, b"l", codec.encode_event(event)), states.get
        )
        assert result.state is not None
        states["l"] = result.state
    moves = states["l"].moves
    assert (len(moves) if moves is not None else 0) == kept
    assert moves is None or moves[-1].at_ms == T0 + 5 * DAY_MS  # the newest


def test_a_move_keeps_the_score_around_the_change_and_the_rule_that_made_it(b2b_model):
    events = [("page_view", 0), ("demo_request", DAY_MS), ("webinar_attended", DAY_MS), ("page_view", DAY_MS + HOUR)]
    state = None
    moves = None
    for n, (type_, after_ms) in enumerate(events):
        event = make_event(
            "l", type_, T0 + after_ms, event_id=f"e{n}", path="/pricing" if n == 3 else "/"
        )  # 1 and 10 points
        update = Engine([b2b_model]).score_event(state, event)
        state, moves = update.state, extend_moves(moves, update)
    first, second, _, crossing, third = moves or []
    assert (first.kind, first.previous, first.score, first.rule_id, first.points) == ("E", 0.0, 1.0, "page-view", 1.0)
    assert second.previous == pytest.approx(2 ** (-1 / 30), abs=0.005)  # decayed for a day, in hundredths
    assert (second.rule_id, second.points, second.engagement, second.fit) == ("demo-request", 40.0, second.score, 0)
    assert (crossing.kind, crossing.level, crossing.at_ms) == ("U", "MQL", third.at_ms)  # before its change
    assert crossing.score == third.score and third.score >= 60
    assert (third.rule_id, third.points) == ("pricing-page", 10.0)  # the rule that moved it most


def test_the_moves_keep_the_newest_per_model_and_old_stored_records_still_read(b2b_model):
    lead = scored(Engine([b2b_model]), "l", [("email_click", n * DAY_MS) for n in range(HISTORY_MOVES + 10)])
    moves = lead.moves or []
    assert len(moves) == HISTORY_MOVES and moves[-1].at_ms == T0 + (HISTORY_MOVES + 9) * DAY_MS
    assert decode_stored(encode_stored(lead)).moves == moves
    before = FORMAT_2 + msgspec.msgpack.encode([3, None, lead.state, [T0, "b2b", 1.0, ""]])  # written without moves
    old = decode_stored(before)
    assert (old.partition, old.trail, old.moves) == (3, [T0, "b2b", 1.0, ""], None)


def test_the_page_draws_the_past_exactly_at_each_change_and_the_future_decayed(b2b_model):
    engine = Engine([b2b_model])
    lead = scored(engine, "l", [("demo_request", 0), ("webinar_attended", HOUR), ("webinar_signup", 2 * DAY_MS)])
    now = T0 + 3 * DAY_MS
    [view] = build_page(engine, lead, now).models
    model_state = lead.state.models["b2b"]
    assert view.score_line[-1].at_ms == now
    assert view.score_line[-1].value == pytest.approx(scores_at(b2b_model, model_state, now).combined)
    assert [(p.at_ms - T0) // HOUR for p in view.score_line[:2]] == [0, 0]  # before and after the first change
    assert view.projection[0].value == pytest.approx(view.score)
    assert all(a.value >= b.value for a, b in zip(view.projection, view.projection[1:], strict=False))
    assert view.levels_held == ("MQL",)
    [drop] = view.drops
    mql = b2b_model.levels[0]
    assert drop.at_ms == transition_time(b2b_model, model_state, mql, now) and drop.at_ms is not None
    assert scores_at(b2b_model, model_state, drop.at_ms).combined < mql.leave
    assert scores_at(b2b_model, model_state, drop.at_ms - 1).combined >= mql.leave
    assert drop.at_ms in {p.at_ms for p in view.projection}  # the dashed line meets the drop marker
    assert [m.rule_id for m in view.top_moves][:2] == ["demo-request", "webinar-attended"]
    assert view.moves[0].event_type == "webinar_signup"  # newest first
    assert [c.level for c in view.crossings] == ["MQL"] and view.crossings[0].at_ms == T0 + 2 * DAY_MS
    assert view.path is not None and (view.path.level, view.path.steps) == (
        "SQL",
        ("1 x demo_request (demo-request, +40)",),
    )
    assert view.path.points_needed == pytest.approx(100 - view.score)


def test_the_chart_has_a_line_per_series_the_level_lines_and_the_markers(b2b_model):
    engine = Engine([b2b_model])
    lead = scored(engine, "l", [("demo_request", 0), ("webinar_attended", HOUR), ("webinar_signup", 2 * HOUR)])
    [view] = build_page(engine, lead, T0 + DAY_MS).models
    svg = chart(view)
    for series in ("score", "engagement", "fit"):
        assert svg.count(f'class="series {series}"') == 1
    assert svg.count('class="projection"') == 1 and 'stroke-dasharray="7 5"' in svg
    assert re.findall(r'class="level" data-level="(\w+)"', svg) == ["MQL", "SQL"]
    assert svg.count('class="crossing up"') == 1 and svg.count('class="move"') == 3
    assert svg.count('class="drop"') == 1
    assert "<title>demo_request, demo-request +40.00: 0.00 to 40.00 (+40.00)" in svg


def test_scales_and_date_ticks(b2b_model):
    scale = Scale(T0, T0 + 10 * DAY_MS, -20.0, 180.0)
    assert (scale.x(T0), scale.x(T0 + 10 * DAY_MS)) == (LEFT, WIDTH - RIGHT)
    assert (scale.y(180.0), scale.y(-20.0)) == (TOP, HEIGHT - BOTTOM)
    ticks = date_ticks(T0, T0 + 10 * DAY_MS)
    assert 2 <= len(ticks) <= 9 and all(at % (2 * DAY_MS) == 0 for at, _ in ticks)
    assert ticks[0][1] == "2026-01-07"  # the first even day since the epoch
    assert date_ticks(T0, T0 + 12 * HOUR)[0][1] == "01-05 12:00"
    engine = Engine([b2b_model])
    [view] = build_page(engine, scored(engine, "l", [("demo_request", 0)]), T0).models
    fitted = scale_for(view)
    assert fitted.low == 0.0 and fitted.high == pytest.approx(100 * 1.1)  # the SQL line (100) is in view
    assert fitted.end_ms >= max(p.at_ms for p in view.projection)


def test_a_lead_without_kept_moves_draws_its_present_and_future_only(b2b_model):
    engine = Engine([b2b_model])
    state = engine.score_event(None, make_event("l", "demo_request", T0)).state
    page = build_page(engine, StoredLead(0, None, state), T0 + DAY_MS)  # moves None: stored before 0.4
    [view] = page.models
    assert len(view.score_line) == 1 and view.moves == () and view.crossings == ()
    html = render_page(page)
    assert "none kept" in html and 'class="series score"' in html
    assert view.path is not None and view.path.level == "MQL"  # the next level, from scoring.path (ADR 038)
    assert "points to MQL</p><ol><li>" in html


def test_a_model_without_levels_shows_no_level_lines_and_holds_none():
    model = parse_model(
        {"id": "plain", "version": 1, "change_note": "x", "rules": [{"id": "r", "event": "page_view", "points": 5}]}
    )
    engine = Engine([model])
    lead = scored(engine, "l", [("page_view", 0)])
    page = build_page(engine, lead, T0 + HOUR)
    html = render_page(page)
    assert 'class="level"' not in html and "holds no level" in html and page.models[0].drops == ()


def test_everything_from_data_is_escaped(simple_model):
    engine = Engine([simple_model])
    lead_id = '<script>alert("x")</script>&'
    page = build_page(engine, scored(engine, lead_id, [("demo_request", 0), ("demo_request", HOUR)]), T0 + HOUR)
    path = PathView("<b>SQL</b>", 40.0, ("2 x <img src=x> demo_request",))
    page = type(page)(page.lead_id, page.now_ms, (type(page.models[0])(**{**_fields(page.models[0]), "path": path}),))
    html = render_page(page)
    assert "<script>" not in html and "<img" not in html and "<b>SQL" not in html
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt;&amp;" in html
    assert "40.00 points to &lt;b&gt;SQL&lt;/b&gt;" in html and "2 x &lt;img src=x&gt; demo_request" in html
    assert "&lt;em&gt;" in render_error("<em>", "<em>") and "<em>" not in render_error("<em>", "<em>")


def _fields(view: object) -> dict[str, object]:
    return {name: getattr(view, name) for name in view.__slots__}  # type: ignore[attr-defined]


def test_moves_are_trimmed_per_model_a_chatty_model_does_not_evict_another(b2b_model) -> None:
    chatty = parse_model(
        {"id": "chatty", "version": 1, "change_note": "x", "rules": [{"id": "pv", "event": "page_view", "points": 1}]}
    )
    rare = parse_model(
        {
            "id": "rare",
            "version": 1,
            "change_note": "x",
            "rules": [{"id": "w", "event": "webinar_attended", "points": 5}],
        }
    )
    engine = Engine([chatty, rare])
    state, moves = None, None
    events = [("webinar_attended", 0)] + [("page_view", n + 1) for n in range(19)]
    for n, (type_, after_ms) in enumerate(events):
        update = engine.score_event(state, make_event("l", type_, T0 + after_ms, event_id=f"l-{n}"))
        state, moves = update.state, extend_moves(moves, update, per_model=5)
    kept = [m.model_id for m in moves or []]
    assert kept.count("rare") == 1 and kept.count("chatty") == 5
