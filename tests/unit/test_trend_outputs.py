"""The trend where people read scores (ADR 037): the LeadScore record, the query API's JSON, `leadscore score`."""

from __future__ import annotations

from scoring import Engine, LeadEvent, LeadState, parse_model
from streams.analysis.offline import result_rows, score_history
from streams.worker.api import lead_view
from tests.avro_reference import reference_decode
from tests.conftest import DAY, T0

RULES = [{"id": "big", "event": "form_fill", "points": 10}]
TRENDED = parse_model({"id": "t", "version": 1, "change_note": "t", "rules": RULES, "trend": {"min_points": 12}})
PLAIN = parse_model({"id": "p", "version": 1, "change_note": "p", "rules": RULES})
ENGINE = Engine([TRENDED, PLAIN])


def surging_lead() -> LeadState:
    state = None
    for n in range(2):
        state = ENGINE.apply_event(state, LeadEvent(f"e{n}", "lead", "form_fill", T0 + n, "test")).state
    assert state is not None
    return state


def test_lead_score_carries_the_trend_and_null_without_one(codec) -> None:
    snapshots = ENGINE.snapshot(surging_lead(), T0 + DAY)
    name, record = reference_decode(codec.encode_scores("lead", T0 + DAY, snapshots))
    assert name == "LeadScore"
    trended, plain = record["models"]
    assert trended["trend"] == {"recent": 20.0, "baseline": 0.0, "surging": True}
    assert plain["trend"] is None


def test_the_query_api_shows_the_trend() -> None:
    trended, plain = lead_view(ENGINE, surging_lead(), T0 + DAY)["models"]
    assert trended["trend"] == {"recent": 20.0, "baseline": 0.0, "surging": True}
    assert plain["trend"] is None


def test_score_rows_show_the_trend_only_for_a_model_with_one() -> None:
    events = [LeadEvent(f"e{n}", "lead", "form_fill", T0 + n * DAY, "test") for n in range(3)]
    trended, plain = result_rows(ENGINE, score_history(ENGINE, events), at_ms=T0 + 7 * DAY)
    assert trended["trend"] == {"recent": 20.0, "baseline": 2.5, "surging": True}  # day 0 left the 7-day window
    assert "trend" not in plain
