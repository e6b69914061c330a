"""Issue 18's targets for ``leadscore fit``, checked on a test slice's figures (ROC AUC and Brier score per scorer,
as ``fit`` reports them): the fitted points model ranks leads at least as well as the plain logistic regression on
the same features (scaled, converged), within 0.01 of the better of that regression and gradient boosting, and its
probabilities (calibrated on the training slice only) score a Brier within 0.005 of the regression's. The AUCs are
pinned besides, so that a change to candidates, selection or regularisation that moves them is seen and explained.
"""

from __future__ import annotations

from collections.abc import Mapping

import pytest

BEST_WITHIN = 0.01
BRIER_WITHIN = 0.005
PINNED_WITHIN = 0.005  # ROC AUC


def check_targets(
    auc: Mapping[str, float | None], brier: Mapping[str, float | None], pinned: Mapping[str, float]
) -> None:
    fitted, regression, boosting = (_value(auc, name) for name in ("fitted", "regression", "boosting"))
    assert fitted >= regression, f"the points model ranks below the plain regression: {dict(auc)}"
    assert fitted >= max(regression, boosting) - BEST_WITHIN, f"too far below the best reference: {dict(auc)}"
    assert _value(brier, "fitted") <= _value(brier, "regression") + BRIER_WITHIN, f"Brier: {dict(brier)}"
    assert {name: auc[name] for name in pinned} == pytest.approx(dict(pinned), abs=PINNED_WITHIN)


def _value(figures: Mapping[str, float | None], name: str) -> float:
    value = figures.get(name)
    assert value is not None, f"no {name} figure: {dict(figures)}"
    return value
