"""The worker's web views: the query API ``GET /leads/{lead_id}`` and ``GET /leads/{lead_id}/path?to=LEVEL``, the
lead page ``GET /ui/leads/{lead_id}`` (HTML, ADR 040), the probes ``/healthz`` and ``/readyz``, and the Prometheus
``/metrics``.

An id merged into another lead (ADR 044) answers ``308 Permanent Redirect`` to the survivor's URL (the same view,
the query string kept), with a JSON body that says so (:func:`merged_view`); an erased id answers 404 like an
unknown one. A lead's state lives on the worker that owns its partition. Any worker answers: it finds the owner from the
partition assignment (partition = Kafka's default murmur2 partitioner on the lead id, as producers key events) and
forwards the request there. Faust's own ``table_route`` hashes the JSON-serialised table key instead, which points
at the wrong worker when there are several (faust-streaming #514), hence this router (ADR 010).
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any
from urllib.parse import quote

from faust.sensors.prometheus import setup_prometheus_sensors
from faust.types import AppT
from faust.web import Request, Response, View

from scoring import Engine, LeadState
from scoring.identities.records import Alias
from scoring.path import UnknownLevelError, path_record, paths_to
from streams.kafka.codec import snapshot_to_record
from streams.kafka.partitioner import lead_partition
from streams.settings import Settings
from streams.worker.metrics import Metrics
from streams.worker.monitor import cache_monitor_labels
from streams.worker.stored import StoredLead, as_json, decode_stored
from streams.worker.table import LeadTable, table_recovery
from streams.worker.ui.html import render_error, render_page
from streams.worker.ui.page import build_page

ROUTED_HEADER = "X-Leadscore-Routed"
#: The alias kept under an id (ADR 044), None when it was never merged into another lead nor erased
AliasOf = Callable[[str], Alias | None]
SERVED_BY_HEADER = "X-Leadscore-Served-By"


def parse_at(text: str | None) -> int:
    """``?at=`` as Unix ms or ISO-8601; default: now (wall clock)."""
    if not text:
        return int(time.time() * 1000)
    if text.isdigit():
        return int(text)
    moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    return int(moment.timestamp() * 1000)


def lead_view(engine: Engine, state: LeadState, at_ms: int) -> dict[str, Any]:
    """The JSON answer of ``GET /leads/{lead_id}``: the lead's scores under every model that applies, at ``at_ms``;
    ``drops``: per level held, when it is left if nothing else happens (Unix ms and ISO-8601; null: never)."""
    return {
        "lead_id": state.lead_id,
        "at": at_ms,
        "models": [
            {
                **snapshot_to_record(s),
                "drops": [{"level": level, "drops_at": ms, "drops_at_iso": iso(ms)} for level, ms in s.drops],
                "top_contributors": [{"rule_id": rule, "value": value} for rule, value in s.top_contributors],
            }
            for s in engine.snapshot(state, at_ms)
            if s.applies
        ],
    }


def iso(at_ms: int | None) -> str | None:
    if at_ms is None:
        return None
    return datetime.fromtimestamp(at_ms / 1000, tz=UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


def merged_view(lead_id: str, alias: Alias, location: str) -> dict[str, Any]:
    """The JSON body of the ``308`` that ``GET /leads/{absorbed id}`` answers: which lead it was merged into, by
    which identity record, and where to look now (``location``, also the ``Location`` header)."""
    return {
        "lead_id": lead_id,
        "merged_into": alias.survivor_id,
        "identity_id": alias.identity_id,
        "kind": alias.kind.value,
        "location": location,
    }


def merged_location(prefix: str, survivor_id: str, suffix: str, query_string: str) -> str:
    """The survivor's URL of the same view (relative: the client asks the worker it asked, which routes it)."""
    location = f"{prefix}{quote(survivor_id, safe='')}{suffix}"
    return f"{location}?{query_string}" if query_string else location


def path_view(engine: Engine, state: LeadState, level: str, at_ms: int, model_id: str | None) -> dict[str, Any]:
    """The JSON answer of ``GET /leads/{lead_id}/path?to=LEVEL``: per model (or ``model_id``), the fewest actions
    that would take the lead into ``level`` if they happened at ``at_ms`` (:func:`scoring.path.paths_to`).
    Raises :class:`~scoring.path.UnknownLevelError` for a level or model the engine does not have."""
    paths = paths_to(engine, state, level, at_ms, model_id)
    return {"lead_id": state.lead_id, "at": at_ms, "to": level, "models": [path_record(p) for p in paths]}


def register_api(
    app: AppT,
    settings: Settings,
    table: LeadTable,
    engine: Callable[[], Engine],
    changelog_topic: str,
    aliases: AliasOf | None = None,
) -> None:
    """The query API; ``engine`` gives the engine running now (models can be reloaded), ``aliases`` the alias kept
    under an id (:class:`streams.worker.identities.AliasBook`; None: no redirects for merged ids)."""
    token = settings.api_token.get_secret_value() if settings.api_token else None
    me = str(app.conf.canonical_url).rstrip("/")

    def owner_of(lead_id: str) -> str | None:
        return owner_url(app, lead_partition(lead_id, settings.partitions), changelog_topic)

    def merged_into(lead_id: str) -> Alias | None:
        alias = None if aliases is None else aliases(lead_id)
        return None if alias is None or alias.erased else alias

    async def find(web: View, request: Request, lead_id: str, suffix: str = "") -> Response | tuple[int, StoredLead]:
        """The lead's stored state and ``?at=`` here, or the answer: refused, forwarded to the owner, merged into
        another lead (308 to ``/leads/{survivor}{suffix}``), not found."""
        if not authorised(request, token):
            return web.json({"error": "missing or wrong bearer token"}, status=401)
        try:
            at_ms = parse_at(request.query.get("at"))
        except ValueError:
            return web.json({"error": "at: expected Unix milliseconds or ISO-8601"}, status=400)
        owner = owner_of(lead_id)
        if owner is not None and owner != me and not request.headers.get(ROUTED_HEADER):
            return await forward(app, web, request, owner)
        stored = table.get(lead_id)
        if stored is None:
            if (alias := merged_into(lead_id)) is not None:
                location = merged_location("/leads/", alias.survivor_id, suffix, request.query_string)
                headers = {"Location": location, SERVED_BY_HEADER: me}
                return web.json(merged_view(lead_id, alias, location), status=308, headers=headers)
            return web.json({"error": f"no lead {lead_id!r}"}, status=404, headers={SERVED_BY_HEADER: me})
        return at_ms, decode_stored(stored)

    @app.page("/leads/{lead_id}")
    async def get_lead(web: View, request: Request, lead_id: str) -> Response:
        found = await find(web, request, lead_id)
        if not isinstance(found, tuple):  # refused, forwarded or not found: the answer itself
            return found
        at_ms, lead = found
        view = lead_view(engine(), lead.state, at_ms)
        if request.query.get("raw"):
            view["state"] = as_json(lead)  # the stored state itself (in format 1's JSON form), for operators
        return web.json(view, headers={SERVED_BY_HEADER: me})

    @app.page("/leads/{lead_id}/path")
    async def get_path(web: View, request: Request, lead_id: str) -> Response:
        level = request.query.get("to")
        if not level:
            return web.json({"error": "to: the level to reach is required, e.g. ?to=MQL"}, status=400)
        found = await find(web, request, lead_id, "/path")
        if not isinstance(found, tuple):  # refused, forwarded, merged or not found: the answer itself
            return found
        at_ms, lead = found
        try:
            view = path_view(engine(), lead.state, level, at_ms, request.query.get("model"))
        except UnknownLevelError as exc:
            return web.json({"error": str(exc)}, status=404, headers={SERVED_BY_HEADER: me})
        return web.json(view, headers={SERVED_BY_HEADER: me})

    @app.page("/ui/leads/{lead_id}")
    async def get_lead_page(web: View, request: Request, lead_id: str) -> Response:
        # a browser cannot send a bearer header from a link: the page also takes the token as ``?token=`` (ADR 040)
        if not authorised(request, token) and not _query_token_matches(request, token):
            return web.html(
                render_error("Not allowed", "missing or wrong token (?token=... or a bearer header)"), status=401
            )
        try:
            at_ms = parse_at(request.query.get("at"))
        except ValueError:
            return web.html(render_error("Bad time", "at: expected Unix milliseconds or ISO-8601"), status=400)
        owner = owner_of(lead_id)
        if owner is not None and owner != me and not request.headers.get(ROUTED_HEADER):
            return await forward(app, web, request, owner)
        stored = table.get(lead_id)
        if stored is None and (alias := merged_into(lead_id)) is not None:  # the browser follows to the survivor
            location = merged_location("/ui/leads/", alias.survivor_id, "", request.query_string)
            page = render_error("Merged", f"{lead_id!r} was merged into {alias.survivor_id!r}")
            return web.html(page, status=308, headers={"Location": location, SERVED_BY_HEADER: me})
        if stored is None:
            page = render_error("No such lead", f"no lead {lead_id!r}")
            return web.html(page, status=404, headers={SERVED_BY_HEADER: me})
        page = render_page(build_page(engine(), decode_stored(stored), at_ms))
        return web.html(page, headers={SERVED_BY_HEADER: me})

    @app.page("/healthz")
    async def healthz(web: View, request: Request) -> Response:
        return web.json({"status": "ok"})

    @app.page("/readyz")
    async def readyz(web: View, request: Request) -> Response:
        recovery = table_recovery(app)
        if app.rebalancing or not recovery.completed.is_set():
            remaining = recovery.active_remaining_total()
            return web.json({"status": "recovering", "changelog_records_remaining": remaining}, status=503)
        if request.query.get("leads"):  # counting every key of a large store takes seconds: only when asked
            return web.json({"status": "ready", "leads": len(table)})
        return web.json({"status": "ready"})


def owner_url(app: AppT, partition: int, changelog_topic: str) -> str | None:
    """The URL of the worker that owns ``partition`` of a table (by its changelog topic), if known."""
    for url, topics in app.assignor.tables_metadata().items():
        if partition in topics.get(changelog_topic, ()):
            return str(url).rstrip("/")
    return None


def authorised(request: Request, token: str | None) -> bool:
    """Whether ``request`` carries the bearer token (always, when none is set)."""
    if token is None:
        return True
    given = request.headers.get("Authorization", "")
    return hmac.compare_digest(given.encode(), f"Bearer {token}".encode())


def register_metrics(app: AppT, metrics: Metrics) -> None:
    """``GET /metrics``: the worker's metrics (:class:`streams.worker.metrics.Metrics`) and Faust's own (``faust_*``),
    from the worker's one registry."""
    metrics.recovery_remaining.set_function(lambda: max(0, table_recovery(app).active_remaining_total()))
    setup_prometheus_sensors(app, pattern="/metrics", registry=metrics.registry, name_prefix="faust")
    cache_monitor_labels(app)  # the same faust_* metrics, without a label lookup per message


async def forward(app: AppT, web: View, request: Request, owner: str) -> Response:
    headers = {ROUTED_HEADER: "1"}
    if "Authorization" in request.headers:
        headers["Authorization"] = request.headers["Authorization"]
    url = f"{owner}{request.rel_url}"  # path and query string (aiohttp's ``path_qs`` is ``str(rel_url)``)
    try:
        # a redirect (a merged lead's 308) goes back to the client as it is: its survivor may be on another worker
        async with app.http_client.get(url, headers=headers, allow_redirects=False) as response:
            body = await response.read()
            answer = {SERVED_BY_HEADER: response.headers.get(SERVED_BY_HEADER, owner)}
            if "Location" in response.headers:
                answer["Location"] = response.headers["Location"]
            return web.bytes(body, content_type=response.content_type, status=response.status, headers=answer)
    except OSError as exc:
        return web.json({"error": f"the owner {owner} did not answer: {exc}"}, status=503)


def _query_token_matches(request: Request, token: str | None) -> bool:
    """The lead page's ``?token=``: the same token as the bearer header (compared in constant time)."""
    given = request.query.get("token")
    return token is not None and given is not None and hmac.compare_digest(given.encode(), token.encode())
