"""Where to put the MQL line: the trade-off between leads passed to sales and conversions captured.

A lead *passes* a threshold when its score is at or above it. Candidate thresholds are the distinct scores of the
evaluated leads, highest first. For each: the share of leads passed, the share of conversions captured (the true
positive rate), the false positive rate, and the conversion rate above and below the line.

The suggested threshold maximises Youden's J = captured share - false positive rate (ties: the highest such
threshold, which passes the fewest leads); or, given a target capture share such as 0.8, it is the highest
threshold that still captures at least that share of the conversions.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

YOUDEN = "youden"
TARGET_CAPTURE = "target_capture"


@dataclass(frozen=True, slots=True)
class RocPoint:
    threshold: float | None  # None: the start of the curve (no lead passes)
    false_positive_rate: float
    true_positive_rate: float


@dataclass(frozen=True, slots=True)
class ThresholdRow:
    threshold: float
    passed: int  # leads at or above the threshold
    captured: int  # conversions at or above the threshold
    share_passed: float
    share_captured: float  # = true positive rate
    false_positive_rate: float
    rate_above: float  # conversion rate of the leads passed
    rate_below: float | None  # conversion rate of the others; None when every lead passes

    @property
    def youden_j(self) -> float:
        return self.share_captured - self.false_positive_rate


@dataclass(frozen=True, slots=True)
class ThresholdSuggestion:
    method: str  # YOUDEN or TARGET_CAPTURE
    target_capture: float | None
    threshold: float
    share_passed: float
    share_captured: float
    youden_j: float
    rate_above: float
    rate_below: float | None


def trade_off(scores: Sequence[float], labels: Sequence[bool]) -> list[ThresholdRow]:
    """One row per distinct score, highest threshold first. Needs at least one lead."""
    n = len(scores)
    positives = sum(1 for label in labels if label)
    negatives = n - positives
    order = sorted(range(n), key=lambda i: -scores[i])
    rows: list[ThresholdRow] = []
    passed = captured = 0
    i = 0
    while i < n:
        threshold = scores[order[i]]
        while i < n and scores[order[i]] == threshold:
            passed += 1
            captured += 1 if labels[order[i]] else 0
            i += 1
        rest = n - passed
        rows.append(
            ThresholdRow(
                threshold=threshold,
                passed=passed,
                captured=captured,
                share_passed=passed / n,
                share_captured=captured / positives if positives else 0.0,
                false_positive_rate=(passed - captured) / negatives if negatives else 0.0,
                rate_above=captured / passed,
                rate_below=(positives - captured) / rest if rest else None,
            )
        )
    return rows


def roc_curve(rows: Sequence[ThresholdRow]) -> list[RocPoint]:
    """The ROC curve from (0, 0) to (1, 1) of :func:`trade_off` rows, one point per distinct score (highest first)."""
    start = RocPoint(None, 0.0, 0.0)
    return [start] + [RocPoint(row.threshold, row.false_positive_rate, row.share_captured) for row in rows]


def suggest_threshold(rows: Sequence[ThresholdRow], target_capture: float | None = None) -> ThresholdSuggestion:
    """The suggested MQL threshold from :func:`trade_off` rows (see module doc)."""
    if not rows:
        raise ValueError("no thresholds to choose from")
    if target_capture is None:
        best = rows[0]
        for row in rows[1:]:
            if row.youden_j > best.youden_j + 1e-12:
                best = row
        method = YOUDEN
    else:
        if not 0 < target_capture <= 1:
            raise ValueError(f"target capture {target_capture} is not a share in (0, 1]")
        best = next((row for row in rows if row.share_captured >= target_capture - 1e-12), rows[-1])
        method = TARGET_CAPTURE
    return ThresholdSuggestion(
        method,
        target_capture,
        best.threshold,
        best.share_passed,
        best.share_captured,
        best.youden_j,
        best.rate_above,
        best.rate_below,
    )
