"""One ``leadscore evaluate`` run: a history in, one evaluation report per model out.

The cohort (who is scored when, who converted) comes from :func:`scoring.evaluation.cohort.build_cohort`. Each
observed lead is replayed up to its moment and nothing later (:func:`scoring.evaluation.cohort.states_at`), then
scored under every model at that moment, levels left by decay alone included
(:func:`scoring.evaluation.cohort.snapshots_at`). A model with a segment is evaluated only on the leads it applies
to; the others are counted as ``outside_segment``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field

from scoring import Engine, ScoringModel
from scoring.evaluation.advice import behaviour_after_moment
from scoring.evaluation.cohort import Cohort, CohortSpec, Replay, build_cohort, snapshots_at
from scoring.evaluation.quality import NO_LEVEL, EvaluationError, EvaluationReport, evaluate
from streams.analysis.history import History

Progress = Callable[[int, int], None]  # (leads replayed so far, leads in all)
#: Leads are replayed in this many batches (for the progress bar; the result does not depend on it).


@dataclass(frozen=True, slots=True)
class ModelEvaluation:
    model_id: str
    model_version: int
    outside_segment: int  # observed leads the model does not apply to (left out of its report)
    report: EvaluationReport


@dataclass(frozen=True)
class EvaluationRun:
    spec: CohortSpec
    data_end_ms: int
    leads: int  # observed leads of the cohort
    conversions: int
    excluded: dict[str, int]  # leads left out of the cohort, by reason
    skipped_records: int  # input records that did not decode or check (with --skip-invalid, or on topics)
    models: tuple[ModelEvaluation, ...] = field(default_factory=tuple)
    warnings: tuple[str, ...] = ()  # what to know before trusting the figures (scoring.evaluation.advice)


def evaluate_history(
    models: Sequence[ScoringModel],
    history: History,
    spec: CohortSpec,
    target_capture: float | None = None,
    progress: Progress | None = None,
) -> EvaluationRun:
    """Evaluate every model on the cohort of ``history``. Raises :class:`EvaluationError` when the cohort is
    empty or has no conversions (the message gives the exclusions)."""
    cohort = build_cohort(history.events, history.profiles, history.conversions, spec)
    _check_cohort(cohort, spec)
    engine = Engine(models)
    moments = cohort.moments()
    done = 0

    def advance(leads: int) -> None:
        nonlocal done
        done += leads
        if progress is not None:
            progress(done, len(moments))

    states = Replay.of(history.events, history.profiles).states(engine, moments, advance)
    snapshots = snapshots_at(engine, states, cohort)
    evaluations = []
    for index, model in enumerate(models):
        ranked_levels = [level.name for level in sorted(model.levels, key=lambda level: level.enter)]
        scores: list[float] = []
        labels: list[bool] = []
        levels: list[str] = []
        outside = 0
        for observation in cohort.observations:
            snapshot = snapshots[observation.lead_id][index]
            if not snapshot.applies:
                outside += 1
                continue
            scores.append(snapshot.score)
            labels.append(observation.converted)
            levels.append(next((name for name in reversed(ranked_levels) if name in snapshot.levels), NO_LEVEL))
        try:
            line = model.calibration
            own = None if line is None else (line.intercept, line.slope, line.learnt_on)
            report = evaluate(scores, labels, levels, [*reversed(ranked_levels), NO_LEVEL], target_capture, own)
        except EvaluationError as exc:
            raise EvaluationError(f"model {model.id}: {exc}") from None
        evaluations.append(ModelEvaluation(model.id, model.version, outside, report))
    return EvaluationRun(
        spec,
        cohort.data_end_ms,
        len(cohort.observations),
        cohort.conversions,
        dict(sorted(cohort.excluded.items())),
        len(history.skipped),
        tuple(evaluations),
        tuple(behaviour_after_moment(history.events, moments, spec.observe_after_ms)),
    )


def _check_cohort(cohort: Cohort, spec: CohortSpec) -> None:
    excluded = ", ".join(f"{count} {reason}" for reason, count in sorted(cohort.excluded.items())) or "none"
    outcomes = "/".join(sorted(spec.outcomes))
    if not cohort.observations:
        raise EvaluationError(f"no leads in the cohort (excluded: {excluded}); widen the time slice or the data")
    if cohort.conversions == 0:
        raise EvaluationError(
            f"no conversions in the cohort of {len(cohort.observations)} leads ({outcomes} within the window; "
            f"excluded: {excluded}); check --outcome, --window and that conversion lead ids match the events"
        )
