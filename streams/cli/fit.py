"""``leadscore fit``: learn integer points from conversions and write an ordinary model file a marketer can edit."""

from __future__ import annotations

import json
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TaskID, TextColumn, TimeElapsedColumn
from rich.table import Table

from scoring import LeadscoreError
from streams.cli.common import date_option, duration_option, err, outcome_option
from streams.cli.common import fail as _fail
from streams.cli.options import (
    Conversions,
    DataEnd,
    Events,
    FirstSeenFrom,
    FirstSeenUntil,
    InputBootstrap,
    ObserveAfter,
    Outcomes,
    Profiles,
    SkipInvalid,
    Window,
)

if TYPE_CHECKING:
    from rich.console import JustifyMethod

    from scoring.fitting.pipeline import FitResult
    from streams.analysis.history import History

_COLUMNS = (TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())


class FitInputError(LeadscoreError):
    """A ``leadscore fit`` option has an invalid value; the message names it. Fix the command line."""


class _Bar:
    """Rich progress on stderr, one bar per replay phase."""

    def __init__(self, progress: Progress) -> None:
        self.progress = progress
        self.task: TaskID | None = None

    def phase(self, name: str, leads: int) -> None:
        self.task = self.progress.add_task(name, total=leads)

    def advance(self, leads: int) -> None:
        if self.task is not None:  # fit_history starts a phase before it advances
            self.progress.advance(self.task, leads)


_DAY = "(UTC date or time, e.g. 2018-01-01)"
TestFrom = Annotated[
    str | None, typer.Option("--test-from", metavar="DATE", help=f"Also test on leads first seen from {_DAY}.")
]
TestUntil = Annotated[
    str | None, typer.Option("--test-until", metavar="DATE", help=f"Test slice: leads first seen before {_DAY}.")
]


def fit(
    base_model: Annotated[
        Path, typer.Option("--base-model", metavar="FILE", help="Model to start from: its rules are candidates.")
    ],
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
    test_from: TestFrom = None,
    test_until: TestUntil = None,
    holdout: Annotated[
        float, typer.Option(min=0.0, max=0.9, metavar="SHARE", help="Latest share of the slice held out.")
    ] = 0.25,
    pdo: Annotated[float, typer.Option(min=0.1, metavar="POINTS", help="Points to double the odds.")] = 10.0,
    l2_c: Annotated[
        float | None,
        typer.Option(
            "--l2-c", min=1e-6, metavar="C", help="Inverse L2 strength (scikit-learn's C); default: cross-validated."
        ),
    ] = None,
    min_support: Annotated[
        int, typer.Option(min=1, metavar="LEADS", help="Leads a rule must set apart to be learnt from.")
    ] = 30,
    model_id: Annotated[
        str | None, typer.Option("--id", metavar="ID", help="Id of the new model (default: base id-fitted).")
    ] = None,
    author: Annotated[str, typer.Option(metavar="NAME", help="Author written into the model.")] = "leadscore fit",
    keep_levels: Annotated[
        bool, typer.Option("--keep-levels", help="Keep the base model's levels instead of a suggested MQL.")
    ] = False,
    out: Annotated[
        Path, typer.Option("--out", "-o", metavar="FILE", help="Where to write the fitted model YAML.")
    ] = Path("fitted.yaml"),
    report: Annotated[
        Path | None, typer.Option("--report", metavar="FILE", help="Also write the figures as JSON here.")
    ] = None,
    skip_invalid: SkipInvalid = False,
) -> None:
    """Learn integer points from history and write a readable model file. An L2 logistic regression on each
    candidate rule's decayed value at the lead's moment gives points (PDO points double the odds). Training
    slice: leads first seen in [--first-seen-from, --first-seen-until); its latest --holdout is held out;
    --test-from/--test-until give a later test slice. Each slice reports ROC AUC and Brier score of the base
    model, the fitted points and two references on the same features (plain logistic regression, gradient
    boosting)."""
    import yaml

    from streams.errors import require_analysis

    try:
        require_analysis("leadscore fit", "numpy", "sklearn")
        from scoring import load_model
        from scoring.fitting.options import FitOptions
        from scoring.fitting.pipeline import fit_history

        load_model(base_model)  # one-line errors for a bad base model
        base_raw = yaml.safe_load(base_model.read_text(encoding="utf-8"))
        options = FitOptions(
            window_ms=duration_option("--window", window),
            observe_after_ms=duration_option("--observe-after", observe_after, zero=True),
            outcomes=outcome_option(outcome),
            first_seen_from_ms=date_option("--first-seen-from", first_seen_from),
            first_seen_until_ms=date_option("--first-seen-until", first_seen_until),
            holdout=holdout,
            pdo=pdo,
            c=l2_c,
            min_support=min_support,
            model_id=model_id,
            author=author,
            keep_levels=keep_levels,
            test_from_ms=date_option("--test-from", test_from),
            test_until_ms=date_option("--test-until", test_until),
            data_end_ms=date_option("--data-end", data_end),
        )
        history = _history(events, profiles, conversions, bootstrap, skip_invalid)
        with Progress(*_COLUMNS, console=err, transient=True, disable=not err.is_terminal) as progress:
            result = fit_history(
                history.events, history.profiles, history.conversions, base_raw, options, _Bar(progress)
            )
        out.write_text(result.text, encoding="utf-8")
        if report is not None:
            report.write_text(json.dumps(_report(result, out), indent=2) + "\n", encoding="utf-8")
    except LeadscoreError as exc:
        _fail(exc)
    except OSError as exc:
        _fail(FitInputError(f"{exc.filename}: {exc.strerror}"))
    _summary(result, out, len(history.skipped))


def _history(
    events: Path | None, profiles: Path | None, conversions: Path | None, bootstrap: str | None, skip_invalid: bool
) -> History:
    from streams.analysis.history import history_from_files, read_history

    if bootstrap is not None:
        from streams.settings import load_settings

        settings = load_settings(bootstrap_servers=bootstrap)
        with Progress(*_COLUMNS, console=err, transient=True, disable=not err.is_terminal) as bar:
            task = bar.add_task("reading the input topics", total=None)
            return read_history(settings, lambda done, total: bar.update(task, completed=done, total=total))
    if events is None:
        raise FitInputError("give --events (and --profiles, --conversions) files, or --bootstrap to read the topics")
    return history_from_files(events, profiles, conversions, skip_invalid)


def _report(result: FitResult, out: Path) -> dict[str, object]:
    return {
        "model": {"path": str(out), "id": result.model.id, "version": result.model.version},
        "candidates": result.candidates,
        "rules": [
            {
                "id": rule.candidate.id,
                "dimension": rule.candidate.dimension,
                "generated": rule.candidate.generated,
                "coefficient": rule.coefficient,
                "points": rule.points,
                "training_leads": rule.stats.leads,
                "training_converted": rule.stats.converted,
                "holdout_leads": rule.stats.held_leads,
                "holdout_converted": rule.stats.held_converted,
            }
            for rule in result.rules
        ],
        "zero_points": result.zero_rules,
        "dropped": result.unused,
        "warnings": result.warnings,
        "excluded": result.excluded,
        "intercept": result.intercept,
        "calibration": None if result.calibration is None else dict(zip("ab", result.calibration, strict=True)),
        "mql_threshold": result.threshold,
        "slices": [
            {"name": s.name, "leads": s.leads, "conversions": s.conversions, "auc": s.auc, "brier": s.brier}
            for s in result.slices
        ],
    }


def _summary(result: FitResult, out: Path, skipped: int) -> None:
    console = Console()
    rules = Table(title=f"{result.model.id} v{result.model.version}: {len(result.rules)} rules", title_justify="left")
    columns: tuple[tuple[str, JustifyMethod], ...] = (
        ("rule", "left"),
        ("dimension", "left"),
        ("points", "right"),
        ("coef", "right"),
    )
    for name, justify in columns:
        rules.add_column(name, justify=justify)
    rules.add_column("leads (conv.)", justify="right")
    for rule in result.rules:
        stats = rule.stats
        rules.add_row(
            rule.candidate.id,
            rule.candidate.dimension,
            f"{rule.points:+d}",
            f"{rule.coefficient:+.3f}",
            f"{stats.leads} ({stats.converted})",
        )
    console.print(rules)
    console.print(_figures(result))
    note = f"wrote {out}: {len(result.rules)} rules of {result.candidates} candidates"
    note += f" ({len(result.zero_rules)} rounded to 0 points, {len(result.unused)} dropped: see --report)"
    if result.threshold is not None:
        note += f"; MQL at {result.threshold}"
    if skipped:
        note += f"; skipped {skipped} invalid input lines"
    err.print(note, highlight=False, soft_wrap=True)
    for warning in result.warnings:
        err.print(f"[yellow]warning:[/] {warning}", highlight=False, soft_wrap=True)


def _figures(result: FitResult) -> Table:
    """ROC AUC and Brier score per slice: base model, fitted points, and the references on the same features."""
    table = Table(title="ROC AUC / Brier score (regression, boosting: references)", title_justify="left")
    for name in ("slice", "leads", "conv.", "base", "fitted", "regression", "boosting"):
        table.add_column(name, justify="left" if name == "slice" else "right")
    for figures in result.slices:
        cells = []
        for scorer in ("base", "fitted", "regression", "boosting"):
            cells.append(f"{_number(figures.auc.get(scorer))} / {_number(figures.brier.get(scorer), 4)}")
        table.add_row(figures.name, str(figures.leads), str(figures.conversions), *cells)
    return table


def _number(value: float | None, digits: int = 3) -> str:
    return "n/a" if value is None else f"{value:.{digits}f}"
