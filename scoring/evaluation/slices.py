"""The training and test slices of a fit: leads first seen in a time range, disjoint, with closed windows."""

from __future__ import annotations

import math
from collections.abc import Iterable
from typing import Protocol

from scoring.conversions import Conversion
from scoring.errors import LeadscoreError
from scoring.evaluation.cohort import Cohort, CohortSpec, build_cohort
from scoring.events import LeadEvent
from scoring.profiles import LeadProfile


class SliceError(LeadscoreError):
    """The time slices given to ``leadscore fit`` cannot give honest figures; the message says which option."""


class Slices(Protocol):
    @property
    def window_ms(self) -> int: ...
    @property
    def first_seen_from_ms(self) -> int | None: ...
    @property
    def first_seen_until_ms(self) -> int | None: ...
    @property
    def test_from_ms(self) -> int | None: ...
    @property
    def test_until_ms(self) -> int | None: ...


def check_slices(options: Slices) -> None:
    """The test slice must not share leads with the training slice: its figures would flatter the fit."""
    if options.window_ms <= 0:
        raise SliceError("--window must be positive: a lead converted when it won within it")
    if options.test_from_ms is None and options.test_until_ms is None:
        return
    test_from = options.test_from_ms if options.test_from_ms is not None else -math.inf
    test_until = options.test_until_ms if options.test_until_ms is not None else math.inf
    train_from = options.first_seen_from_ms if options.first_seen_from_ms is not None else -math.inf
    train_until = options.first_seen_until_ms if options.first_seen_until_ms is not None else math.inf
    if test_from < train_until and train_from < test_until:
        raise SliceError("the test slice overlaps the training slice: give --test-from at or after --first-seen-until")


def sliced_cohort(
    events: Iterable[LeadEvent],
    profiles: Iterable[LeadProfile],
    conversions: Iterable[Conversion],
    spec: CohortSpec,
    first_ms: int | None,
    until_ms: int | None,
) -> Cohort:
    sliced = CohortSpec(spec.window_ms, spec.observe_after_ms, spec.outcomes, first_ms, until_ms, spec.data_end_ms)
    return build_cohort(events, profiles, conversions, sliced)
