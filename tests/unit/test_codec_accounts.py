"""The account contracts (ADR 043) on the wire: AccountScoreChanged (13), AccountThresholdCrossed (14) and
AccountScore (15), encoded by streams/kafka/account_codec.py and read back by fastavro and the reference library."""

from scoring.accounts.records import (
    AccountCause,
    AccountChange,
    AccountCrossing,
    AccountSnapshot,
    AccountTrendReading,
    MemberCause,
    MemberShare,
)
from scoring.outputs import Contribution, Direction
from streams.kafka.account_codec import encode_account_change, encode_account_crossing, encode_account_scores
from tests.avro_reference import reference_decode
from tests.conftest import T0

ANNA = MemberShare("anna", "decision_maker", 1.5, 6.0, 15.0)


def change(cause: AccountCause = AccountCause.MEMBER) -> AccountChange:
    member = cause is AccountCause.MEMBER
    return AccountChange(
        "change-1",
        "acme",
        "b2b",
        2,
        40.0,
        46.0,
        26.0,
        20.0,
        ("decision_maker",),
        None,
        cause,
        MemberCause.EVENT if member else None,
        "event-9" if member else None,
        T0,
        (ANNA,),
        (Contribution("demo_request", 4.0, 10.0),) if member else (),
    )


def test_account_score_changed_round_trip(codec):
    for cause in AccountCause:
        data = encode_account_change(codec, change(cause))
        name, record = codec.decode(data, expected="AccountScoreChanged")
        assert name == "AccountScoreChanged"
        assert record["account_id"] == "acme" and record["delta"] == 6.0 and record["cause"] == cause.value
        assert record["members"] == [
            {"member_id": "anna", "role": "decision_maker", "weight": 1.5, "points": 6.0, "value_now": 15.0}
        ]
        assert record["member_cause"] == ("EVENT" if cause is AccountCause.MEMBER else None)
        assert reference_decode(data)[1]["change_id"] == "change-1"


def test_account_threshold_crossed_round_trip(codec):
    crossing = AccountCrossing(
        "crossing-1", "acme", "b2b", 2, "sales-ready-account", Direction.DOWN, 60.0, 59.5, ("user",),
        AccountCause.DECAY, None, T0 + 1,
    )  # fmt: skip
    data = encode_account_crossing(codec, crossing)
    _, record = codec.decode(data, expected="AccountThresholdCrossed")
    assert (record["direction"], record["cause"], record["coverage"], record["cause_id"]) == (
        "DOWN",
        "DECAY",
        ["user"],
        None,
    )
    assert reference_decode(data)[1]["level"] == "sales-ready-account"


def test_account_score_round_trip(codec):
    snapshot = AccountSnapshot(
        "acme", "b2b", 2, 85.0, 65.0, 20.0, ("sales-ready-account",), ("decision_maker", "champion"), ("user",), 3,
        (ANNA,), AccountTrendReading(30.0, 10.0, True), (("sales-ready-account", T0 + 86_400_000),),
    )  # fmt: skip
    data = encode_account_scores(codec, "acme", T0, [snapshot])
    _, record = codec.decode(data, expected="AccountScore")
    [model] = record["models"]
    assert model["missing_roles"] == ["user"] and model["member_count"] == 3
    assert model["trend"] == {"recent": 30.0, "baseline": 10.0, "surging": True}
    assert model["top_members"][0]["member_id"] == "anna"
    assert reference_decode(data)[1]["account_id"] == "acme"
    no_trend = AccountSnapshot("acme", "b2b", 2, 0.0, 0.0, 0.0, (), (), ("user",), 0, ())
    assert codec.decode(encode_account_scores(codec, "acme", T0, [no_trend]))[1]["models"][0]["trend"] is None


def test_account_contracts_have_their_own_wire_ids(codec):
    ids = {name: codec.registry.by_name(name).schema_id for name in ("AccountScoreChanged", "AccountThresholdCrossed")}
    assert ids == {"AccountScoreChanged": 13, "AccountThresholdCrossed": 14}
    assert codec.registry.by_name("AccountScore").schema_id == 15
