"""One model's chart on the lead page, as inline SVG: dated axes, the score, engagement and fit over time, the
level lines, the crossings, the largest moves (with tooltips), and the dashed projection from now on.

Every element a test (or a reader of the DOM) looks for has a class: ``series score|engagement|fit``,
``projection``, ``level``, ``crossing up|down``, ``move``, ``drop``, ``now``. Text from data is escaped.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime
from html import escape

from streams.worker.ui.page import DAY_MS, ModelView, Point

WIDTH, HEIGHT = 1080, 340
LEFT, RIGHT, TOP, BOTTOM = 56, 96, 16, 36  # margins: the y labels, the level labels, the x labels
COLOURS = {"score": "#1f6feb", "engagement": "#2da44e", "fit": "#bf8700", "level": "#8250df", "move": "#cf222e"}
_HOUR_MS = 3_600_000
_TICK_STEPS_MS = (_HOUR_MS, 6 * _HOUR_MS, DAY_MS, 2 * DAY_MS, 7 * DAY_MS, 14 * DAY_MS, 30 * DAY_MS, 90 * DAY_MS)
_MAX_TICKS = 8


@dataclass(frozen=True, slots=True)
class Scale:
    """Maps a time and a value to the plot's pixels (x grows with time, y grows down as values grow up)."""

    start_ms: int
    end_ms: int
    low: float
    high: float
    width: int = WIDTH
    height: int = HEIGHT

    def x(self, at_ms: int) -> float:
        plot = self.width - LEFT - RIGHT
        return round(LEFT + plot * (at_ms - self.start_ms) / max(1, self.end_ms - self.start_ms), 1)

    def y(self, value: float) -> float:
        plot = self.height - TOP - BOTTOM
        return round(TOP + plot * (self.high - value) / (self.high - self.low), 1)


def scale_for(view: ModelView) -> Scale:
    """Time from the first point kept (at least a day before now) to the projection's end; values from the lowest
    (or 0) to a tenth above the highest of the lines and the level thresholds."""
    points = [*view.score_line, *view.engagement_line, *view.fit_line, *view.projection]
    times = [p.at_ms for p in points]
    values = [p.value for p in points] + [lv.enter for lv in view.level_lines] + [lv.leave for lv in view.level_lines]
    start = min([view.now_ms - DAY_MS, *times])
    end = max([view.now_ms + DAY_MS, *times])
    low, high = min([0.0, *values]), max([0.0, *values])
    span = high - low or 10.0
    return Scale(start, end, low - (span * 0.05 if low < 0 else 0.0), high + span * 0.1)


def chart(view: ModelView) -> str:
    """The model's chart as one ``<svg>`` element."""
    scale = scale_for(view)
    parts = [
        f'<svg class="chart" xmlns="http://www.w3.org/2000/svg" width="{WIDTH}" height="{HEIGHT}"'
        f' viewBox="0 0 {WIDTH} {HEIGHT}" role="img" aria-label="{escape(view.model_id)} score over time">',
        *_axes(scale),
        *_levels(view, scale),
        _polyline("series fit", view.fit_line, scale, COLOURS["fit"], 1.5),
        _polyline("series engagement", view.engagement_line, scale, COLOURS["engagement"], 1.5),
        _polyline("series score", view.score_line, scale, COLOURS["score"], 2.5),
        _polyline("projection", view.projection, scale, COLOURS["score"], 2.0, dashed=True),
        _now(view, scale),
        *_crossings(view, scale),
        *_moves(view, scale),
        *_drops(view, scale),
        "</svg>",
    ]
    return "\n".join(part for part in parts if part)


def _polyline(kind: str, line: tuple[Point, ...], scale: Scale, colour: str, width: float, dashed: bool = False) -> str:
    if not line:
        return ""
    points = " ".join(f"{scale.x(p.at_ms)},{scale.y(p.value)}" for p in line)
    dash = ' stroke-dasharray="7 5"' if dashed else ""
    return (
        f'<polyline class="{kind}" points="{points}" fill="none" stroke="{colour}" stroke-width="{width}"{dash}'
        ' stroke-linejoin="round"/>'
    )


def date_ticks(start_ms: int, end_ms: int) -> list[tuple[int, str]]:
    """Times for the x axis's labels: the smallest step that gives at most eight, aligned to it (UTC)."""
    span = end_ms - start_ms
    step = next((s for s in _TICK_STEPS_MS if span / s <= _MAX_TICKS), _TICK_STEPS_MS[-1])
    form = "%m-%d %H:%M" if step < DAY_MS else "%Y-%m-%d"
    first = -(-start_ms // step) * step
    return [(at, datetime.fromtimestamp(at / 1000, UTC).strftime(form)) for at in range(first, end_ms + 1, step)][
        : _MAX_TICKS + 1
    ]


def _axes(scale: Scale) -> list[str]:
    bottom, right = scale.height - BOTTOM, scale.width - RIGHT
    parts = [
        f'<rect x="{LEFT}" y="{TOP}" width="{right - LEFT}" height="{bottom - TOP}" fill="#f6f8fa"/>',
        f'<line class="axis x" x1="{LEFT}" y1="{bottom}" x2="{right}" y2="{bottom}" stroke="#57606a"/>',
        f'<line class="axis y" x1="{LEFT}" y1="{TOP}" x2="{LEFT}" y2="{bottom}" stroke="#57606a"/>',
    ]
    for at, label in date_ticks(scale.start_ms, scale.end_ms):
        x = scale.x(at)
        parts.append(f'<line x1="{x}" y1="{TOP}" x2="{x}" y2="{bottom}" stroke="#d0d7de" stroke-width="0.5"/>')
        parts.append(f'<text class="tick x" x="{x}" y="{bottom + 16}" text-anchor="middle">{label}</text>')
    for value in _value_ticks(scale.low, scale.high):
        y = scale.y(value)
        parts.append(f'<text class="tick y" x="{LEFT - 6}" y="{y + 4}" text-anchor="end">{value:g}</text>')
    return parts


def _value_ticks(low: float, high: float) -> list[float]:
    span = high - low
    step = next((s for s in (1, 2, 5, 10, 20, 25, 50, 100, 200, 500, 1000) if span / s <= 6), 10 ** len(str(int(span))))
    return [float(v) for v in range(int(-(-low // step) * step), int(high) + 1, int(step))]


def _levels(view: ModelView, scale: Scale) -> list[str]:
    parts = []
    right = scale.width - RIGHT
    for level in view.level_lines:
        y = scale.y(level.enter)
        name = escape(level.name)
        parts.append(
            f'<line class="level" data-level="{name}" x1="{LEFT}" y1="{y}" x2="{right}" y2="{y}"'
            f' stroke="{COLOURS["level"]}" stroke-width="1"><title>{name}: entered at {level.enter:g},'
            f" left below {level.leave:g}</title></line>"
        )
        parts.append(f'<text class="level-label" x="{right + 6}" y="{y + 4}">{name} {level.enter:g}</text>')
        if level.leave != level.enter:
            y_leave = scale.y(level.leave)
            parts.append(
                f'<line class="level leave" x1="{LEFT}" y1="{y_leave}" x2="{right}" y2="{y_leave}"'
                f' stroke="{COLOURS["level"]}" stroke-width="0.8" stroke-dasharray="2 4" opacity="0.7"/>'
            )
    return parts


def _now(view: ModelView, scale: Scale) -> str:
    x = scale.x(view.now_ms)
    return (
        f'<line class="now" x1="{x}" y1="{TOP}" x2="{x}" y2="{scale.height - BOTTOM}" stroke="#57606a"'
        f' stroke-dasharray="3 3"/><text x="{x + 4}" y="{TOP + 12}" class="now-label">now</text>'
    )


def _crossings(view: ModelView, scale: Scale) -> list[str]:
    parts = []
    for crossing in view.crossings:
        x, y = scale.x(crossing.at_ms), scale.y(crossing.score)
        way, colour, word = ("up", "#1a7f37", "entered") if crossing.up else ("down", "#cf222e", "left")
        tip = f"{word} {crossing.level} at {_when(crossing.at_ms)} (score {crossing.score:.2f})"
        parts.append(
            f'<circle class="crossing {way}" cx="{x}" cy="{y}" r="6" fill="white" stroke="{colour}"'
            f' stroke-width="2.5"><title>{escape(tip)}</title></circle>'
        )
    return parts


def _moves(view: ModelView, scale: Scale) -> list[str]:
    parts = []
    for move in view.top_moves:
        x, y = scale.x(move.at_ms), scale.y(move.score)
        what = move.event_type or move.cause
        rule = f", {move.rule_id} {move.points:+.2f}" if move.rule_id else ""
        tip = f"{what}{rule}: {move.previous:.2f} to {move.score:.2f} ({move.delta:+.2f}) at {_when(move.at_ms)}"
        parts.append(
            f'<path class="move" d="M{x} {y - 7} L{x + 6} {y} L{x} {y + 7} L{x - 6} {y} Z"'
            f' fill="{COLOURS["move"]}" opacity="0.85"><title>{escape(tip)}</title></path>'
        )
    return parts


def _drops(view: ModelView, scale: Scale) -> list[str]:
    parts = []
    for drop in view.drops:
        if drop.at_ms is None or drop.at_ms > scale.end_ms:
            continue
        x, y = scale.x(drop.at_ms), scale.y(drop.threshold)
        tip = f"drops below {drop.level} ({drop.threshold:g}) at {_when(drop.at_ms)}"
        parts.append(
            f'<rect class="drop" x="{x - 5}" y="{y - 5}" width="10" height="10" fill="{COLOURS["level"]}">'
            f"<title>{escape(tip)}</title></rect>"
        )
    return parts


def _when(at_ms: int) -> str:
    return datetime.fromtimestamp(at_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")
