"""The evaluation gauges: every run replaces the figures of the one before."""

from __future__ import annotations

from pathlib import Path

import pytest
from prometheus_client import generate_latest

from scoring import load_models
from scoring.evaluation.cohort import CohortSpec
from streams.analysis.evaluate.gauges import EvaluationGauges
from streams.analysis.evaluate.runner import evaluate_history
from streams.analysis.history import history_from_files
from tests.conftest import DAY, T0
from tests.unit.test_cli_evaluate import write_history


def test_a_run_replaces_the_figures_of_the_one_before(tmp_path: Path) -> None:
    write_history(tmp_path)
    history = history_from_files(tmp_path / "events.jsonl", None, tmp_path / "conversions.jsonl")
    spec = CohortSpec(window_ms=30 * DAY, data_end_ms=T0 + 110 * DAY)
    both = evaluate_history(load_models([tmp_path / "good.yaml", tmp_path / "blind.yaml"]), history, spec)
    only_blind = evaluate_history(load_models([tmp_path / "blind.yaml"]), history, spec)
    gauges = EvaluationGauges()
    gauges.update(both, now_s=1000.0)
    value = gauges.registry.get_sample_value
    assert value("leadscore_eval_roc_auc", {"model": "good"}) == pytest.approx(both.models[0].report.roc_auc)
    assert value("leadscore_eval_level_conversion_rate", {"model": "good", "level": "MQL"}) is not None
    assert value("leadscore_eval_excluded_leads", {"reason": "window not over by the end of the data"}) == 7
    gauges.update(only_blind, now_s=2000.0)
    assert value("leadscore_eval_roc_auc", {"model": "good"}) is None
    assert value("leadscore_eval_level_conversion_rate", {"model": "good", "level": "MQL"}) is None
    assert value("leadscore_eval_roc_auc", {"model": "blind"}) == 0.5
    assert value("leadscore_eval_leads", {"model": "blind"}) == 200
    assert value("leadscore_eval_last_run_timestamp_seconds") == 2000.0
    assert b'leadscore_eval_conversion_rate{decile="' in generate_latest(gauges.registry)
