"""Rich tables of the rescore and shadow comparisons, for people; the same content goes to JSON with --report."""

from __future__ import annotations

from rich.console import Console
from rich.table import Table

from scoring.evaluation.comparison import NO_LEVEL, Comparison
from streams.analysis.shadow import PairReport


def _number(value: float | None, digits: int = 2) -> str:
    return "-" if value is None else f"{value:.{digits}f}"


def _summary(title: str, comparison: Comparison, before: str, after: str) -> Table:
    table = Table(title=title, show_header=False, title_justify="left")
    table.add_column("what")
    table.add_column("value", justify="right")
    d = comparison.deltas
    table.add_row("leads compared (in both)", str(comparison.compared))
    table.add_row(f"leads only {before}", str(comparison.before_only))
    table.add_row(f"leads only {after}", str(comparison.after_only))
    table.add_row("leads changing levels", str(comparison.changed_leads))
    table.add_row(f"mean delta ({after} - {before})", _number(d.mean))
    table.add_row("mean |delta|", _number(d.mean_abs))
    table.add_row("p50 |delta|", _number(d.p50_abs))
    table.add_row("p90 |delta|", _number(d.p90_abs))
    table.add_row("max |delta|", _number(d.max_abs))
    return table


def _levels(comparison: Comparison, entering: str, leaving: str) -> Table:
    table = Table(title="level changes", title_justify="left")
    table.add_column("level")
    table.add_column(entering, justify="right")
    table.add_column(leaving, justify="right")
    for level in sorted(set(comparison.entering) | set(comparison.leaving)):
        table.add_row(level, str(comparison.entering.get(level, 0)), str(comparison.leaving.get(level, 0)))
    return table


def _movers(comparison: Comparison, before: str, after: str) -> Table:
    table = Table(title=f"top {len(comparison.top_movers)} leads by |delta|", title_justify="left")
    for name in ("lead", before, after, "delta"):
        table.add_column(name, justify="left" if name == "lead" else "right")
    for mover in comparison.top_movers:
        table.add_row(mover.lead_id, _number(mover.before), _number(mover.after), f"{mover.delta:+.2f}")
    return table


def print_rescore(console: Console, model: str, versions: str, comparison: Comparison) -> None:
    console.print(_summary(f"model {model}: live ({versions}) vs rescored", comparison, "live", "rescored"))
    if comparison.entering or comparison.leaving:
        console.print(_levels(comparison, "entering", "leaving"))
    if comparison.top_movers:
        console.print(_movers(comparison, "live", "rescored"))


def _level_order(report: PairReport) -> list[str]:
    """Level names lowest first: LeadScore lists a lead's levels lowest first, so a level's position orders it."""
    names = {name for pair in report.matrix for name in pair if name != NO_LEVEL}
    rank = {name: 0 for name in names}
    for lead_levels in report.level_sequences:
        for position, name in enumerate(lead_levels):
            rank[name] = max(rank.get(name, 0), position)
    return sorted(names, key=lambda name: (rank[name], name))


def print_shadow(console: Console, report: PairReport) -> None:
    live = f"live {report.live_model} v{','.join(map(str, report.live_versions))}"
    shadow = f"shadow {report.shadow_model} v{','.join(map(str, report.shadow_versions))}"
    console.print(_summary(f"{live} vs {shadow}", report.comparison, "live", "shadow"))
    console.print(f"Spearman rank correlation (leads in both): {_number(report.spearman, 3)}")
    levels = [*_level_order(report), NO_LEVEL]
    matrix = Table(title="highest level: live (rows) x shadow (columns)", title_justify="left")
    matrix.add_column("live \\ shadow")
    for level in levels:
        matrix.add_column(level, justify="right")
    for row in levels:
        matrix.add_row(row, *(str(report.matrix.get((row, column), 0)) for column in levels))
    console.print(matrix)
    if report.comparison.entering or report.comparison.leaving:
        console.print(_levels(report.comparison, "shadow would enter", "shadow would leave"))
    if report.comparison.top_movers:
        console.print(_movers(report.comparison, "live", "shadow"))
    if report.auc is not None:
        auc = report.auc
        console.print(
            f"quick ROC AUC of CURRENT scores vs WON ({auc.converted} converted, {auc.others} others): "
            f"live {_number(auc.live, 3)}, shadow {_number(auc.shadow, 3)}. A quick signal only: current scores "
            "may include activity after the conversion; `leadscore evaluate` scores each lead before it converts.",
            highlight=False,
        )
