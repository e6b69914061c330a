"""Scoring files of events and profiles without a broker: ``leadscore score``. Same engine as the worker.

Input is JSON lines with the fields of the Avro contracts (``LeadEvent``, ``LeadProfile``); timestamps are Unix
milliseconds (as ``leadscore generate`` writes them) or ISO-8601 text. Output is one JSON line per lead and model,
sorted, with scores rounded to 6 decimals, so the same history in any order prints the same lines.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import datetime
from functools import partial
from pathlib import Path
from typing import NotRequired, TypedDict, TypeVar

from scoring import Engine, LeadEvent, LeadProfile, LeadscoreError, LeadState, check_event, check_profile
from scoring.conversions import Conversion, Outcome
from scoring.path import UnknownLevelError, path_record, path_to
from scoring.routing import LeadRouting, RouteRequest, RouteState, route, route_requests
from streams.analysis.jsontypes import JsonRecord
from streams.kafka.codec import to_millis

T = TypeVar("T")
DECIMALS = 6


class InputFileError(LeadscoreError):
    """A line of an input file is not a valid record; the message names the file and line. Fix or remove it,
    or pass ``--skip-invalid`` to count and skip such lines."""


@dataclass
class OfflineRun:
    states: dict[str, LeadState] = field(default_factory=dict)
    events: int = 0
    profiles: int = 0
    skipped: list[str] = field(default_factory=list)
    latest_ms: int = 0
    route_requests: list[RouteRequest] = field(default_factory=list)  # the level crossings to route (ADR 039)
    #: per (lead id, model id): how many of the lead's events the model's filters ignored, by reason (ADR 036)
    ignored: dict[tuple[str, str], dict[str, int]] = field(default_factory=dict)


class Contributor(TypedDict):
    rule_id: str
    value: float


class TrendRow(TypedDict):
    recent: float
    baseline: float
    surging: bool


class RouteRow(TypedDict):
    """One routing decision of a lead under a model (ADR 039): ASSIGNED or RELEASED (UNROUTED: no owner)."""

    at: int
    level: str
    action: str
    route_id: str | None
    owner_id: str | None


class ScoreRow(TypedDict):
    """One output line: a lead's final score under one model (``leadscore score``, ``models rescore --out``)."""

    lead_id: str
    model_id: str
    model_version: int
    at: int
    score: float
    engagement: float
    fit: float
    grade: str
    levels: list[str]
    top_contributors: list[Contributor]
    routes: list[RouteRow]
    trend: NotRequired[TrendRow]  # only for a model with a trend
    #: only for a model with filters: the lead's events it ignored, counted by reason (ADR 036)
    ignored: NotRequired[dict[str, int]]
    path: NotRequired[dict[str, object]]  # with ``--path-to``: the fewest actions into that level now


def _millis(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    if isinstance(value, str):
        return to_millis(datetime.fromisoformat(value.replace("Z", "+00:00")))
    raise ValueError(f"expected Unix milliseconds or ISO-8601 text, got {value!r:.40}")


def event_from_json(data: JsonRecord) -> LeadEvent:
    return LeadEvent(
        event_id=str(data["event_id"]),
        lead_id=str(data["lead_id"]),
        type=str(data["type"]),
        occurred_at_ms=_millis(data["occurred_at"]),
        source=str(data.get("source", "")),
        properties={str(k): str(v) for k, v in (data.get("properties") or {}).items()},
        account_id=data.get("account_id"),
    )


def profile_from_json(data: JsonRecord) -> LeadProfile:
    size = data.get("company_size")
    return LeadProfile(
        lead_id=str(data["lead_id"]),
        updated_at_ms=_millis(data["updated_at"]),
        email=data.get("email"),
        company=data.get("company"),
        company_size=int(size) if size is not None else None,
        industry=data.get("industry"),
        title=data.get("title"),
        seniority=data.get("seniority"),
        department=data.get("department"),
        country=data.get("country"),
        attributes={str(k): str(v) for k, v in (data.get("attributes") or {}).items()},
    )


def conversion_from_json(data: JsonRecord) -> Conversion:
    value = data.get("value")
    return Conversion(
        conversion_id=str(data["conversion_id"]),
        lead_id=str(data["lead_id"]),
        outcome=Outcome(str(data["outcome"]).upper()),
        occurred_at_ms=_millis(data["occurred_at"]),
        value=float(value) if value is not None else None,
        currency=data.get("currency"),
    )


def read_jsonl(path: Path, parse: Callable[[JsonRecord], T], run: OfflineRun, skip_invalid: bool) -> Iterator[T]:
    try:
        handle = path.open(encoding="utf-8")
    except OSError as exc:
        raise InputFileError(f"{path}: cannot read ({exc.strerror})") from None
    with handle:
        for number, line in enumerate(handle, start=1):
            if not line.strip():
                continue
            try:
                data = json.loads(line)
                if not isinstance(data, dict):
                    raise ValueError("not a JSON object")
                yield parse(data)
            except (ValueError, KeyError, TypeError) as exc:
                problem = f"missing field {exc}" if isinstance(exc, KeyError) else str(exc)
                message = f"{path}:{number}: {problem}"
                if not skip_invalid:
                    raise InputFileError(message) from None
                run.skipped.append(message)


def score_history(
    engine: Engine,
    events: Iterable[LeadEvent],
    profiles: Iterable[LeadProfile] = (),
    run: OfflineRun | None = None,
    skip_invalid: bool = False,
) -> OfflineRun:
    """Fold profiles and events into lead states. Events are applied in event-time order, as a history file has
    no lateness: the scores would be the same in any order within the models' lateness."""
    run = run or OfflineRun()
    for profile in profiles:
        if _valid(partial(check_profile, profile), f"profile of {profile.lead_id!r}", run, skip_invalid):
            update = engine.apply_profile(run.states.get(profile.lead_id), profile)
            run.states[profile.lead_id] = update.state
            run.route_requests += route_requests(engine.models, update)
            run.profiles += 1
            run.latest_ms = max(run.latest_ms, profile.updated_at_ms)
    for event in sorted(events, key=lambda e: (e.occurred_at_ms, e.event_id)):  # history: no lateness limit
        check = partial(check_event, event, engine.known_event_types)
        if _valid(check, f"event {event.event_id!r}", run, skip_invalid):
            update = engine.apply_event(run.states.get(event.lead_id), event)
            run.states[event.lead_id] = update.state
            run.route_requests += route_requests(engine.models, update)
            for ignored in update.ignored:
                by_reason = run.ignored.setdefault((event.lead_id, ignored.model_id), {})
                by_reason[ignored.reason] = by_reason.get(ignored.reason, 0) + 1
            run.events += 1
            run.latest_ms = max(run.latest_ms, event.occurred_at_ms)
    return run


def checked_inputs(
    engine: Engine, records: Iterable[LeadEvent | LeadProfile], run: OfflineRun, skip_invalid: bool = False
) -> Iterator[LeadEvent | LeadProfile]:
    """The records that pass the same checks as in :func:`score_history` (the others raise, or are skipped and
    listed in ``run.skipped`` with ``skip_invalid``), in the order given."""
    for record in records:
        if isinstance(record, LeadProfile):
            if _valid(partial(check_profile, record), f"profile of {record.lead_id!r}", run, skip_invalid):
                yield record
        else:
            check = partial(check_event, record, engine.known_event_types)
            if _valid(check, f"event {record.event_id!r}", run, skip_invalid):
                yield record


def _valid(check: Callable[[], None], what: str, run: OfflineRun, skip_invalid: bool) -> bool:
    try:
        check()
    except LeadscoreError as exc:
        if not skip_invalid:
            raise InputFileError(f"{what}: {exc}") from None
        run.skipped.append(f"{what}: {exc}")
        return False
    return True


def _round(value: float) -> float:
    return round(value, DECIMALS) + 0.0  # + 0.0 turns -0.0 into 0.0


def result_rows(
    engine: Engine, run: OfflineRun, at_ms: int | None = None, top: int = 5, path_to_level: str | None = None
) -> Iterator[ScoreRow]:
    """Final scores per lead and model at ``at_ms`` (default: the latest time in the input); for a model with
    filters, ``ignored``: the lead's events it ignored, by reason (``{"scanner_click": 2}``; ``{}``: none); with
    ``path_to_level``, each row of a model that has that level also carries the path into it at that time
    (:func:`scoring.path.path_to`)."""
    at = at_ms if at_ms is not None else run.latest_ms
    if path_to_level is not None and not any(lv.name == path_to_level for m in engine.models for lv in m.levels):
        names = ", ".join(sorted({lv.name for m in engine.models for lv in m.levels}))
        raise UnknownLevelError(f"--path-to: no model has a level {path_to_level!r} (levels: {names})")
    advanced = {lead_id: engine.advance(run.states[lead_id], at) for lead_id in sorted(run.states)}  # decay to ``at``
    requests = run.route_requests + [r for update in advanced.values() for r in route_requests(engine.models, update)]
    routed = assign_in_event_time(engine, requests)
    filtered = {model.id for model in engine.models if model.filters is not None}
    for lead_id, update in advanced.items():
        state = update.state
        for model, snapshot in zip(engine.models, engine.snapshot(state, at, top=top), strict=True):
            if not snapshot.applies:
                continue
            row: ScoreRow = {
                "lead_id": lead_id,
                "model_id": snapshot.model_id,
                "model_version": snapshot.model_version,
                "at": at,
                "score": _round(snapshot.score),
                "engagement": _round(snapshot.engagement),
                "fit": _round(snapshot.fit),
                "grade": snapshot.grade,
                "levels": list(snapshot.levels),
                "top_contributors": [
                    {"rule_id": rule, "value": _round(value)} for rule, value in snapshot.top_contributors
                ],
                "routes": routed.get((lead_id, snapshot.model_id), []),
            }
            if snapshot.trend is not None:
                trend = snapshot.trend
                row["trend"] = {
                    "recent": _round(trend.recent),
                    "baseline": _round(trend.baseline),
                    "surging": trend.surging,
                }
            if snapshot.model_id in filtered:
                row["ignored"] = dict(sorted(run.ignored.get((lead_id, snapshot.model_id), {}).items()))
            if path_to_level is not None and any(lv.name == path_to_level for lv in model.levels):
                row["path"] = path_record(path_to(model, state, path_to_level, at))
            yield row


def assign_in_event_time(engine: Engine, requests: Iterable[RouteRequest]) -> dict[tuple[str, str], list[RouteRow]]:
    """Route the requests as the routing agent would (ADR 039), in event-time order (ties by crossing id): a
    history file has no request log, so this order stands in for it. Per lead and model, its decisions."""
    models = {model.id: model for model in engine.models}
    routes: dict[tuple[str, str], RouteState] = {}
    leads: dict[tuple[str, str], LeadRouting] = {}
    rows: dict[tuple[str, str], list[RouteRow]] = {}
    for request in sorted(requests, key=lambda r: (r.occurred_at_ms, r.crossing_id)):
        model = models[request.model_id]
        lead = (request.lead_id, model.id)
        states = {r.id: s for r in model.routing if (s := routes.get((model.id, r.id))) is not None}
        result = route(model, states, leads.get(lead), request)
        if result.lead is not None:
            leads[lead] = result.lead
        routes.update({(model.id, route_id): state for route_id, state in result.states.items()})
        if (decision := result.decision) is not None:
            row: RouteRow = {
                "at": request.occurred_at_ms,
                "level": request.level,
                "action": decision.action.value,
                "route_id": decision.route_id,
                "owner_id": decision.owner_id,
            }
            rows.setdefault(lead, []).append(row)
    return rows
