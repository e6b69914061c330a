"""Comparing two views of the same leads' scores: live vs rescored, or live vs shadow. Pure arithmetic on plain
mappings ``lead id -> ScorePoint`` of one model each; the shell reads the views from topics or files.

A lead missing from one view is in no level there (the live worker writes no score for a lead it never scored),
so level changes and would-be crossings cover the leads of either view; score deltas and rank correlation cover
only the leads present in both.
"""

from __future__ import annotations

import math
from collections import Counter
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from scoring.evaluation.ranking import average_ranks

#: The level name used for "in no level" in agreement matrices.
NO_LEVEL = "none"


@dataclass(frozen=True, slots=True)
class ScorePoint:
    """One model's score of one lead and the levels it is in, lowest first (as ``LeadScore.models`` has them)."""

    score: float
    levels: tuple[str, ...] = ()

    @property
    def highest(self) -> str:
        return self.levels[-1] if self.levels else NO_LEVEL


@dataclass(frozen=True, slots=True)
class LevelChange:
    """Levels a lead enters and leaves when going from the ``before`` view to the ``after`` view."""

    lead_id: str
    entered: tuple[str, ...]
    left: tuple[str, ...]


@dataclass(frozen=True, slots=True)
class DeltaStats:
    """Distribution of ``after - before`` over the leads in both views. ``None`` when there are none."""

    count: int
    mean: float | None
    mean_abs: float | None
    p50_abs: float | None
    p90_abs: float | None
    max_abs: float | None


@dataclass(frozen=True, slots=True)
class Mover:
    lead_id: str
    before: float
    after: float

    @property
    def delta(self) -> float:
        return self.after - self.before


@dataclass(frozen=True)
class Comparison:
    """Everything the rescore and shadow reports say about one model."""

    compared: int  # leads in both views
    before_only: int
    after_only: int
    changed_leads: int  # leads whose set of levels differs (either view)
    entering: dict[str, int] = field(default_factory=dict)  # level -> leads entering it
    leaving: dict[str, int] = field(default_factory=dict)  # level -> leads leaving it
    deltas: DeltaStats = field(default_factory=lambda: DeltaStats(0, None, None, None, None, None))
    top_movers: tuple[Mover, ...] = ()

    def to_dict(self) -> dict[str, Any]:
        return {
            "leads_compared": self.compared,
            "leads_before_only": self.before_only,
            "leads_after_only": self.after_only,
            "leads_changing_levels": self.changed_leads,
            "entering": dict(sorted(self.entering.items())),
            "leaving": dict(sorted(self.leaving.items())),
            "delta": {
                "count": self.deltas.count,
                "mean": self.deltas.mean,
                "mean_abs": self.deltas.mean_abs,
                "p50_abs": self.deltas.p50_abs,
                "p90_abs": self.deltas.p90_abs,
                "max_abs": self.deltas.max_abs,
            },
            "top_movers": [
                {"lead_id": m.lead_id, "before": m.before, "after": m.after, "delta": m.delta} for m in self.top_movers
            ],
        }


def level_changes(
    before: Mapping[str, ScorePoint], after: Mapping[str, ScorePoint], leads: Iterable[str] | None = None
) -> list[LevelChange]:
    """Leads (sorted) whose levels differ between the views, over ``leads`` (default: every lead of either view);
    a lead missing from a view is in no level there. Entered levels keep the ``after`` order, left the ``before``."""
    universe = sorted(set(before) | set(after) if leads is None else set(leads))
    changes = []
    for lead_id in universe:
        old = before.get(lead_id, _NOWHERE).levels
        new = after.get(lead_id, _NOWHERE).levels
        entered = tuple(level for level in new if level not in old)
        left = tuple(level for level in old if level not in new)
        if entered or left:
            changes.append(LevelChange(lead_id, entered, left))
    return changes


_NOWHERE = ScorePoint(0.0, ())


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (0..100) with linear interpolation between closest ranks (numpy's default)."""
    if not values:
        raise ValueError("percentile of no values")
    if not 0 <= q <= 100:
        raise ValueError("q must be within 0..100")
    ordered = sorted(values)
    position = (len(ordered) - 1) * q / 100
    low = math.floor(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def delta_stats(deltas: Sequence[float]) -> DeltaStats:
    if not deltas:
        return DeltaStats(0, None, None, None, None, None)
    absolute = [abs(delta) for delta in deltas]
    return DeltaStats(
        count=len(deltas),
        mean=math.fsum(deltas) / len(deltas),
        mean_abs=math.fsum(absolute) / len(absolute),
        p50_abs=percentile(absolute, 50),
        p90_abs=percentile(absolute, 90),
        max_abs=max(absolute),
    )


def compare(
    before: Mapping[str, ScorePoint],
    after: Mapping[str, ScorePoint],
    top: int = 10,
    level_leads: Iterable[str] | None = None,
) -> Comparison:
    """Compare two views of one model. ``level_leads`` restricts the level changes to those leads (rescoring
    counts only leads it rescored: a lead with a live score but no history left was not rescored)."""
    both = sorted(set(before) & set(after))
    changes = level_changes(before, after, level_leads)
    movers = sorted(
        (Mover(lead, before[lead].score, after[lead].score) for lead in both),
        key=lambda mover: (-abs(mover.delta), mover.lead_id),
    )
    return Comparison(
        compared=len(both),
        before_only=len(set(before) - set(after)),
        after_only=len(set(after) - set(before)),
        changed_leads=len(changes),
        entering=dict(Counter(level for change in changes for level in change.entered)),
        leaving=dict(Counter(level for change in changes for level in change.left)),
        deltas=delta_stats([mover.delta for mover in movers]),
        top_movers=tuple(mover for mover in movers[:top] if mover.delta != 0),
    )


def agreement_matrix(before: Mapping[str, ScorePoint], after: Mapping[str, ScorePoint]) -> dict[tuple[str, str], int]:
    """Leads per (highest level before, highest level after) over every lead of either view ("none": no level)."""
    return dict(
        Counter(
            (before.get(lead, _NOWHERE).highest, after.get(lead, _NOWHERE).highest) for lead in set(before) | set(after)
        )
    )


def spearman(xs: Sequence[float], ys: Sequence[float]) -> float | None:
    """Spearman's rank correlation (Pearson's on average ranks); None for fewer than 2 leads or a constant side."""
    if len(xs) != len(ys):
        raise ValueError("xs and ys differ in length")
    if len(xs) < 2:
        return None
    rx, ry = average_ranks(xs), average_ranks(ys)
    mean = (len(xs) + 1) / 2  # the mean of average ranks is always (n + 1) / 2
    cov = math.fsum((a - mean) * (b - mean) for a, b in zip(rx, ry, strict=True))
    var_x = math.fsum((a - mean) ** 2 for a in rx)
    var_y = math.fsum((b - mean) ** 2 for b in ry)
    if var_x == 0 or var_y == 0:
        return None
    return max(-1.0, min(1.0, cov / math.sqrt(var_x * var_y)))
