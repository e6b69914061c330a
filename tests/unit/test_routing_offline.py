"""``leadscore score`` routes too (ADR 039): the same assignment, in event-time order, in each row's ``routes``."""

from scoring import Engine, LeadProfile
from streams.analysis.offline import result_rows, score_history
from tests.conftest import T0, make_event
from tests.unit.test_routing import model


def test_offline_rows_carry_each_leads_routing_in_event_time_order() -> None:
    routing = [{"id": "all", "level": "MQL", "owners": [{"id": "anna"}, {"id": "ben"}], "on_exit": "release"}]
    engine = Engine([model(routing)])
    events = [  # given out of order: routed in event-time order, so lead-2 (earlier) gets anna
        make_event("lead-1", "demo_request", T0 + 2000),
        make_event("lead-2", "demo_request", T0 + 1000),
        make_event("lead-2", "unsubscribe", T0 + 3000),
    ]
    profiles = [LeadProfile("lead-3", T0, industry="banking")]  # fit only: never reaches MQL, never routed
    rows = {row["lead_id"]: row for row in result_rows(engine, score_history(engine, events, profiles))}
    assert rows["lead-1"]["routes"] == [
        {"at": T0 + 2000, "level": "MQL", "action": "ASSIGNED", "route_id": "all", "owner_id": "ben"}
    ]
    assert [(r["action"], r["owner_id"]) for r in rows["lead-2"]["routes"]] == [
        ("ASSIGNED", "anna"),
        ("RELEASED", "anna"),
    ]
    assert rows["lead-3"]["routes"] == []
