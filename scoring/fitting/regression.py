"""Learning points from history: features with decay, L2-regularised logistic regression, integer points.

Each candidate rule is valued, worth 1 point, by the real engine at each lead's moment (a decayed count of the
events it counts, or 0/1 for a fit rule): that value times the rule's points is exactly what the rule adds to the
score in the written model, which has no floors or ceilings. A logistic regression on these values gives a
coefficient per rule (fitted on standardised values, so that lbfgs converges, with its L2 strength chosen by
cross-validation unless given, and mapped back per raw unit); the scorecard rule "points to double the odds" (PDO)
turns it into whole points:
``points = round(coef * PDO / ln 2)``. The score then is the log-odds of converting in PDO/ln 2 units (plus a
constant, the intercept, which the written model keeps in a comment).
"""

from __future__ import annotations

import math
import warnings
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
from numpy.typing import NDArray
from sklearn.exceptions import ConvergenceWarning
from sklearn.linear_model import LogisticRegression, LogisticRegressionCV
from sklearn.model_selection import StratifiedKFold
from sklearn.preprocessing import StandardScaler

from scoring.engine import Engine
from scoring.errors import LeadscoreError
from scoring.evaluation.cohort import Cohort
from scoring.evaluation.cohort import Replay as LeadReplay
from scoring.evaluation.thresholds import suggest_threshold, trade_off
from scoring.model.compile import ScoringModel
from scoring.modelstate import contributions_at
from scoring.outputs import ModelSnapshot
from scoring.state import LeadState

Progress = Callable[[int], None]  # called with the number of leads just replayed
OUTSIDE_SEGMENT = "outside the base model's segment"
MAX_ITERATIONS = 5000
#: The inverse L2 strengths ``fit`` chooses among by cross-validation when ``--c`` is not given, and the folds.
C_GRID = tuple(float(c) for c in np.logspace(-2, 2, 9))
FOLDS = 5


class FitError(LeadscoreError):
    """``leadscore fit`` cannot learn from this history (no conversions in the slice, no usable rule, ...).
    Widen the time slice (``--first-seen-from/--first-seen-until``), check the conversions file, or lower
    ``--min-support``."""


class Replay(LeadReplay):
    """The history replayed under one model at a time (features, base, fitted)."""

    def model_states(
        self, model: ScoringModel, moments: Mapping[str, int], progress: Progress | None = None
    ) -> dict[str, LeadState]:
        return self.states(Engine([model]), moments, progress)

    def snapshots(
        self, model: ScoringModel, moments: Mapping[str, int], progress: Progress | None = None
    ) -> dict[str, ModelSnapshot]:
        """Each lead's view under ``model`` at its moment (score, and whether the model applies). Levels do not
        change scores and are left out of the replay: with decaying rules of both signs, finding when a lead would
        cross a level takes the engine a search on every event."""
        model = replace(model, levels=())
        states = self.model_states(model, moments, progress)
        engine = Engine([model])
        return {
            lead: engine.snapshot(states.get(lead) or LeadState(lead), at_ms, top=0, drops=False)[0]
            for lead, at_ms in moments.items()
        }

    def scores(
        self, model: ScoringModel, moments: Mapping[str, int], progress: Progress | None = None
    ) -> dict[str, float]:
        """Each lead's combined score under ``model`` at its moment, as the engine reports it."""
        return {lead: snapshot.score for lead, snapshot in self.snapshots(model, moments, progress).items()}

    def base_view(
        self, base: ScoringModel, cohort: Cohort, progress: Progress | None = None
    ) -> tuple[Cohort, dict[str, float]]:
        """One replay under the base model: ``cohort`` without the leads outside its segment at their moment
        (counted as left out: a model with a segment is learnt and judged on the leads it scores), and the base
        scores of the leads kept."""
        snapshots = self.snapshots(base, cohort.moments(), progress)
        kept = [o for o in cohort.observations if snapshots[o.lead_id].applies]
        excluded = dict(cohort.excluded)
        if len(kept) < len(cohort.observations):
            excluded[OUTSIDE_SEGMENT] = len(cohort.observations) - len(kept)
        scores = {o.lead_id: snapshots[o.lead_id].score for o in kept}
        return Cohort(kept, excluded, cohort.data_end_ms), scores


def feature_matrix(
    replay: Replay, features: ScoringModel, moments: Mapping[str, int], progress: Progress | None = None
) -> dict[str, list[float]]:
    """Per lead, every rule's value (in ``features.rules`` order) at the lead's moment."""
    states = replay.model_states(features, moments, progress)
    rows: dict[str, list[float]] = {}
    for lead, at_ms in moments.items():
        state = states.get(lead)
        model_state = state.models.get(features.id) if state is not None else None
        values = contributions_at(features, model_state, at_ms) if model_state is not None else {}
        rows[lead] = [values.get(rule.id, 0.0) for rule in features.rules]
    return rows


def matrix(rows: Mapping[str, list[float]], cohort: Cohort) -> tuple[NDArray[np.float64], NDArray[np.int_]]:
    """Features and labels in the cohort's observation order."""
    x = np.array([rows[o.lead_id] for o in cohort.observations], dtype=np.float64).reshape(len(cohort.observations), -1)
    y = np.array([int(o.converted) for o in cohort.observations], dtype=np.int_)
    return x, y


@dataclass(frozen=True)
class Regression:
    """A fitted logistic regression: log-odds = intercept + sum(coefficients * x)."""

    intercept: float
    coefficients: tuple[float, ...]

    def log_odds(self, x: NDArray[np.float64]) -> list[float]:
        return [float(v) for v in x @ np.array(self.coefficients, dtype=np.float64) + self.intercept]


def logistic_regression(x: NDArray[np.float64], y: NDArray[np.int_], c: float = 1.0) -> Regression:
    """L2-regularised logistic regression (lbfgs) on standardised features (so that the solver converges and the
    penalty weighs every rule alike, whatever its scale), with the coefficients mapped back to the raw values: per
    unit of a rule's value (one event, or holding the attribute). Not converging is a :class:`FitError`."""
    if len(set(y.tolist())) < 2:
        raise FitError("the learning slice needs converted and not converted leads to learn from")
    scaler = StandardScaler().fit(x)
    model = LogisticRegression(C=c, solver="lbfgs", max_iter=MAX_ITERATIONS)
    converged(lambda: model.fit(scaler.transform(x), y), "the logistic regression")
    scale = np.asarray(scaler.scale_, dtype=np.float64)
    mean = np.asarray(scaler.mean_, dtype=np.float64)
    coefficients = np.asarray(model.coef_[0], dtype=np.float64) / scale
    intercept = float(model.intercept_[0]) - float(coefficients @ mean)
    return Regression(intercept, tuple(float(v) for v in coefficients))


def choose_c(x: NDArray[np.float64], y: NDArray[np.int_]) -> float:
    """The C of :data:`C_GRID` with the best cross-validated log-loss on standardised features (stratified folds,
    fixed seed), so that the regularisation suits the slice: strong for a few leads, weak for many."""
    if len(set(y.tolist())) < 2:
        raise FitError("the learning slice needs converted and not converted leads to learn from")
    folds = StratifiedKFold(n_splits=min(FOLDS, int(min(np.bincount(y)))), shuffle=True, random_state=0)
    if folds.n_splits < 2:
        return 1.0
    search = LogisticRegressionCV(
        Cs=list(C_GRID),
        cv=folds,
        scoring="neg_log_loss",
        max_iter=MAX_ITERATIONS,
        l1_ratios=(0.0,),
        refit=False,
        use_legacy_attributes=False,
    )
    converged(lambda: search.fit(StandardScaler().fit_transform(x), y), "choosing --c by cross-validation")
    return float(search.C_)


def converged(fit: Callable[[], object], what: str) -> None:
    """Run ``fit``; a scikit-learn ``ConvergenceWarning`` becomes a :class:`FitError` (an unconverged model's
    figures would be reported as if they were the model's)."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", ConvergenceWarning)
        try:
            fit()
        except ConvergenceWarning as exc:
            raise FitError(
                f"{what} did not converge ({exc}): give a smaller --l2-c (stronger regularisation), or remove"
                " near-identical rules from the base model"
            ) from None


def points_for(coefficient: float, pdo: float) -> int:
    """Whole points for a coefficient: ``coef * PDO / ln 2`` rounded half away from zero (so the sign is kept
    and bigger effects never get fewer points)."""
    scaled = coefficient * pdo / math.log(2.0)
    return int(math.copysign(math.floor(abs(scaled) + 0.5), scaled))


def informative_columns(x: NDArray[np.float64]) -> list[int]:
    """Columns that vary across leads, without exact repeats (a constant column is the intercept's business, a
    repeated one would split its points arbitrarily); the first of equal columns is kept."""
    kept: list[int] = []
    seen: set[bytes] = set()
    for column in range(x.shape[1]):
        values = x[:, column]
        if values.size == 0 or float(values.max() - values.min()) == 0.0:
            continue
        signature = np.round(values, 12).tobytes()
        if signature not in seen:
            seen.add(signature)
            kept.append(column)
    return kept


def youden_threshold(scores: Sequence[float], labels: Sequence[bool]) -> int | None:
    """The whole score from which on (``score >= threshold``) leads count as qualified that maximises Youden's J
    (share of conversions captured minus share of other leads passed), as ``leadscore evaluate`` suggests it
    (:func:`scoring.evaluation.thresholds.suggest_threshold`) on whole scores. None when no cut separates the two
    at all."""
    if len({bool(label) for label in labels}) < 2:
        return None
    suggestion = suggest_threshold(trade_off([float(math.floor(s)) for s in scores], labels))
    return int(suggestion.threshold) if suggestion.youden_j > 1e-12 else None
