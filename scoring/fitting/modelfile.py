"""The fitted model as a model file: integer points per rule, levels, change note, and the figures as comments.

The model schema has no room for the regression's intercept or the figures behind each rule, so they are comments:
a marketer reads them next to the rule, and the file stays an ordinary model that ``validate-model`` accepts.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import numpy as np

from scoring.durations import format_duration
from scoring.evaluation.calibration import fit_platt
from scoring.evaluation.cohort import Cohort, Observation
from scoring.fitting.candidates import Candidate, model_dict, rule_dict
from scoring.fitting.regression import FitError, Regression, points_for, youden_threshold
from scoring.model.spec import ModelSpec
from scoring.model.writer import model_yaml

if TYPE_CHECKING:
    from scoring.fitting.options import FitOptions, SliceFigures

#: Hysteresis of the suggested MQL level: leave it this share of the training scores' spread below ``enter``; the
#: spread is from the 5th to the 95th percentile, so that one outlying lead cannot widen it.
LEAVE_SHARE = 0.10
SPREAD = (0.05, 0.95)
#: Grades from the training scores: with four grades the top 10 % are A, the next 20 % B, the next 30 % C.
TOP_SHARES_OF_FOUR = (0.1, 0.3, 0.6)


@dataclass(frozen=True)
class RuleStats:
    """How many leads a rule applied to (value > 0) and how many of them converted, in training and hold-out."""

    leads: int = 0
    converted: int = 0
    held_leads: int = 0
    held_converted: int = 0


def rule_stats(
    rows: dict[str, list[float]],
    chosen: list[Candidate],
    columns: list[int],
    learn: list[Observation],
    held: list[Observation],
) -> dict[str, RuleStats]:
    """Per rule: training leads (whole slice) it applies to and how many converted; the same for the hold-out."""
    stats: dict[str, RuleStats] = {}
    for candidate, column in zip(chosen, columns, strict=True):
        hit_all = [o for o in (*learn, *held) if rows[o.lead_id][column] > 0]
        hit_held = [o for o in held if rows[o.lead_id][column] > 0]
        stats[candidate.id] = RuleStats(
            len(hit_all), sum(o.converted for o in hit_all), len(hit_held), sum(o.converted for o in hit_held)
        )
    return stats


@dataclass(frozen=True)
class FittedRule:
    candidate: Candidate
    coefficient: float
    points: int
    stats: RuleStats


@dataclass(frozen=True)
class Written:
    raw: dict[str, Any]
    text: str
    rules: list[FittedRule]
    zero_rules: list[str]
    threshold: float | None
    calibration: tuple[float, float] | None  # (a, b) of the Platt mapping on the training scores, when scored


def fitted_model(
    base: ModelSpec,
    chosen: Sequence[Candidate],
    regression: Regression,
    options: FitOptions,
    model_id: str,
    version: int,
    training: Cohort,
    scored: tuple[Sequence[float], Sequence[bool]] | None,
    slices: Sequence[SliceFigures],
    stats: Mapping[str, RuleStats] | None = None,
) -> Written:
    """The model for ``regression``'s coefficients (one per ``chosen`` candidate); with ``scored`` (the training
    leads' scores under it and their labels) also the suggested MQL level."""
    figures = stats or {}
    fitted = [
        FittedRule(candidate, coef, points_for(coef, options.pdo), figures.get(candidate.id, RuleStats()))
        for candidate, coef in zip(chosen, regression.coefficients, strict=True)
    ]
    kept = [rule for rule in fitted if rule.points != 0]
    if not kept:
        raise FitError("every rule's points round to 0: raise --pdo or --c (less regularisation), or widen the slice")
    kept.sort(key=lambda r: (r.candidate.dimension != "engagement", -abs(r.points), r.candidate.id))
    threshold, levels = None, None
    if options.keep_levels:
        levels = [{"name": lv.name, "enter": lv.enter, **_leave(lv.leave)} for lv in base.levels]
    elif scored is not None:
        scores, labels = scored
        threshold = youden_threshold(scores, labels)
        if threshold is not None:
            levels = [{"name": "MQL", "enter": threshold, "leave": threshold - hysteresis(scores)}]
    raw = model_dict(
        base,
        [rule_dict(rule.candidate, rule.points) for rule in kept],
        id=model_id,
        version=version,
        change_note=_change_note(base, options, training, slices),
        author=options.author,
        description=f"Points learned from conversions by `leadscore fit`, starting from {base.id} v{base.version}.",
        levels=levels,
        grades=grade_bands([g.name for g in base.grades], scored[0]) if scored is not None else None,
    )
    calibrated = None
    if scored is not None:
        a, b = fit_platt(*scored)
        calibrated = (round(a, 6), round(b, 8))
        slice_text = _slice(options.first_seen_from_ms, options.first_seen_until_ms)
        learnt_on = f"{len(training.observations)} training leads {slice_text}"
        raw["calibration"] = {"intercept": calibrated[0], "slope": calibrated[1], "learnt_on": learnt_on}
    header = _header(base, regression, options, scored, calibrated, slices)
    comments = {rule.candidate.id: [_rule_note(rule, training)] for rule in kept}
    zero = [rule.candidate.id for rule in fitted if not rule.points]
    return Written(raw, model_yaml(raw, header, comments), kept, zero, threshold, calibrated)


def hysteresis(scores: Sequence[float]) -> int:
    """Points between entering and leaving the suggested level (see :data:`LEAVE_SHARE`), at least 1."""
    low, high = np.quantile(np.array(scores, dtype=np.float64), SPREAD)
    return max(1, round(LEAVE_SHARE * float(high - low)))


def grade_bands(names: Sequence[str], scores: Sequence[float]) -> list[dict[str, Any]]:
    """Grades named as the base model's, their floors at quantiles of the training scores (whole points, strictly
    decreasing): the share of leads in each grade stays what the names promise, on the fitted model's scale."""
    if not names:
        return []
    shares = TOP_SHARES_OF_FOUR if len(names) == 4 else [i / len(names) for i in range(1, len(names))]
    floors: list[int] = []
    for share in shares:
        floor = math.ceil(float(np.quantile(np.array(scores, dtype=np.float64), 1 - share)))
        floors.append(floor if not floors else min(floor, floors[-1] - 1))
    return [{"name": name, "min": floor} for name, floor in zip(names, floors, strict=False)] + [{"name": names[-1]}]


def _leave(value: float | None) -> dict[str, float]:
    return {} if value is None else {"leave": value}


def _day(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).strftime("%Y-%m-%d")


def _slice(first_ms: int | None, until_ms: int | None) -> str:
    """``first seen 2018-01-01..2018-04-01`` (the slice is [from, until))."""
    if first_ms is None and until_ms is None:
        return "first seen at any time"
    start = "the start" if first_ms is None else _day(first_ms)
    end = "the end" if until_ms is None else _day(until_ms)
    return f"first seen {start}..{end}"


def _auc_text(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.3f}"


def _change_note(base: ModelSpec, options: FitOptions, training: Cohort, slices: Sequence[SliceFigures]) -> str:
    note = (
        f"Fitted from {base.id} v{base.version} on {len(training.observations)} leads"
        f" {_slice(options.first_seen_from_ms, options.first_seen_until_ms)} ({training.conversions} converted within"
        f" {format_duration(options.window_ms)}); L2 logistic regression C={options.c or 1.0:g}, PDO {options.pdo:g}."
    )
    for figures in slices:
        if figures.name in ("hold-out", "test") and figures.auc:
            note += (
                f" {figures.name.capitalize()} ({figures.leads} leads, {figures.conversions} converted) AUC:"
                f" base {_auc_text(figures.auc.get('base'))}, fitted {_auc_text(figures.auc.get('fitted'))}."
            )
    if any(figures.name == "hold-out" for figures in slices):
        note += " Points refit on the whole slice after the hold-out check."
    return note


def _header(
    base: ModelSpec,
    regression: Regression,
    options: FitOptions,
    scored: tuple[Sequence[float], Sequence[bool]] | None,
    calibrated: tuple[float, float] | None,
    slices: Sequence[SliceFigures],
) -> list[str]:
    lines = [
        f"Fitted by `leadscore fit` from {base.id} v{base.version}: L2 logistic regression (C={options.c or 1.0:g}, on",
        "standardised values) on each rule's value at the lead's moment (a decayed count of its events, or 1 when",
        f"a profile matches), then points = round(coefficient x {options.pdo:g} / ln 2): every {options.pdo:g} points",
        "double the odds.",
        "A rule adds its points times its value; there are no floors or ceilings, so the score stays linear.",
        f"Regression intercept (log-odds at score 0): {regression.intercept:+.4f}.",
    ]
    if scored is not None and calibrated is not None:
        a, b = calibrated
        lines.append(f"Calibration (training slice): P(convert) = 1 / (1 + exp(-({a:+.4f} + {b:.5f} x score))),")
        lines.append("as `calibration` below (evaluate checks it on later leads; delete it when you change points).")
        lines += [f"  score {s:>4}: {100 / (1 + math.exp(-(a + b * s))):5.1f}%" for s in _score_marks(scored[0])]
    lines += figures_table(slices)
    lines.append("Edit freely: this is an ordinary model file (check it with `leadscore validate-model`).")
    return lines


def figures_table(slices: Sequence[SliceFigures]) -> list[str]:
    """ROC AUC and Brier score per slice and scorer; regression and boosting are references on the same features
    (``scoring.fitting.references``)."""
    lines = [
        "ROC AUC / Brier   leads  conv.  base            fitted          regression      boosting",
    ]
    for figures in slices:
        cells = []
        for name in ("base", "fitted", "regression", "boosting"):
            cells.append(f"{_auc_text(figures.auc.get(name)):>5} / {_brier_text(figures.brier.get(name))}")
        lines.append(f"  {figures.name:<12} {figures.leads:>6} {figures.conversions:>6}  " + "  ".join(cells))
    return lines


def _brier_text(value: float | None) -> str:
    return "n/a   " if value is None else f"{value:.4f}"


def _score_marks(scores: Sequence[float]) -> list[int]:
    ordered = sorted(scores)
    marks = {round(ordered[min(len(ordered) - 1, int(q * len(ordered)))]) for q in (0.1, 0.5, 0.9, 0.99)}
    return sorted(marks)


def _rule_note(rule: FittedRule, training: Cohort) -> str:
    stats = rule.stats
    overall = training.conversions / max(1, len(training.observations))
    note = f"coef {rule.coefficient:+.4f}; {stats.leads} training leads"
    note += f", {_rate(stats.converted, stats.leads)} converted (all {100 * overall:.1f}%)"
    if stats.held_leads or stats.held_converted:
        note += f"; hold-out {stats.held_leads} leads, {_rate(stats.held_converted, stats.held_leads)} converted"
    if conditional_effect(rule, overall):
        direction = "less" if rule.points > 0 else "more"
        note += (
            f". Conditional effect: these leads convert {direction} often than the rest, but compared with leads"
            " that match the same other rules they convert " + ("more" if rule.points > 0 else "less") + " often"
        )
    return note


def conditional_effect(rule: FittedRule, overall_rate: float) -> bool:
    """Whether the rule's points have the opposite sign of its raw effect (its leads' conversion rate against
    everyone's): its points then only make sense together with the other rules."""
    stats = rule.stats
    if stats.leads == 0 or rule.points == 0:
        return False
    raw = stats.converted / stats.leads - overall_rate
    return raw != 0 and (raw > 0) != (rule.points > 0)


def _rate(converted: int, leads: int) -> str:
    return "n/a" if leads == 0 else f"{100 * converted / leads:.1f}%"
