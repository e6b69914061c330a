"""What ``leadscore fit`` is asked to do, and the figures it reports per slice (shared by the pipeline and the
report, which would otherwise import each other)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Protocol

from scoring.conversions import Outcome


class FitProgress(Protocol):
    """Where ``fit`` reports its replay phases (a progress bar in the command line)."""

    def phase(self, name: str, leads: int) -> None: ...
    def advance(self, leads: int) -> None: ...


@dataclass(frozen=True)
class FitOptions:
    window_ms: int
    observe_after_ms: int = 0
    outcomes: frozenset[Outcome] = frozenset({Outcome.WON})
    first_seen_from_ms: int | None = None
    first_seen_until_ms: int | None = None
    holdout: float = 0.25
    pdo: float = 10.0
    c: float | None = None  # inverse L2 strength; None: chosen by cross-validation on the training slice
    min_support: int = 30
    model_id: str | None = None  # default: the base id + "-fitted"
    author: str = "leadscore fit"
    keep_levels: bool = False
    test_from_ms: int | None = None
    test_until_ms: int | None = None
    data_end_ms: int | None = None  # the data is complete up to here (default: the latest time in it)


#: The scorers compared on every slice: the base model, the fitted points model, and the references on the same
#: features (``scoring.fitting.references``).
SCORERS = ("base", "fitted", "regression", "boosting")


@dataclass
class SliceFigures:
    """ROC AUC and Brier score of each scorer on one slice (None: the slice lacks converted or other leads; no
    Brier score on the training slice, where the calibration is learnt)."""

    name: str
    leads: int
    conversions: int
    auc: dict[str, float | None] = field(default_factory=dict)
    brier: dict[str, float | None] = field(default_factory=dict)
