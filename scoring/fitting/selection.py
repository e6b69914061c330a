"""Clean candidates: one feature per distinct effect, each held by enough leads to learn from.

A candidate's column of values over the training leads is dropped, with the reason kept for the report, when

- it is the same for every lead (the intercept's business);
- fewer than ``min_support`` leads differ from its most common value: a rule only a handful of leads match, or
  one nearly every lead matches, would get large points from a few outcomes (base rules included);
- it repeats a column kept before it exactly, or nearly (``|r| >= NEAR_DUPLICATE``): two rules for one effect
  split its points between them, sometimes with opposite signs.

Candidates are looked at in order (the base model's rules first), so the first of equal rules is the one kept.
Nothing here looks at labels: choosing candidates cannot leak the outcome into a hold-out figure.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

#: Columns at least this correlated (in absolute value) count as one effect; the later one is dropped.
NEAR_DUPLICATE = 0.95


@dataclass(frozen=True)
class Selection:
    """The columns kept (in candidate order) and, per dropped candidate id, why it was dropped."""

    columns: list[int]
    dropped: dict[str, str]


def support(values: NDArray[np.float64]) -> int:
    """Leads whose value differs from the most common value of the column (0 for a constant column)."""
    if values.size == 0:
        return 0
    _, counts = np.unique(values, return_counts=True)
    return int(values.size - counts.max())


def select_features(x: NDArray[np.float64], ids: Sequence[str], min_support: int) -> Selection:
    """The candidates worth learning from (see the module docstring), in the order given."""
    kept: list[int] = []
    standardised: list[NDArray[np.float64]] = []
    dropped: dict[str, str] = {}
    for column, candidate_id in enumerate(ids):
        values = x[:, column]
        held = support(values)
        if held == 0:
            dropped[candidate_id] = "the same for every training lead"
            continue
        if held < min_support:
            dropped[candidate_id] = (
                f"only {held} training leads differ from the usual value (--min-support {min_support})"
            )
            continue
        z = (values - values.mean()) / values.std()
        twin = _twin(z, standardised)
        if twin is not None:
            index, r = twin
            name = ids[kept[index]]
            dropped[candidate_id] = _twin_reason(name, r)
            continue
        kept.append(column)
        standardised.append(z)
    return Selection(kept, dropped)


def _twin_reason(name: str, r: float) -> str:
    if r >= 1 - 1e-9:
        return f"same as {name}"
    if r <= -1 + 1e-9:
        return f"the complement of {name} (holds exactly when it does not)"
    return f"near duplicate of {name} (r {r:+.3f})"


def _twin(z: NDArray[np.float64], kept: list[NDArray[np.float64]]) -> tuple[int, float] | None:
    """The first kept column ``z`` (standardised) is nearly the same as, with their correlation."""
    if not kept:
        return None
    correlations = np.stack(kept) @ z / z.size
    for index, r in enumerate(correlations.tolist()):
        if abs(r) >= NEAR_DUPLICATE:
            return index, float(r)
    return None
