"""How well scores rank leads that later converted: ROC AUC and what follows from it. Pure and exact.

:func:`evaluate` turns one model's scores of a cohort (and each lead's level) into an :class:`EvaluationReport`:
ROC AUC and curve, conversion rate and lift per score decile and per level, calibration (a Platt mapping fitted on
the same leads: see :mod:`scoring.evaluation.calibration`), the threshold trade-off and a suggested MQL threshold (see
:mod:`scoring.evaluation.thresholds`). A lead *passes* a threshold when its score is at or above it.

Deciles are by rank, ties kept together: leads are ranked by score, highest first; every group of equal scores goes
whole into the decile of its middle rank. Deciles therefore partition the leads and never split a score, but are
not always of equal size, and some may be empty (with many ties); decile 1 holds the highest scores.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeVar

from scoring.errors import LeadscoreError
from scoring.evaluation.calibration import Calibration, calibrate
from scoring.evaluation.ranking import average_ranks, rank_buckets
from scoring.evaluation.thresholds import (
    RocPoint,
    ThresholdRow,
    ThresholdSuggestion,
    roc_curve,
    suggest_threshold,
    trade_off,
)

T = TypeVar("T")
DECILES = 10
#: The level of a lead in none of a model's levels.
NO_LEVEL = "none"
#: Curves in a report keep at most about this many points (evenly spread; AUC and suggestion use all of them).
CURVE_POINTS = 200


class EvaluationError(LeadscoreError):
    """The leads cannot be evaluated: usually no conversions (or only conversions) among them.

    Widen the time slice (``--first-seen-from/--first-seen-until``), check ``--outcome`` and ``--window``, or check
    that the conversions' lead ids match the events' lead ids.
    """


@dataclass(frozen=True, slots=True)
class DecileRow:
    decile: int  # 1 = highest scores
    n: int
    conversions: int
    conversion_rate: float | None  # None when the decile is empty
    lift: float | None  # conversion rate / base rate
    cumulative_capture: float  # share of all conversions in this decile and the ones above it
    min_score: float | None
    max_score: float | None


@dataclass(frozen=True, slots=True)
class LevelRow:
    level: str
    n: int
    conversions: int
    conversion_rate: float
    lift: float


@dataclass(frozen=True, slots=True)
class EvaluationReport:
    leads: int
    conversions: int
    base_rate: float
    roc_auc: float
    roc_curve: tuple[RocPoint, ...]
    deciles: tuple[DecileRow, ...]
    levels: tuple[LevelRow, ...]
    calibration: Calibration
    thresholds: tuple[ThresholdRow, ...]
    suggestion: ThresholdSuggestion


def roc_auc(scores: Sequence[float], labels: Sequence[bool]) -> float:
    """The probability that a random converted lead scores above a random other one (ties count half): the area
    under the ROC curve, by the Mann-Whitney rank statistic. Raises ValueError unless both classes are present."""
    if len(scores) != len(labels):
        raise ValueError("scores and labels differ in length")
    positives = sum(1 for label in labels if label)
    negatives = len(labels) - positives
    if positives == 0 or negatives == 0:
        raise ValueError("ROC AUC needs at least one converted and one other lead")
    rank_sum = sum(rank for rank, label in zip(average_ranks(scores), labels, strict=True) if label)
    return (rank_sum - positives * (positives + 1) / 2) / (positives * negatives)


def deciles(scores: Sequence[float], labels: Sequence[bool]) -> tuple[DecileRow, ...]:
    """Conversion rate, lift and cumulative share of conversions captured per score decile (see module doc)."""
    _check(scores, labels)
    total = sum(labels)
    base = total / len(labels)
    assigned = rank_buckets(scores, DECILES)
    rows = []
    captured = 0
    for decile in range(1, DECILES + 1):
        members = [i for i, d in enumerate(assigned) if d == decile]
        hits = sum(1 for i in members if labels[i])
        captured += hits
        rate = hits / len(members) if members else None
        rows.append(
            DecileRow(
                decile,
                len(members),
                hits,
                rate,
                rate / base if rate is not None and base > 0 else None,
                captured / total if total else 0.0,
                min((scores[i] for i in members), default=None),
                max((scores[i] for i in members), default=None),
            )
        )
    return tuple(rows)


def by_level(labels: Sequence[bool], levels: Sequence[str], order: Sequence[str] = ()) -> tuple[LevelRow, ...]:
    """Conversion rate and lift per level (each lead's highest level at its moment), in ``order`` (then by name);
    levels in ``order`` that no lead has are left out."""
    if len(levels) != len(labels):
        raise ValueError("labels and levels differ in length")
    base = sum(labels) / len(labels) if labels else 0.0
    counts: dict[str, list[int]] = {}
    for label, level in zip(labels, levels, strict=True):
        row = counts.setdefault(level, [0, 0])
        row[0] += 1
        row[1] += 1 if label else 0
    ranked = [level for level in order if level in counts] + sorted(set(counts) - set(order))
    return tuple(
        LevelRow(
            level,
            counts[level][0],
            counts[level][1],
            counts[level][1] / counts[level][0],
            (counts[level][1] / counts[level][0]) / base if base > 0 else 0.0,
        )
        for level in ranked
    )


def evaluate(
    scores: Sequence[float],
    labels: Sequence[bool],
    levels: Sequence[str] | None = None,
    level_order: Sequence[str] = (),
    target_capture: float | None = None,
    calibration_line: tuple[float, float, str] | None = None,
) -> EvaluationReport:
    """The whole report for one model. ``levels``: each lead's highest level (or :data:`NO_LEVEL`); ``level_order``
    orders the level rows. ``target_capture`` (0..1): suggest the highest threshold that captures at least that
    share of conversions instead of the one maximising Youden's J. Raises :class:`EvaluationError` when the leads
    are not all of one class. ``calibration_line``: the model's own (intercept, slope, learnt on), checked here
    instead of fitting one on these leads."""
    _check(scores, labels)
    n = len(labels)
    positives = sum(1 for label in labels if label)
    if positives == 0 or positives == n:
        what = "no conversions" if positives == 0 else "only conversions"
        raise EvaluationError(f"the cohort of {n} leads has {what}: nothing to tell converting leads apart from")
    rows = trade_off(scores, labels)
    return EvaluationReport(
        leads=n,
        conversions=positives,
        base_rate=positives / n,
        roc_auc=roc_auc(scores, labels),
        roc_curve=thin(roc_curve(rows), CURVE_POINTS),
        deciles=deciles(scores, labels),
        levels=by_level(labels, levels if levels is not None else [NO_LEVEL] * n, level_order),
        calibration=calibrate(scores, labels, calibration_line),
        thresholds=thin(rows, CURVE_POINTS),
        suggestion=suggest_threshold(rows, target_capture),
    )


def thin(points: Sequence[T], limit: int) -> tuple[T, ...]:
    """At most about ``limit`` + 1 of ``points``, evenly spread, first and last always kept."""
    if len(points) <= limit + 1:
        return tuple(points)
    step = (len(points) - 1) / limit
    picked = sorted({round(k * step) for k in range(limit + 1)})
    return tuple(points[i] for i in picked)


def _check(scores: Sequence[float], labels: Sequence[bool]) -> None:
    if len(scores) != len(labels):
        raise ValueError("scores and labels differ in length")
    if not scores:
        raise EvaluationError("no leads to evaluate: the cohort is empty (see the excluded counts)")
