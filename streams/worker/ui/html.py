"""The lead page as one HTML document: inline CSS, inline SVG charts, no script. Everything from data (lead ids,
model ids, rule ids, level names) is escaped."""

from __future__ import annotations

from datetime import UTC, datetime
from html import escape

from streams.worker.ui.page import LeadPage, ModelView
from streams.worker.ui.svg import COLOURS, chart

_STYLE = """
body { font: 14px/1.45 system-ui, sans-serif; color: #1f2328; margin: 24px; background: #fff; }
h1 { font-size: 20px; margin: 0 0 4px; } h2 { font-size: 17px; margin: 24px 0 6px; }
h3 { font-size: 14px; margin: 12px 0 4px; } .muted { color: #57606a; }
.figures span { margin-right: 18px; } .figures b { font-size: 16px; }
.key span { margin-right: 14px; } .key i { display: inline-block; width: 18px; height: 3px; vertical-align: middle; }
.chart text { font-size: 11px; fill: #57606a; } .chart .level-label { fill: #8250df; font-weight: 600; }
.columns { display: flex; gap: 32px; flex-wrap: wrap; } .columns section { min-width: 240px; }
table { border-collapse: collapse; } td, th { padding: 2px 10px 2px 0; text-align: left; }
td.num { text-align: right; font-variant-numeric: tabular-nums; }
"""


def render_page(page: LeadPage) -> str:
    """The whole document for one lead."""
    models = ", ".join(f"{escape(m.model_id)} v{m.version}" for m in page.models) or "none applies"
    body = [
        "<header>",
        f'<h1>Lead <span class="lead-id">{escape(page.lead_id)}</span></h1>',
        f'<div class="muted">at {_when(page.now_ms)} &middot; models: {models}</div>',
        "</header>",
    ]
    if not page.models:
        body.append('<p class="empty">No model applies to this lead.</p>')
    body.extend(_model_section(view) for view in page.models)
    return _document(f"Lead {page.lead_id}", "\n".join(body))


def render_error(title: str, message: str) -> str:
    """A short page for a refusal or a missing lead (the status code says which)."""
    return _document(title, f'<h1>{escape(title)}</h1>\n<p class="error">{escape(message)}</p>')


def _document(title: str, body: str) -> str:
    return (
        '<!DOCTYPE html>\n<html lang="en"><head><meta charset="utf-8">'
        f"<title>{escape(title)}</title><style>{_STYLE}</style></head>\n<body>\n{body}\n</body></html>\n"
    )


def _model_section(view: ModelView) -> str:
    held = ", ".join(escape(name) for name in view.levels_held) or "none"
    key = "".join(
        f'<span><i style="background:{COLOURS[name]}"></i> {name}</span>' for name in ("score", "engagement", "fit")
    )
    return "\n".join(
        [
            f'<section class="model" data-model="{escape(view.model_id)}">',
            f'<h2>{escape(view.model_id)} <span class="muted">v{view.version}</span></h2>',
            '<div class="figures">'
            f"<span>score <b>{view.score:.2f}</b></span><span>engagement <b>{view.engagement:.2f}</b></span>"
            f"<span>fit <b>{view.fit:.2f}</b> (grade {escape(view.grade)})</span>"
            f"<span>levels <b>{held}</b></span></div>",
            f'<div class="key muted">{key}<span>- - - projection (no new activity)</span>'
            "<span>&#9670; largest moves</span><span>&#9675; crossings</span></div>",
            chart(view),
            '<div class="columns">',
            _drops(view),
            _path(view),
            _contributors(view),
            "</div>",
            _moves(view),
            "</section>",
        ]
    )


def _drops(view: ModelView) -> str:
    if not view.drops:
        items = ['<li class="no-level">holds no level</li>']
    else:
        items = [
            f'<li class="drop">drops below {escape(d.level)} at {_when(d.at_ms)}</li>'
            if d.at_ms is not None
            else f'<li class="drop">does not drop below {escape(d.level)}</li>'
            for d in view.drops
        ]
    return '<section class="drops"><h3>Levels held</h3><ul>' + "".join(items) + "</ul></section>"


def _path(view: ModelView) -> str:
    if view.path is None:
        inner = '<p class="muted top-level">every level held: none left to reach</p>'
    else:
        steps = "".join(f"<li>{escape(step)}</li>" for step in view.path.steps)
        inner = f"<p>{view.path.points_needed:.2f} points to {escape(view.path.level)}</p><ol>{steps}</ol>"
    return f'<section class="path"><h3>Path to the next level</h3>{inner}</section>'


def _contributors(view: ModelView) -> str:
    rows = "".join(
        f'<tr><td>{escape(rule_id)}</td><td class="num">{value:+.2f}</td></tr>'
        for rule_id, value in view.top_contributors
    )
    return f'<section class="contributors"><h3>Top contributors</h3><table>{rows}</table></section>'


def _moves(view: ModelView) -> str:
    if not view.moves:
        return '<section class="moves"><h3>Events that moved it</h3><p class="muted">none kept</p></section>'
    rows = "".join(
        "<tr>"
        f"<td>{_when(m.at_ms)}</td><td>{escape(m.event_type or m.cause)}</td><td>{escape(m.rule_id or '')}</td>"
        f'<td class="num">{m.points:+.2f}</td><td class="num">{m.previous:.2f} &rarr; {m.score:.2f}</td>'
        f'<td class="num">{m.delta:+.2f}</td></tr>'
        for m in view.moves
    )
    head = "<tr><th>when</th><th>what</th><th>top rule</th><th>its points</th><th>score</th><th>change</th></tr>"
    return f'<section class="moves"><h3>Events that moved it</h3><table>{head}{rows}</table></section>'


def _when(at_ms: int) -> str:
    return datetime.fromtimestamp(at_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M UTC")
