"""Calibration: does a score say how likely a lead is to convert?

Scores are points, not probabilities, so a probability comes from a logistic (Platt) mapping
``p = 1 / (1 + exp(-(intercept + slope * score)))``. When the model file carries one (``calibration``, which
``leadscore fit`` learns on its training slice), that line is used and checked on the evaluated leads: an honest,
out-of-sample figure when they came later. Otherwise it is fitted on the evaluated leads themselves (in-sample, so
the figures are optimistic for new leads) by exact Newton steps on the two parameters. As in Platt (1999) the targets
are ``(N+ + 1) / (N+ + 2)`` for converted leads and ``1 / (N- + 2)`` for the others, which keeps the fit finite even
when the scores separate the classes perfectly. Leads are then bucketed by predicted probability (ranks, ties kept
together, bucket 1 = highest) and each bucket's mean prediction is set against its observed conversion rate. The
Brier score is the mean squared difference between prediction and outcome (0 is perfect; predicting the base rate
for everyone scores ``base * (1 - base)``, given as the reference).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

from scoring.evaluation.ranking import rank_buckets

METHOD = "Platt scaling (logistic score -> probability) fitted on the evaluated leads (in-sample)"
FROM_MODEL = "the model file's calibration line, learnt on {learnt_on}, checked on the evaluated leads"
BUCKETS = 10


@dataclass(frozen=True, slots=True)
class CalibrationBucket:
    bucket: int  # 1 = highest predicted probability
    n: int
    mean_predicted: float
    observed_rate: float


@dataclass(frozen=True, slots=True)
class Calibration:
    method: str
    intercept: float
    slope: float  # per score point
    brier_score: float
    brier_reference: float  # Brier score of predicting the base rate for every lead
    buckets: tuple[CalibrationBucket, ...]

    def probability(self, score: float) -> float:
        return _sigmoid(self.intercept + self.slope * score)


def fit_platt(scores: Sequence[float], labels: Sequence[bool]) -> tuple[float, float]:
    """``(intercept, slope)`` of the Platt mapping (see module doc). Needs at least one lead."""
    n = len(scores)
    positives = sum(1 for label in labels if label)
    high, low = (positives + 1) / (positives + 2), 1 / (n - positives + 2)
    targets = [high if label else low for label in labels]
    mean = sum(scores) / n
    spread = math.sqrt(sum((s - mean) ** 2 for s in scores) / n)
    if spread == 0:
        rate = sum(targets) / n
        return math.log(rate / (1 - rate)), 0.0
    z = [(s - mean) / spread for s in scores]  # standardised: Newton steps stay well conditioned
    a = b = 0.0
    loss = _loss(a, b, z, targets)
    for _ in range(100):
        g0 = g1 = h00 = h01 = h11 = 0.0
        for zi, ti in zip(z, targets, strict=True):
            p = _sigmoid(a + b * zi)
            w = p * (1 - p)
            g0 += p - ti
            g1 += (p - ti) * zi
            h00 += w
            h01 += w * zi
            h11 += w * zi * zi
        det = h00 * h11 - h01 * h01
        if det <= 0:
            break
        step_a = (h11 * g0 - h01 * g1) / det
        step_b = (h00 * g1 - h01 * g0) / det
        factor = 1.0
        while factor > 1e-10:  # halve the step until the loss does not grow
            new_a, new_b = a - factor * step_a, b - factor * step_b
            new_loss = _loss(new_a, new_b, z, targets)
            if new_loss <= loss:
                break
            factor /= 2
        else:
            break
        a, b, loss = new_a, new_b, new_loss
        if max(abs(step_a), abs(step_b)) * factor < 1e-12:
            break
    return a - b * mean / spread, b / spread


def calibrate(
    scores: Sequence[float], labels: Sequence[bool], line: tuple[float, float, str] | None = None
) -> Calibration:
    """Compare predictions with what happened: of ``line`` (intercept, slope, the leads it was learnt on) when
    given, else of the Platt mapping fitted on these leads (see module doc)."""
    if line is None:
        intercept, slope = fit_platt(scores, labels)
        method = METHOD
    else:
        intercept, slope = line[0], line[1]
        method = FROM_MODEL.format(learnt_on=line[2] or "the leads it was fitted on")
    predicted = [_sigmoid(intercept + slope * s) for s in scores]
    n = len(scores)
    outcomes = [1.0 if label else 0.0 for label in labels]
    base = sum(outcomes) / n
    assigned = rank_buckets(predicted, BUCKETS)
    buckets = []
    for bucket in range(1, BUCKETS + 1):
        members = [i for i, b in enumerate(assigned) if b == bucket]
        if members:
            buckets.append(
                CalibrationBucket(
                    bucket,
                    len(members),
                    sum(predicted[i] for i in members) / len(members),
                    sum(outcomes[i] for i in members) / len(members),
                )
            )
    return Calibration(
        method,
        intercept,
        slope,
        sum((p - y) ** 2 for p, y in zip(predicted, outcomes, strict=True)) / n,
        base * (1 - base),
        tuple(buckets),
    )


def _sigmoid(x: float) -> float:
    if x >= 0:
        return 1 / (1 + math.exp(-x))
    e = math.exp(x)
    return e / (1 + e)


def _softplus(x: float) -> float:  # log(1 + e^x), without overflow
    return max(x, 0.0) + math.log1p(math.exp(-abs(x)))


def _loss(a: float, b: float, z: Sequence[float], targets: Sequence[float]) -> float:
    """Cross-entropy of the soft targets: -sum(t log p + (1 - t) log(1 - p))."""
    total = 0.0
    for zi, ti in zip(z, targets, strict=True):
        x = a + b * zi
        total += ti * _softplus(-x) + (1 - ti) * _softplus(x)
    return total
