from hypothesis import given
from hypothesis import strategies as st

from scoring.model.diff import Change, diff_points

points = st.dictionaries(st.sampled_from(["a", "b", "c", "d", "e"]), st.integers(-50, 50).map(float))


def test_added_removed_and_revalued_rules_and_levels_are_listed():
    changes = diff_points(
        {"demo": 40, "blog": 5, "open": 1}, {"demo": 30, "open": 1, "pricing": 10}, {"MQL": 60}, {"MQL": 55}
    )
    assert changes == [
        Change("rule", "blog", 5, None),
        Change("rule", "demo", 40, 30),
        Change("rule", "pricing", None, 10),
        Change("level", "MQL", 60, 55),
    ]
    assert [c.describe() for c in changes] == [
        "- rule blog: was 5",
        "~ rule demo: 40 -> 30",
        "+ rule pricing: 10",
        "~ level MQL: 60 -> 55",
    ]


@given(before=points, after=points)
def test_applying_the_diff_to_the_old_points_gives_the_new_ones(before, after):
    rebuilt = dict(before)
    for change in diff_points(before, after):
        if change.after is None:
            del rebuilt[change.name]
        else:
            rebuilt[change.name] = change.after
    assert rebuilt == after
    assert diff_points(after, after) == []
