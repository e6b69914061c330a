"""Levels with hysteresis and the crossings (and score changes) one update produces, including those caused by
time alone: the bookkeeping shared by every kind of input."""

from __future__ import annotations

from scoring.crossingtime import first_time_score, monotone_between
from scoring.model.compile import Level, ScoringModel
from scoring.modelstate import ModelState, Scores, scores_at
from scoring.outputs import Cause, Contribution, Direction, ScoreChange, ThresholdCrossing, Update, derived_id
from scoring.state import LeadState

#: Score moves smaller than this (relative) are float noise, not changes.
EPSILON = 1e-9


def _moved(before: float, after: float) -> bool:
    return abs(after - before) > EPSILON * max(1.0, abs(before), abs(after))


def _time_may_have_crossed(model: ScoringModel, state: ModelState, now_ms: int, score_now: float) -> bool:
    """Whether time alone may have moved the lead across a level since its levels were last checked."""
    since = max(state.anchor_ms, state.levels_at_ms)
    if now_ms <= since or not model.levels:
        return False
    if any((score_now < lv.leave) if lv.name in state.levels else (score_now >= lv.enter) for lv in model.levels):
        return True
    return not monotone_between(model, state, since, now_ms)  # it may have crossed and come back


def transition_time(
    model: ScoringModel, state: ModelState, level: Level, after_ms: int, known: tuple[int, float] | None = None
) -> int | None:
    """When time alone next takes the lead into or out of ``level`` after ``after_ms`` (None: never). ``known``:
    ``(time, combined score)`` the caller already has, used when it is the start of the search."""
    start = max(after_ms, state.anchor_ms)
    score_now = known[1] if known is not None and known[0] == start else None
    if level.name in state.levels:
        return first_time_score(model, state, start, below=level.leave, score_now=score_now)
    return first_time_score(model, state, start, at_least=level.enter, score_now=score_now)


class LevelBook:
    """The level bookkeeping of one update: collects its score changes and crossings, and keeps each model's level
    state in step (a new book per input)."""

    def __init__(self, lead_id: str) -> None:
        self.lead_id = lead_id
        self.changes: list[ScoreChange] = []
        self.crossings: list[ThresholdCrossing] = []
        self.scores: dict[str, tuple[int, Scores]] = {}  # per model: the time it was scored at, its scores then

    def update(self, state: LeadState) -> Update:
        return Update(state, tuple(self.changes), tuple(self.crossings), scores=self.scores)

    def before(self, model: ScoringModel, state: ModelState, now_ms: int) -> Scores | None:
        """Call before an input changes ``state``: its scores at ``now_ms`` (None when the model does not apply),
        after the crossings that time alone made up to ``now_ms`` (those come first, at their own times)."""
        if not state.applies:
            return None
        before = scores_at(model, state, now_ms)
        if _time_may_have_crossed(model, state, now_ms, before.combined):
            checked_until = state.levels_at_ms
            self.decay_crossings(model, state, now_ms)
            state.levels_at_ms = checked_until  # moved on by :meth:`after`, only where the model still applies
        return before

    def after(
        self,
        model: ScoringModel,
        before: Scores | None,
        state: ModelState,
        now_ms: int,
        cause: Cause,
        cause_id: str,
        contributions: tuple[Contribution, ...],
    ) -> Scores:
        """Call after the input changed ``state``: its new score, the levels it entered or left, and the change
        (when the score moved). Returns the new scores at ``now_ms``."""
        after = scores_at(model, state, now_ms)
        state.score = after.combined
        self.scores[model.id] = (now_ms, after)
        if not state.applies:
            self._leave_all(model, state, after.combined, cause, cause_id, now_ms)
            return after
        previous = before.combined if before is not None else 0.0
        self._levels(model, state, after.combined, cause, cause_id, now_ms)
        state.levels_at_ms = max(state.levels_at_ms, now_ms)
        if _moved(previous, after.combined):
            self.changes.append(self._change(model, state, previous, after, cause, cause_id, now_ms, contributions))
        return after

    def decay_crossings(self, model: ScoringModel, state: ModelState, now_ms: int) -> None:
        """Levels left (or entered) through time alone up to ``now_ms``, each at the exact time it happened."""
        since = max(state.anchor_ms, state.levels_at_ms)
        if _time_may_have_crossed(model, state, now_ms, scores_at(model, state, now_ms).combined):
            while True:
                due = [
                    (at, lv)
                    for lv in model.levels
                    if (at := transition_time(model, state, lv, since)) is not None and at <= now_ms
                ]
                if not due:
                    break
                since, _ = min(due, key=lambda item: (item[0], item[1].enter))
                self._levels(model, state, scores_at(model, state, since).combined, Cause.DECAY, None, since)
        state.levels_at_ms = now_ms

    def _levels(
        self, model: ScoringModel, state: ModelState, score: float, cause: Cause, cause_id: str | None, at_ms: int
    ) -> None:
        entered = [lv for lv in model.levels if lv.name not in state.levels and score >= lv.enter]
        left = [lv for lv in reversed(model.levels) if lv.name in state.levels and score < lv.leave]
        for level in entered:
            state.levels.append(level.name)
            self._cross(model, level, Direction.UP, level.enter, score, cause, cause_id, at_ms)
        for level in left:
            state.levels.remove(level.name)
            self._cross(model, level, Direction.DOWN, level.leave, score, cause, cause_id, at_ms)
        if len(state.levels) > 1:
            order = [lv.name for lv in model.levels]
            state.levels.sort(key=order.index)

    def _leave_all(
        self, model: ScoringModel, state: ModelState, score: float, cause: Cause, cause_id: str, at_ms: int
    ) -> None:
        for level in reversed(model.levels):
            if level.name in state.levels:
                state.levels.remove(level.name)
                self._cross(model, level, Direction.DOWN, level.leave, score, cause, cause_id, at_ms)

    def _cross(
        self,
        model: ScoringModel,
        level: Level,
        direction: Direction,
        threshold: float,
        score: float,
        cause: Cause,
        cause_id: str | None,
        at_ms: int,
    ) -> None:
        self.crossings.append(
            ThresholdCrossing(
                crossing_id=derived_id(
                    "crossing", self.lead_id, model.id, model.version, level.name, direction, cause, cause_id or at_ms
                ),
                lead_id=self.lead_id,
                model_id=model.id,
                model_version=model.version,
                level=level.name,
                direction=direction,
                threshold=threshold,
                score=score,
                cause=cause,
                cause_event_id=cause_id,
                occurred_at_ms=at_ms,
            )
        )

    def _change(
        self,
        model: ScoringModel,
        state: ModelState,
        previous: float,
        after: Scores,
        cause: Cause,
        cause_id: str,
        at_ms: int,
        contributions: tuple[Contribution, ...],
    ) -> ScoreChange:
        return ScoreChange(
            change_id=derived_id("change", self.lead_id, model.id, model.version, cause, cause_id),
            lead_id=self.lead_id,
            model_id=model.id,
            model_version=model.version,
            previous_score=previous,
            score=after.combined,
            engagement=after.engagement,
            fit=after.fit,
            grade=after.grade,
            level=state.levels[-1] if state.levels else None,
            cause=cause,
            cause_event_id=cause_id,
            occurred_at_ms=at_ms,
            contributions=contributions,
        )
