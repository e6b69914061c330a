"""What ``leadscore fit`` is asked to do, and the figures it reports per slice (shared by the pipeline and the
report, which would otherwise import each other)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class FitOptions:
    window_ms: int
    observe_after_ms: int = 0
    first_seen_from_ms: int | None = None
    first_seen_until_ms: int | None = None
    holdout: float = 0.25
    pdo: float = 10.0
    c: float = 1.0
    min_support: int = 30
    model_id: str | None = None  # default: the base id + "-fitted"
    author: str = "leadscore fit"
    keep_levels: bool = False
    test_from_ms: int | None = None
    test_until_ms: int | None = None


@dataclass
class SliceFigures:
    """ROC AUC of each scorer on one slice (None: the slice lacks converted or other leads)."""

    name: str
    leads: int
    conversions: int
    auc: dict[str, float | None] = field(default_factory=dict)
