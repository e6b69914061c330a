"""The pure comparison arithmetic of rescoring and shadow reports."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st
from scipy.stats import spearmanr

from scoring.evaluation.comparison import (
    NO_LEVEL,
    ScorePoint,
    agreement_matrix,
    compare,
    delta_stats,
    level_changes,
    percentile,
    spearman,
)

scores = st.floats(min_value=-1000, max_value=1000, allow_nan=False)
LEVELS = ("MQL", "SQL")
levels = st.sampled_from([(), ("MQL",), ("MQL", "SQL")])
views = st.dictionaries(st.sampled_from([f"l{i}" for i in range(12)]), st.builds(ScorePoint, scores, levels))


def test_level_changes_name_entered_and_left_levels_and_treat_missing_leads_as_in_no_level():
    before = {"a": ScorePoint(70, ("MQL",)), "b": ScorePoint(120, ("MQL", "SQL")), "c": ScorePoint(5)}
    after = {
        "a": ScorePoint(110, ("MQL", "SQL")),
        "b": ScorePoint(20),
        "c": ScorePoint(6),
        "d": ScorePoint(65, ("MQL",)),
    }
    changes = {change.lead_id: (change.entered, change.left) for change in level_changes(before, after)}
    assert changes == {"a": (("SQL",), ()), "b": ((), ("MQL", "SQL")), "d": (("MQL",), ())}
    only_b = level_changes(before, after, leads=["b", "c"])
    assert [change.lead_id for change in only_b] == ["b"]


def test_compare_counts_leads_levels_and_movers():
    before = {"a": ScorePoint(70, ("MQL",)), "b": ScorePoint(120, ("MQL", "SQL")), "gone": ScorePoint(80, ("MQL",))}
    after = {"a": ScorePoint(110, ("MQL", "SQL")), "b": ScorePoint(20), "new": ScorePoint(65, ("MQL",))}
    result = compare(before, after, top=1, level_leads=["a", "b", "new"])
    assert (result.compared, result.before_only, result.after_only) == (2, 1, 1)
    assert result.changed_leads == 3  # "gone" was not rescored: no change counted for it
    assert result.entering == {"SQL": 1, "MQL": 1} and result.leaving == {"MQL": 1, "SQL": 1}
    assert [(m.lead_id, m.delta) for m in result.top_movers] == [("b", -100.0)]
    assert (result.deltas.mean, result.deltas.mean_abs, result.deltas.max_abs) == (-30.0, 70.0, 100.0)
    assert result.to_dict()["leads_changing_levels"] == 3


def test_no_leads_in_both_gives_empty_stats():
    result = compare({"a": ScorePoint(1)}, {"b": ScorePoint(2)})
    assert result.compared == 0 and result.deltas.count == 0 and result.deltas.p50_abs is None
    assert result.top_movers == ()


@given(st.lists(scores, min_size=1, max_size=50), st.floats(min_value=0, max_value=100))
def test_percentile_matches_numpy(values, q):
    assert percentile(values, q) == pytest.approx(float(np.percentile(values, q)), abs=1e-9)


@given(st.lists(scores, max_size=40))
def test_delta_stats_are_ordered_and_bounded(deltas):
    stats = delta_stats(deltas)
    assert stats.count == len(deltas)
    if deltas:
        assert 0 <= stats.p50_abs <= stats.p90_abs <= stats.max_abs == max(abs(d) for d in deltas)
        assert stats.mean_abs <= stats.max_abs + 1e-9


@given(st.lists(st.tuples(st.integers(-5, 5), st.integers(-5, 5)), min_size=2, max_size=40))
def test_spearman_matches_scipy_with_ties(pairs):
    xs, ys = [float(x) for x, _ in pairs], [float(y) for _, y in pairs]
    ours = spearman(xs, ys)
    if len(set(xs)) == 1 or len(set(ys)) == 1:
        assert ours is None
    else:
        assert ours == pytest.approx(float(spearmanr(xs, ys).statistic), abs=1e-9)


def test_spearman_of_a_monotone_transform_is_one_and_of_its_reverse_minus_one():
    xs = [3.0, 1.0, 4.0, 1.5, 9.0]
    assert spearman(xs, [x**3 for x in xs]) == pytest.approx(1.0)
    assert spearman(xs, [-x for x in xs]) == pytest.approx(-1.0)
    assert spearman([1.0], [2.0]) is None


@given(views, views)
def test_agreement_matrix_counts_every_lead_of_either_view_once(before, after):
    matrix = agreement_matrix(before, after)
    assert sum(matrix.values()) == len(set(before) | set(after))
    for (live, shadow), _ in matrix.items():
        assert live in (*LEVELS, NO_LEVEL) and shadow in (*LEVELS, NO_LEVEL)
    diagonal = sum(n for (live, shadow), n in matrix.items() if live == shadow)
    changed_highest = len(set(before) | set(after)) - diagonal
    assert changed_highest <= len(level_changes(before, after))


@given(views, views)
def test_entering_and_leaving_are_the_set_differences_of_levels(before, after):
    result = compare(before, after)
    for level in LEVELS:
        enter = sum(
            1
            for lead in set(before) | set(after)
            if level in after.get(lead, ScorePoint(0)).levels and level not in before.get(lead, ScorePoint(0)).levels
        )
        assert result.entering.get(level, 0) == enter
    swapped = compare(after, before)
    assert swapped.entering == result.leaving and swapped.leaving == result.entering
