"""LeadRouted (ADR 039) on the wire: the codec's encoding, read back by fastavro and by the reference library."""

from scoring.routing import Action, Decision, RouteRequest
from tests.avro_reference import reference_decode
from tests.conftest import T0


def decision(action: Action, owner_id: str | None) -> Decision:
    request = RouteRequest("crossing-1", "lead-1", "b2b", 3, "MQL", action is Action.ASSIGNED, T0, {"score": 61.0})
    return Decision(f"routing-{action}", request, action, "emea", owner_id, "matched")


def test_lead_routed_round_trip(codec):
    for action, owner in [(Action.ASSIGNED, "anna"), (Action.RELEASED, "anna"), (Action.ASSIGNED, None)]:
        data = codec.encode_routed(decision(action, owner))
        name, record = codec.decode(data, expected="LeadRouted")
        assert name == "LeadRouted"
        assert {k: v for k, v in record.items() if k != "occurred_at"} == {
            "routing_id": f"routing-{action}",
            "lead_id": "lead-1",
            "model_id": "b2b",
            "model_version": 3,
            "level": "MQL",
            "route_id": "emea",
            "owner_id": owner,
            "action": action.value,
            "reason": "matched",
            "crossing_id": "crossing-1",
        }
        assert reference_decode(data)[1]["routing_id"] == f"routing-{action}"


def test_lead_routed_has_its_own_wire_id(codec):
    assert codec.registry.by_name("LeadRouted").schema_id == 12
