"""``GET /accounts/{account_id}`` (ADR 043): an account's scores under every account model, as JSON, ``?at=`` like
``/leads/{id}``. An account's state lives on the worker that owns its partition of ``account-state`` (the default
partitioner on the account id, as the member updates are keyed); any worker answers, forwarding to the owner as
:mod:`streams.worker.api` does for leads. 404: no member update for that account yet (or every member left).
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from faust.types import AppT
from faust.web import Request, Response, View

from scoring.accounts.records import AccountSnapshot
from streams.kafka.account_codec import account_snapshot_to_record
from streams.kafka.partitioner import lead_partition
from streams.settings import Settings
from streams.worker.api import ROUTED_HEADER, SERVED_BY_HEADER, authorised, forward, iso, owner_url, parse_at

#: The account's snapshots at a time (None: no such account here)
AccountView = Callable[[str, int], tuple[AccountSnapshot, ...] | None]


def account_view(account_id: str, at_ms: int, snapshots: tuple[AccountSnapshot, ...]) -> dict[str, Any]:
    """The JSON answer: per account model, the ``AccountScore`` entry with the drop times also in ISO-8601."""
    return {
        "account_id": account_id,
        "at": at_ms,
        "models": [
            {
                **account_snapshot_to_record(s),
                "drops": [{"level": level, "drops_at": ms, "drops_at_iso": iso(ms)} for level, ms in s.drops],
            }
            for s in snapshots
        ],
    }


def register_account_api(app: AppT, settings: Settings, view: AccountView, changelog_topic: str) -> None:
    """``GET /accounts/{account_id}`` on ``app``'s web server; ``changelog_topic``: the account table's."""
    token = settings.api_token.get_secret_value() if settings.api_token else None
    me = str(app.conf.canonical_url).rstrip("/")

    @app.page("/accounts/{account_id}")
    async def get_account(web: View, request: Request, account_id: str) -> Response:
        if not authorised(request, token):
            return web.json({"error": "missing or wrong bearer token"}, status=401)
        try:
            at_ms = parse_at(request.query.get("at"))
        except ValueError:
            return web.json({"error": "at: expected Unix milliseconds or ISO-8601"}, status=400)
        owner = owner_url(app, lead_partition(account_id, settings.partitions), changelog_topic)
        if owner is not None and owner != me and not request.headers.get(ROUTED_HEADER):
            return await forward(app, web, request, owner)
        snapshots = view(account_id, at_ms)
        if snapshots is None:
            return web.json({"error": f"no account {account_id!r}"}, status=404, headers={SERVED_BY_HEADER: me})
        return web.json(account_view(account_id, at_ms, snapshots), headers={SERVED_BY_HEADER: me})
