"""``leadscore evaluate``: how well models' scores foretold conversions, from files or from the input topics."""

from __future__ import annotations

import time
from collections.abc import Callable, Sequence
from contextlib import nullcontext
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn
from rich.table import Table

from scoring import LeadscoreError, ScoringModel, load_models
from scoring.evaluation.cohort import CohortSpec
from streams.analysis.evaluate.runner import EvaluationRun, evaluate_history
from streams.analysis.history import History
from streams.cli.common import date_option as _time_ms
from streams.cli.common import duration_option, err, outcome_option
from streams.cli.common import fail as _fail
from streams.cli.options import (
    Conversions,
    DataEnd,
    Events,
    FirstSeenFrom,
    FirstSeenUntil,
    InputBootstrap,
    Models,
    ObserveAfter,
    Outcomes,
    Profiles,
    SkipInvalid,
    Window,
)
from streams.errors import EvaluateInputError, require_analysis


def evaluate(
    model: Models,
    window: Window,
    events: Events = None,
    profiles: Profiles = None,
    conversions: Conversions = None,
    bootstrap: InputBootstrap = None,
    observe_after: ObserveAfter = "0d",
    outcome: Outcomes = None,
    first_seen_from: FirstSeenFrom = None,
    first_seen_until: FirstSeenUntil = None,
    data_end: DataEnd = None,
    target_capture: Annotated[
        float | None,
        typer.Option(help="Suggest the highest threshold capturing this share of conversions (default: Youden's J)."),
    ] = None,
    json_out: Annotated[Path | None, typer.Option("--json", help="Write the report as JSON here.")] = None,
    html_out: Annotated[Path | None, typer.Option("--html", help="Write the report as one HTML file here.")] = None,
    skip_invalid: SkipInvalid = False,
    follow: Annotated[
        float | None,
        typer.Option(min=0.1, help="Re-read the topics and re-evaluate every SECONDS (needs --bootstrap)."),
    ] = None,
    metrics_port: Annotated[
        int | None, typer.Option(help="With --follow: serve the figures as Prometheus gauges on 127.0.0.1:PORT.")
    ] = None,
    runs: Annotated[int | None, typer.Option(min=1, help="With --follow: stop after this many runs.")] = None,
    accounts: Annotated[
        bool,
        typer.Option("--accounts", help="Evaluate accounts instead of leads (models with an account: section)."),
    ] = False,
) -> None:
    """Evaluate models against conversions: ROC AUC, conversion rate and lift per score decile and per level,
    calibration, and a suggested MQL threshold with its trade-off (leads passed vs conversions captured).
    Every lead is scored OBSERVE_AFTER after it was first seen, with what was known then, and counts as converted
    when an outcome of --outcome followed within --window. Leads whose window is not over by the end of the data
    are left out (and counted). Give --events and --conversions files (as `leadscore generate` writes), or
    --bootstrap to read the input topics; --follow keeps re-evaluating and serves Prometheus gauges. With
    --accounts: each account is scored OBSERVE_AFTER after its first member was seen, and converted when a
    conversion followed within --window whose lead_id is the account's id (an account-level outcome) or a lead
    that was its member when it converted; conversions of leads in no account are counted apart. Per account
    model: ROC AUC, deciles, and each account level's precision and recall (--json writes them; no --html or
    --follow)."""
    try:
        if html_out is not None:
            require_analysis("leadscore evaluate --html", "matplotlib")
        spec = CohortSpec(
            window_ms=duration_option("--window", window),
            observe_after_ms=duration_option("--observe-after", observe_after, zero=True),
            outcomes=outcome_option(outcome),
            first_seen_from_ms=_time_ms("--first-seen-from", first_seen_from),
            first_seen_until_ms=_time_ms("--first-seen-until", first_seen_until),
            data_end_ms=_time_ms("--data-end", data_end),
        )
        if target_capture is not None and not 0 < target_capture <= 1:
            raise EvaluateInputError(f"--target-capture {target_capture}: expected a share in (0, 1], e.g. 0.8")
        read = _source(events, profiles, conversions, bootstrap, skip_invalid)
        models = load_models(model)
        if accounts:
            _evaluate_accounts(models, read, spec, target_capture, json_out, html_out is not None or follow is not None)
            return
        if follow is not None:
            if bootstrap is None or metrics_port is None:
                raise EvaluateInputError("--follow needs --bootstrap and --metrics-port")
            _follow(models, read, spec, target_capture, follow, metrics_port, runs, (json_out, html_out))
            return
        run = _evaluate_once(models, read, spec, target_capture)
        _write(run, json_out, html_out)
    except LeadscoreError as exc:
        _fail(exc)
    except OSError as exc:  # writing --json/--html
        _fail(EvaluateInputError(f"{exc.filename}: cannot write ({exc.strerror})"))
    print_summary(run)


Reader = Callable[[Callable[[int, int], None] | None], History]


def _evaluate_accounts(
    models: Sequence[ScoringModel],
    read: Reader,
    spec: CohortSpec,
    target_capture: float | None,
    json_out: Path | None,
    unsupported: bool,
) -> None:
    """``evaluate --accounts``: the account-level report (streams.analysis.evaluate.accounts) and its summary."""
    import json

    from streams.analysis.evaluate.accounts import account_engine_of, account_report_json, evaluate_accounts

    if unsupported:
        raise EvaluateInputError("--accounts: --html and --follow are for leads; use --json for the account report")
    account_engine_of(models)  # fail before reading the history
    with err.status("replaying accounts", spinner="dots") if err.is_terminal else nullcontext():
        run = evaluate_accounts(models, read(None), spec, target_capture)
    if json_out is not None:
        json_out.write_text(json.dumps(account_report_json(run), indent=2) + "\n", encoding="utf-8")
    table = Table(title=f"account evaluation: {run.accounts} accounts, {run.conversions} converted")
    for name in ("model", "accounts", "converted", "ROC AUC", "level", "in level", "precision", "recall"):
        table.add_column(name, justify="left" if name in ("model", "level") else "right")
    for model in run.models:
        report = model.report
        first = [f"{model.model_id} v{model.model_version}", str(report.leads), str(report.conversions)]
        rows = [(row.level, str(row.accounts), _share(row.precision), _share(row.recall)) for row in model.levels]
        for number, level in enumerate(rows or [("-", "", "", "")]):
            head = [*first, f"{report.roc_auc:.3f}"] if number == 0 else ["", "", "", ""]
            table.add_row(*head, *level)
    out = Console(width=120)
    out.print(table)
    for reason, count in run.excluded.items():
        out.print(f"{count} accounts excluded: {reason}", highlight=False)
    if run.unmapped_conversions:
        out.print(f"{run.unmapped_conversions} conversions of leads in no account (not counted)", highlight=False)
    if run.skipped_records:
        out.print(f"skipped {run.skipped_records} invalid records", highlight=False)


def _share(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


def _source(
    events: Path | None, profiles: Path | None, conversions: Path | None, bootstrap: str | None, skip_invalid: bool
) -> Reader:
    if bootstrap is not None:
        if events or profiles or conversions:
            raise EvaluateInputError("give either --bootstrap or --events/--conversions files, not both")
        from streams.analysis.history import read_history
        from streams.settings import load_settings

        settings = load_settings(bootstrap_servers=bootstrap)
        return lambda progress: read_history(settings, progress)
    if events is None or conversions is None:
        raise EvaluateInputError("give --events and --conversions files (and optionally --profiles), or --bootstrap")
    for path in (events, profiles, conversions):
        if path is not None and not path.is_file():
            raise EvaluateInputError(f"{path}: no such file")
    from streams.analysis.history import history_from_files

    return lambda _progress: history_from_files(events, profiles, conversions, skip_invalid)


def _evaluate_once(
    models: Sequence[ScoringModel], read: Reader, spec: CohortSpec, target_capture: float | None
) -> EvaluationRun:
    with Progress(
        TextColumn("{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        console=err,
        transient=True,
        disable=not err.is_terminal,
    ) as bar:
        reading = bar.add_task("reading", total=None)
        history = read(lambda done, total: bar.update(reading, completed=done, total=total))
        bar.update(reading, visible=False)
        replay = bar.add_task("replaying leads", total=None)
        return evaluate_history(
            models, history, spec, target_capture, lambda done, total: bar.update(replay, completed=done, total=total)
        )


def _write(run: EvaluationRun, json_out: Path | None, html_out: Path | None) -> None:
    if json_out is not None:
        from streams.analysis.evaluate.report import write_json

        write_json(run, json_out)
    if html_out is not None:
        from streams.analysis.evaluate.report import write_html

        write_html(run, html_out, int(time.time() * 1000))


def _follow(
    models: Sequence[ScoringModel],
    read: Reader,
    spec: CohortSpec,
    target_capture: float | None,
    every_s: float,
    port: int,
    runs: int | None,
    outputs: tuple[Path | None, Path | None],
) -> None:
    """Re-evaluate every ``every_s`` seconds; each run prints its summary and rewrites --json/--html if given."""
    from streams.analysis.evaluate.gauges import follow_evaluations

    err.print(f"serving gauges on http://127.0.0.1:{port}/metrics; re-evaluating every {every_s:g}s (Ctrl-C stops)")

    def report(number: int, run: EvaluationRun | None, _gauges: object) -> None:
        if run is not None:
            print_summary(run, title=f"run {number}")
            _write(run, *outputs)

    try:
        follow_evaluations(
            lambda: _evaluate_once(models, read, spec, target_capture),
            every_s,
            port,
            runs,
            on_run=report,
            on_error=lambda exc: err.print(f"[yellow]run failed:[/] {exc}", highlight=False, soft_wrap=True),
        )
    except KeyboardInterrupt:
        err.print("stopped")


def print_summary(run: EvaluationRun, title: str = "evaluation") -> None:
    """A short table on stdout: per model leads, conversions, AUC and the suggested threshold; exclusions."""
    table = Table(title=f"{title}: {run.leads} leads, {run.conversions} converted")
    for name in ("model", "leads", "conversions", "ROC AUC", "threshold", "passed", "captured"):
        table.add_column(name, justify="left" if name == "model" else "right")
    for model in run.models:
        report, suggestion = model.report, model.report.suggestion
        table.add_row(
            f"{model.model_id} v{model.model_version}",
            str(report.leads),
            str(report.conversions),
            f"{report.roc_auc:.3f}",
            f"{suggestion.threshold:g}",
            f"{suggestion.share_passed:.1%}",
            f"{suggestion.share_captured:.1%}",
        )
    out = Console(width=120)
    out.print(table)
    for reason, count in run.excluded.items():
        out.print(f"{count} leads excluded: {reason}", highlight=False)
    if run.skipped_records:
        out.print(f"skipped {run.skipped_records} invalid records", highlight=False)
    for warning in run.warnings:
        err.print(f"[yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)
