"""Issue 18's targets for ``leadscore fit`` (tests/acceptance/targets.py) on the vendored bank table (data/bank);
the Olist data set's are checked by the acceptance test (test_olist_loop.py) on its own fit.

Slices: leads called 2009-06..2010-02 to learn, 2010-03..2010-11 to test, converted when they subscribed within 7
days. Later than 2008 on purpose: the subscription rate drifts from 3-6 % a month in 2008 to about 50 % in 2010,
and in 2008 the call history that predicts the answer (earlier campaigns and their outcome) barely exists yet
(data/bank/SOURCES.md). The fit runs once for the module (pure ``fit_history``, no files or command line)."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import yaml

from scoring import example_model_path
from scoring.fitting.options import FitOptions, SliceFigures
from scoring.fitting.pipeline import FitResult, fit_history
from streams.cli.data import BANK_FULL
from streams.datasets.bank import read_bank
from tests.acceptance.targets import check_targets

DAY = 86_400_000
#: Test-slice ROC AUC per scorer when the targets were set (base: the hand-written scoring/examples/bank.yaml).
PINNED = {"base": 0.673, "fitted": 0.710, "regression": 0.709, "boosting": 0.623}


def _ms(day: str) -> int:
    return int(datetime(*map(int, day.split("-")), tzinfo=UTC).timestamp() * 1000)


@pytest.fixture(scope="module")
def fitted() -> FitResult:
    history = read_bank(BANK_FULL)
    options = FitOptions(
        7 * DAY,
        first_seen_from_ms=_ms("2009-06-01"),
        first_seen_until_ms=_ms("2010-03-01"),
        test_from_ms=_ms("2010-03-01"),
        test_until_ms=_ms("2010-12-01"),
    )
    base = yaml.safe_load(example_model_path("bank").read_text(encoding="utf-8"))
    return fit_history(history.events, history.profiles, history.conversions, base, options)


def _slice(result: FitResult, name: str) -> SliceFigures:
    return next(figures for figures in result.slices if figures.name == name)


def test_the_points_model_meets_the_targets_on_the_bank_test_slice(fitted: FitResult) -> None:
    test = _slice(fitted, "test")
    assert (test.leads, test.conversions) == (2019, 1055)  # called 2010-03..2010-11, 52 % subscribed
    check_targets(test.auc, test.brier, PINNED)


def test_the_hold_out_is_judged_the_same_way_and_nothing_is_left_to_warn_about(fitted: FitResult) -> None:
    holdout = _slice(fitted, "hold-out")
    assert set(holdout.auc) == set(holdout.brier) == {"base", "fitted", "regression", "boosting"}
    assert all(value is not None and 0 < value < 1 for value in (*holdout.auc.values(), *holdout.brier.values()))
    assert fitted.warnings == []  # every call is the lead's first event: scored at first sight, nothing comes later
