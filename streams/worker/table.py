"""The lead-state table: each lead's stored state in a changelog-backed Faust table, keyed by lead id.

A stored state is JSON: :meth:`scoring.LeadState.to_dict` plus the worker's own fields (``p`` the partition and ``d``
the next due time, for rebuilding the due index after a recovery; ``h`` the score trail, for joining conversions).
The agents (:mod:`streams.worker.agents`), the fast path (:mod:`streams.worker.batch`), the recovery hook
(:mod:`streams.worker.recovery`) and the query API (:mod:`streams.worker.api`) all read this one table.
"""

from __future__ import annotations

from typing import Any, cast

from faust.tables.manager import TableManager
from faust.tables.recovery import Recovery
from faust.types import AppT, TableT

from streams.settings import Settings

STATE_TABLE = "lead-state"

#: A lead's state as stored in the table and its changelog: JSON (see the module text).
StoredState = dict[str, Any]
LeadTable = TableT[str, StoredState]


def lead_table(app: AppT, settings: Settings) -> LeadTable:
    """The lead-state table, registered with ``app`` (its changelog topic: ``<app id>-lead-state-changelog``)."""
    return app.Table(
        STATE_TABLE,
        default=None,
        partitions=settings.partitions,
        help="Per-lead scores under every model (changelog-backed).",
    )


def table_recovery(app: AppT) -> Recovery:
    """Faust's recovery service of ``app``'s tables (``AppT.tables`` is typed without it; the app's is a
    :class:`faust.tables.manager.TableManager`)."""
    return cast(TableManager, app.tables).recovery
