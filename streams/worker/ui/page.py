"""The lead page's view model: what one stored lead looks like under every model that applies to it, at a time.

The past comes from the moves kept beside the state (:class:`scoring.trail.Move`, ADR 040): at each score change
the score just before and just after it (both exact), engagement and fit after it, and the rule that moved it
most; at each crossing the score there. The future is computed from the live state: the exact decayed scores
from now on (:func:`scoring.modelstate.scores_at` at sample times) and, per level held, the exact time time alone
takes the lead below it (the snapshot's ``drops``, ADR 038).
"""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass

from scoring import Direction, Engine, LeadState, ScoringModel
from scoring.modelstate import ModelState, scores_at
from scoring.path import path_to
from scoring.trail import Move
from streams.worker.stored import StoredLead

DAY_MS = 86_400_000
#: The projection shows at least this much of the future, and at most :data:`LONGEST_PROJECTION_MS`.
SHORTEST_PROJECTION_MS = 14 * DAY_MS
LONGEST_PROJECTION_MS = 180 * DAY_MS
PROJECTION_SAMPLES = 64
TOP_MOVES = 5  # the moves marked on the chart: the largest score changes


@dataclass(frozen=True, slots=True)
class Point:
    at_ms: int
    value: float


@dataclass(frozen=True, slots=True)
class LevelLine:
    name: str
    enter: float
    leave: float


@dataclass(frozen=True, slots=True)
class Crossing:
    at_ms: int
    score: float
    level: str
    up: bool


@dataclass(frozen=True, slots=True)
class ScoreMove:
    """One score change: when, by how much, and what caused it (the rule that moved it most, its event type)."""

    at_ms: int
    previous: float
    score: float
    cause: str  # "event" or "profile"
    rule_id: str | None
    event_type: str | None  # the rule's event type (None: a fit rule, or a rule no longer in the model)
    points: float

    @property
    def delta(self) -> float:
        return self.score - self.previous


@dataclass(frozen=True, slots=True)
class Drop:
    """When time alone takes the lead below a level it holds (``at_ms`` None: it does not drop)."""

    level: str
    threshold: float
    at_ms: int | None


@dataclass(frozen=True, slots=True)
class PathView:
    """The path to the next level: what it takes to get there (computed by ``scoring.path``, issue 17)."""

    level: str
    points_needed: float
    steps: tuple[str, ...]  # each a sentence a reader can act on, e.g. "1 x demo_request (demo-request, +40)"


@dataclass(frozen=True, slots=True)
class ModelView:
    model_id: str
    version: int
    now_ms: int
    score: float
    engagement: float
    fit: float
    grade: str
    levels_held: tuple[str, ...]
    level_lines: tuple[LevelLine, ...]
    score_line: tuple[Point, ...]  # the past, up to now
    engagement_line: tuple[Point, ...]
    fit_line: tuple[Point, ...]
    projection: tuple[Point, ...]  # the score from now on, with no new input
    crossings: tuple[Crossing, ...]
    moves: tuple[ScoreMove, ...]  # newest first
    top_moves: tuple[ScoreMove, ...]  # the largest changes, by size
    drops: tuple[Drop, ...]
    top_contributors: tuple[tuple[str, float], ...]
    path: PathView | None  # None: every level held (or none)


@dataclass(frozen=True, slots=True)
class LeadPage:
    lead_id: str
    now_ms: int
    models: tuple[ModelView, ...]  # the models that apply to the lead


def build_page(engine: Engine, lead: StoredLead, now_ms: int) -> LeadPage:
    """The page of ``lead`` at ``now_ms`` (not before its last activity): decay crossings up to then included."""
    advanced = engine.advance(lead.state, now_ms)
    crossed = [
        Move(x.occurred_at_ms, x.model_id, "U" if x.direction is Direction.UP else "D", round(x.score * 100), x.level)
        for x in advanced.crossings  # made by time alone since the lead's levels were last checked (not yet reported)
    ]
    moves = [*(lead.moves or ()), *crossed]
    views = []
    for snapshot in engine.snapshot(advanced.state, now_ms):
        model = next(m for m in engine.models if m.id == snapshot.model_id)
        model_state = advanced.state.models.get(model.id)
        if not snapshot.applies or model_state is None:
            continue
        at = max(now_ms, model_state.anchor_ms)
        own = sorted((m for m in moves if m.model_id == model.id), key=lambda m: m.at_ms)
        changes = [_score_move(model, m) for m in own if m.is_change]
        leave = {lv.name: lv.leave for lv in model.levels}
        drops = tuple(Drop(name, leave[name], at_ms) for name, at_ms in snapshot.drops)  # the engine's (ADR 038)
        views.append(
            ModelView(
                model_id=model.id,
                version=model.version,
                now_ms=at,
                score=snapshot.score,
                engagement=snapshot.engagement,
                fit=snapshot.fit,
                grade=snapshot.grade,
                levels_held=snapshot.levels,
                level_lines=tuple(LevelLine(lv.name, lv.enter, lv.leave) for lv in model.levels),
                score_line=(*_score_points(own), Point(at, snapshot.score)),
                engagement_line=(
                    *(Point(m.at_ms, m.engagement) for m in own if m.is_change),
                    Point(at, snapshot.engagement),
                ),
                fit_line=(*(Point(m.at_ms, m.fit) for m in own if m.is_change), Point(at, snapshot.fit)),
                projection=_projection(model, model_state, at, drops),
                crossings=tuple(
                    Crossing(m.at_ms, m.score, m.level or "", m.kind == "U") for m in own if not m.is_change
                ),
                moves=tuple(reversed(changes)),
                top_moves=tuple(sorted(changes, key=lambda c: (-abs(c.delta), -c.at_ms))[:TOP_MOVES]),
                drops=drops,
                top_contributors=snapshot.top_contributors,
                path=path_view(engine, model, advanced.state, at),
            )
        )
    return LeadPage(lead.state.lead_id, now_ms, tuple(views))


def path_view(engine: Engine, model: ScoringModel, state: LeadState, at_ms: int) -> PathView | None:
    """The path (:func:`scoring.path.path_to`, ADR 038) to ``model``'s lowest level the lead does not hold, at
    ``at_ms``; None when it holds every level (or the model has none)."""
    model_state = state.models.get(model.id)
    held = model_state.levels if model_state is not None else []
    level = next((lv for lv in model.levels if lv.name not in held), None)
    if level is None:
        return None
    path = path_to(model, state, level.name, at_ms)
    needed = max(0.0, path.threshold - path.score_now)
    if path.status != "reachable":
        return PathView(level.name, needed, (path.reason or path.status.replace("_", " "),))
    counted = Counter((action.rule_id, action.event_type, action.points) for action in path.actions)
    steps = tuple(
        f"{n} x {event_type} ({rule_id}, +{points:g}{' each' if n > 1 else ''})"
        for (rule_id, event_type, points), n in counted.items()
    )
    return PathView(level.name, needed, steps)


def _score_move(model: ScoringModel, move: Move) -> ScoreMove:
    rule = model.by_id.get(move.rule_id) if move.rule_id is not None else None
    cause = "profile" if move.kind == "P" else "event"
    return ScoreMove(
        move.at_ms, move.previous, move.score, cause, move.rule_id, rule.event if rule else None, move.points
    )


def _score_points(moves: list[Move]) -> list[Point]:
    """The score just before and after each change (a jump at the change), and at each crossing."""
    points: list[Point] = []
    for move in moves:
        if move.is_change:
            points.append(Point(move.at_ms, move.previous))
        points.append(Point(move.at_ms, move.score))
    return points


def _projection(model: ScoringModel, state: ModelState, at_ms: int, drops: tuple[Drop, ...]) -> tuple[Point, ...]:
    """The exact score at evenly spaced times from ``at_ms`` on, and at each drop (so the line meets its marker)."""
    due = [drop.at_ms - at_ms for drop in drops if drop.at_ms is not None]
    span = min(LONGEST_PROJECTION_MS, max([SHORTEST_PROJECTION_MS, *(int(d * 1.25) for d in due)]))
    times = {at_ms + span * n // PROJECTION_SAMPLES for n in range(PROJECTION_SAMPLES + 1)}
    times |= {drop.at_ms for drop in drops if drop.at_ms is not None and drop.at_ms <= at_ms + span}
    return tuple(Point(t, scores_at(model, state, t).combined) for t in sorted(times))
