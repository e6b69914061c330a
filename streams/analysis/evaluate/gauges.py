"""The figures of ``leadscore evaluate --follow`` as Prometheus gauges, on their own registry.

Every run replaces all the figures (a model, decile or level gone from the latest run disappears from the scrape).
Scrape ``http://127.0.0.1:PORT/metrics``; ``leadscore_eval_last_run_timestamp_seconds`` tells how fresh they are
(alert when it stops moving), ``leadscore_eval_runs_failed_total`` counts runs that could not evaluate (read the
command's stderr for why).
"""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server

from scoring.errors import LeadscoreError
from streams.analysis.evaluate.runner import EvaluationRun
from streams.errors import EvaluateInputError


class EvaluationGauges:
    def __init__(self, registry: CollectorRegistry | None = None) -> None:
        self.registry = registry or CollectorRegistry()
        r = self.registry
        self.roc_auc = Gauge(
            "leadscore_eval_roc_auc", "ROC AUC of the model's scores on the cohort", ["model"], registry=r
        )
        self.leads = Gauge(
            "leadscore_eval_leads", "Leads of the cohort the model was evaluated on", ["model"], registry=r
        )
        self.conversions = Gauge(
            "leadscore_eval_conversions",
            "Converted leads of the cohort the model was evaluated on",
            ["model"],
            registry=r,
        )
        self.base_rate = Gauge("leadscore_eval_base_rate", "Conversion rate of the cohort", ["model"], registry=r)
        self.brier = Gauge(
            "leadscore_eval_brier_score",
            "Brier score of the calibrated scores (the model file's calibration line, else Platt in-sample)",
            ["model"],
            registry=r,
        )
        self.decile_rate = Gauge(
            "leadscore_eval_conversion_rate",
            "Conversion rate per score decile (1 = highest scores)",
            ["model", "decile"],
            registry=r,
        )
        self.decile_lift = Gauge(
            "leadscore_eval_lift", "Lift vs the base rate per score decile", ["model", "decile"], registry=r
        )
        self.level_rate = Gauge(
            "leadscore_eval_level_conversion_rate",
            "Conversion rate per level (the lead's highest level at its moment)",
            ["model", "level"],
            registry=r,
        )
        self.threshold = Gauge(
            "leadscore_eval_suggested_threshold",
            "Suggested MQL threshold (score at or above passes)",
            ["model"],
            registry=r,
        )
        self.share_passed = Gauge(
            "leadscore_eval_suggested_share_passed",
            "Share of leads at or above the suggested threshold",
            ["model"],
            registry=r,
        )
        self.share_captured = Gauge(
            "leadscore_eval_suggested_share_captured",
            "Share of conversions at or above the suggested threshold",
            ["model"],
            registry=r,
        )
        self.excluded = Gauge(
            "leadscore_eval_excluded_leads", "Leads left out of the cohort, by reason", ["reason"], registry=r
        )
        self.last_run = Gauge(
            "leadscore_eval_last_run_timestamp_seconds", "Unix time of the last successful evaluation", registry=r
        )
        self.failed = Counter(
            "leadscore_eval_runs_failed", "Evaluation runs that failed (see stderr for why)", registry=r
        )
        self._per_run = [
            self.roc_auc,
            self.leads,
            self.conversions,
            self.base_rate,
            self.brier,
            self.decile_rate,
            self.decile_lift,
            self.level_rate,
            self.threshold,
            self.share_passed,
            self.share_captured,
            self.excluded,
        ]

    def update(self, run: EvaluationRun, now_s: float) -> None:
        """Replace every figure by those of ``run``, finished at ``now_s`` (Unix seconds)."""
        for gauge in self._per_run:
            gauge.clear()
        for model in run.models:
            report, name = model.report, model.model_id
            self.roc_auc.labels(name).set(report.roc_auc)
            self.leads.labels(name).set(report.leads)
            self.conversions.labels(name).set(report.conversions)
            self.base_rate.labels(name).set(report.base_rate)
            self.brier.labels(name).set(report.calibration.brier_score)
            for row in report.deciles:
                if row.conversion_rate is not None and row.lift is not None:
                    self.decile_rate.labels(name, str(row.decile)).set(row.conversion_rate)
                    self.decile_lift.labels(name, str(row.decile)).set(row.lift)
            for level in report.levels:
                self.level_rate.labels(name, level.level).set(level.conversion_rate)
            self.threshold.labels(name).set(report.suggestion.threshold)
            self.share_passed.labels(name).set(report.suggestion.share_passed)
            self.share_captured.labels(name).set(report.suggestion.share_captured)
        for reason, count in run.excluded.items():
            self.excluded.labels(reason).set(count)
        self.last_run.set(now_s)


def follow_evaluations(
    evaluate_once: Callable[[], EvaluationRun],
    every_s: float,
    port: int,
    runs: int | None = None,
    on_run: Callable[[int, EvaluationRun | None, EvaluationGauges], None] | None = None,
    on_error: Callable[[LeadscoreError], None] | None = None,
    host: str = "127.0.0.1",
) -> EvaluationGauges:
    """Serve the gauges on ``host:port`` and run ``evaluate_once`` every ``every_s`` seconds, ``runs`` times (None:
    until Ctrl-C). A run that fails with a LeadscoreError (no conversions yet, broker away) is counted and
    reported to ``on_error``; the gauges keep the last good figures. ``on_run`` is called after each run while the
    server still serves (with None for a failed run)."""
    gauges = EvaluationGauges()
    try:
        server, _thread = start_http_server(port, addr=host, registry=gauges.registry)
    except OSError as exc:
        raise EvaluateInputError(f"--metrics-port {port}: cannot serve on {host}: {exc.strerror or exc}") from None
    try:
        done = 0
        while runs is None or done < runs:
            if done:
                time.sleep(every_s)
            run: EvaluationRun | None = None
            try:
                run = evaluate_once()
                gauges.update(run, time.time())
            except LeadscoreError as exc:
                gauges.failed.inc()
                if on_error is not None:
                    on_error(exc)
            done += 1
            if on_run is not None:
                on_run(done, run, gauges)
    finally:
        server.shutdown()
        server.server_close()
    return gauges
