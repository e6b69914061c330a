"""Rescoring by replaying history (``leadscore models rescore``): every lead's score under new model files,
recomputed with the worker's engine from the input topics or from files, compared with the live scores, and,
only when asked, published or turned into threshold crossings.

Nothing here writes to a topic by itself: :func:`crossings_against_live` and :func:`score_records` build the
records, and the command decides where (if anywhere) they go.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field

from scoring import Cause, Direction, Engine, LeadscoreError, ThresholdCrossing, derived_id
from scoring.evaluation.comparison import Comparison, ScorePoint, compare, level_changes
from streams.analysis.history import History
from streams.analysis.livescores import LatestScores
from streams.analysis.offline import OfflineRun, score_history
from streams.kafka.codec import AvroCodec

#: Events applied between two progress updates.
CHUNK = 5_000


class RescoreError(LeadscoreError):
    """The rescore cannot run as asked; the message says which option to change."""


@dataclass
class Rescore:
    """Lead states after replaying a history, valued at ``at_ms``. ``after_at``: records later than ``at_ms``
    left out; ``erased``: leads left out because their live score is a tombstone (erased on request)."""

    engine: Engine
    run: OfflineRun
    at_ms: int
    after_at: int = 0
    erased: set[str] = field(default_factory=set)

    def points(self) -> dict[str, dict[str, ScorePoint]]:
        """Model id -> lead id -> score and levels at ``at_ms``, for the leads each model applies to."""
        points: dict[str, dict[str, ScorePoint]] = {model.id: {} for model in self.engine.models}
        for lead_id, state in self.run.states.items():
            for snapshot in self.engine.snapshot(state, self.at_ms, top=0, drops=False):
                if snapshot.applies:
                    points[snapshot.model_id][lead_id] = ScorePoint(snapshot.score, snapshot.levels)
        return points


def replay(
    engine: Engine,
    history: History,
    at_ms: int | None = None,
    skip_invalid: bool = False,
    progress: Callable[[int, int], None] | None = None,
) -> Rescore:
    """Fold ``history`` into lead states with ``engine`` (profiles first, then events in event-time order, as
    ``leadscore score`` does), then advance every lead to ``at_ms`` (default: the latest time in the history) so
    that levels left or entered through decay alone are right at that time, as the live worker's decay ticks make
    them. Records after ``at_ms`` are left out and counted."""
    events = [event for event in history.events if at_ms is None or event.occurred_at_ms <= at_ms]
    profiles = [profile for profile in history.profiles if at_ms is None or profile.updated_at_ms <= at_ms]
    after_at = len(history.events) - len(events) + len(history.profiles) - len(profiles)
    events.sort(key=lambda event: (event.occurred_at_ms, event.event_id))
    run = OfflineRun(skipped=list(history.skipped))
    score_history(engine, (), profiles, run, skip_invalid)
    for start in range(0, len(events), CHUNK):  # sorted globally, so chunk by chunk is the same fold
        score_history(engine, events[start : start + CHUNK], (), run, skip_invalid)
        if progress is not None:
            progress(min(start + CHUNK, len(events)), len(events))
    at = at_ms if at_ms is not None else run.latest_ms
    run.states = {lead_id: engine.advance(state, at).state for lead_id, state in run.states.items()}
    return Rescore(engine, run, at, after_at)


def forget_erased(rescore: Rescore, erased: Iterable[str]) -> None:
    """Drop leads erased on request: their events may still be on the input topics, but they must not come back."""
    gone = set(erased) & set(rescore.run.states)
    for lead_id in gone:
        del rescore.run.states[lead_id]
    rescore.erased |= gone


def compare_with_live(rescore: Rescore, live: LatestScores, top: int = 10) -> dict[str, Comparison]:
    """Per new model, the live scores of the same model id against the rescored ones. Level changes count only
    rescored leads: a lead with a live score but no history left on the input topics was not rescored."""
    rescored = rescore.points()
    return {
        model.id: compare(live.of(model.id), rescored[model.id], top, level_leads=rescore.run.states)
        for model in rescore.engine.models
    }


@dataclass
class Crossings:
    """Crossings that bring downstream consumers from the live levels to the rescored ones. ``unknown_levels``:
    live levels the new model does not define (renamed or removed), for which no crossing can be stated."""

    crossings: list[ThresholdCrossing] = field(default_factory=list)
    unknown_levels: dict[str, int] = field(default_factory=dict)


def cause_event_id(model_id: str, version: int) -> str:
    return f"rescore:{model_id}@v{version}"


def crossing_id(lead_id: str, model_id: str, version: int, level: str, direction: Direction) -> str:
    """Stable across runs: re-running the same rescore gives the same ids, so downstream can drop repeats."""
    return derived_id(lead_id, model_id, version, level, direction.value, "rescore")


def crossings_against_live(rescore: Rescore, live: LatestScores) -> Crossings:
    """One ThresholdCrossed per level each rescored lead enters or leaves relative to its live levels under the
    same model id (a lead without a live score is in no level). Cause EVENT (the released contract has no other
    fitting value), ``cause_event_id`` ``rescore:<model>@v<version>``, at the rescore's time."""
    result = Crossings()
    rescored = rescore.points()
    for position, model in enumerate(rescore.engine.models):  # snapshots come in the engine's model order
        levels = {level.name: level for level in model.levels}
        for change in level_changes(live.of(model.id), rescored[model.id], leads=rescore.run.states):
            point = rescored[model.id].get(change.lead_id)  # None: outside the model's segment now
            state = rescore.run.states[change.lead_id]
            if point:
                score = point.score
            else:
                score = rescore.engine.snapshot(state, rescore.at_ms, top=0, drops=False)[position].score
            moves = [(name, Direction.UP) for name in change.entered]
            moves += [(name, Direction.DOWN) for name in reversed(change.left)]
            for name, direction in moves:
                level = levels.get(name)
                if level is None:
                    result.unknown_levels[name] = result.unknown_levels.get(name, 0) + 1
                    continue
                result.crossings.append(
                    ThresholdCrossing(
                        crossing_id=crossing_id(change.lead_id, model.id, model.version, name, direction),
                        lead_id=change.lead_id,
                        model_id=model.id,
                        model_version=model.version,
                        level=name,
                        direction=direction,
                        threshold=level.enter if direction is Direction.UP else level.leave,
                        score=score,
                        cause=Cause.EVENT,
                        cause_event_id=cause_event_id(model.id, model.version),
                        occurred_at_ms=rescore.at_ms,
                    )
                )
    return result


def crossing_records(crossings: Iterable[ThresholdCrossing], codec: AvroCodec) -> Iterator[tuple[str, bytes]]:
    for crossing in crossings:
        yield crossing.lead_id, codec.encode_crossing(crossing)


def score_records(rescore: Rescore, codec: AvroCodec) -> Iterator[tuple[str, bytes]]:
    """One LeadScore per rescored lead (every model that applies to it), valued at the rescore's time."""
    for lead_id in sorted(rescore.run.states):
        snapshots = rescore.engine.snapshot(rescore.run.states[lead_id], rescore.at_ms, top=0, drops=False)
        yield lead_id, codec.encode_scores(lead_id, rescore.at_ms, snapshots)
