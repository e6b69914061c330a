"""The feature bench (bench/features.py) measures what it says: each variant is the b2b model plus that feature and
nothing else, the routing variant makes route requests that the routing agent's work decides, and the report
prints every variant."""

from __future__ import annotations

from bench import features
from bench.report import features_lines


def test_each_variant_is_b2b_plus_its_feature_only() -> None:
    base = features.model({})
    assert base.filters is None and base.trend is None and base.routing == () and base.account is None
    assert features.model({"account": features.b2b_account_section()}).account is not None
    filtered, trended, routed = (features.model(features.VARIANTS[name]) for name in ("filters", "trend", "routing"))
    assert filtered.filters is not None and filtered.trend is None and filtered.routing == ()
    assert trended.trend is not None and trended.filters is None and trended.routing == ()
    assert routed.routing != () and routed.filters is None and routed.trend is None
    assert [r.id for r in filtered.rules] == [r.id for r in base.rules] == [r.id for r in routed.rules]


def test_a_small_run_gives_every_figure_and_the_report_lists_them() -> None:
    figures = features.run(1500, 150, rounds=1)
    assert figures["route_requests"] > 0  # leads entered MQL: the routing agent had work
    rows = figures["variants"]
    assert set(rows) == {
        "b2b",
        "filters",
        "trend",
        "routing",
        "routing+agent",
        "no-drops",
        "no-moves",
        "drops",
        "moves",
        "accounts",
    }
    assert rows["b2b"]["cpu_ratio"] == 1.0 and rows["b2b"]["cost_us_per_event"] == 0.0
    assert all(row["cpu_ratio"] > 0 for row in rows.values())
    assert figures["path_us_per_query"] > 0
    text = "\n".join(features_lines(figures))
    assert all(f"| {name} |" in text for name in rows)
    accounts = figures["accounts"]
    assert accounts["member_updates"] > 0  # the engaged buyers and researchers carry account ids
    assert set(accounts["passes"]) == {"lead", "lead+members", "lead+members+accounts"}
    assert all(row["cpu_us_per_event"] > 0 for row in accounts["passes"].values())
    assert "| lead+members+accounts |" in text and "account side" in text
