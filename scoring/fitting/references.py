"""What a readable points model gives up, if anything: two reference classifiers on exactly the same features.

- ``regression``: a plain logistic regression as a data scientist would run it first: scikit-learn's defaults
  (L2, C=1) on standardised features, converged (not converging is a :class:`FitError`, never a figure);
- ``boosting``: scikit-learn's ``HistGradientBoostingClassifier`` (defaults, fixed seed, no early stopping so
  that no random validation split is drawn), which finds interactions and non-linear effects a sum of points
  cannot express. It runs on one thread: its OpenMP workers busy-wait, which on a machine whose cores are shared
  made a fit of a few thousand leads ten times slower than one thread.

Both learn on the leads the points model learns on and are judged on the same later leads, by ROC AUC and Brier
score (their probabilities as they come: neither is recalibrated).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Protocol

import numpy as np
from numpy.typing import NDArray
from sklearn.ensemble import HistGradientBoostingClassifier
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import brier_score_loss
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler
from threadpoolctl import threadpool_limits

from scoring.evaluation.quality import roc_auc
from scoring.fitting.regression import converged

REFERENCES = ("regression", "boosting")
SEED = 0


class Classifier(Protocol):
    """A fitted scikit-learn classifier (scikit-learn ships no types): what the references call."""

    def fit(self, x: NDArray[np.float64], y: NDArray[np.int_]) -> object: ...
    def predict_proba(self, x: NDArray[np.float64]) -> NDArray[np.float64]: ...


@dataclass(frozen=True)
class Judged:
    """ROC AUC and Brier score of one scorer on one slice (None: the slice lacks one of the classes)."""

    auc: float | None
    brier: float | None


def fit_references(x: NDArray[np.float64], y: NDArray[np.int_]) -> dict[str, Classifier]:
    """The reference classifiers (module docstring), fitted on ``x``, ``y``."""
    regression: Classifier = make_pipeline(StandardScaler(), LogisticRegression())
    boosting: Classifier = HistGradientBoostingClassifier(random_state=SEED, early_stopping=False)
    converged(lambda: regression.fit(x, y), "the reference logistic regression")
    with threadpool_limits(limits=1, user_api="openmp"):  # its OpenMP threads spin: on a shared machine 10x slower
        boosting.fit(x, y)  # (fit_history limits every pool already; this keeps the references safe on their own)
    return {"regression": regression, "boosting": boosting}


def auc_of(scores: Sequence[float], labels: Sequence[bool]) -> float | None:
    """ROC AUC of any scores (points or probabilities); None when the leads lack one of the classes."""
    try:
        return roc_auc(scores, labels)
    except ValueError:
        return None


def judge(probabilities: Sequence[float], labels: Sequence[bool]) -> Judged:
    """AUC and Brier score of predicted probabilities against what happened."""
    if not labels:
        return Judged(None, None)
    brier = float(brier_score_loss([int(label) for label in labels], list(probabilities)))
    return Judged(auc_of(probabilities, labels), brier)


def judge_references(
    references: dict[str, Classifier], x: NDArray[np.float64], labels: Sequence[bool]
) -> dict[str, Judged]:
    """Each reference judged on the leads of ``x`` (in the order of ``labels``)."""
    if x.shape[0] == 0:
        return {name: Judged(None, None) for name in references}
    return {
        name: judge([float(p) for p in classifier.predict_proba(x)[:, 1]], labels)
        for name, classifier in references.items()
    }
