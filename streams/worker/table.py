"""The lead-state table: each lead's stored state in a changelog-backed Faust table, keyed by lead id.

A stored value is state format 2 (:mod:`streams.worker.stored`: the lead's state in an envelope with the worker's
own fields, its partition, next due time and score trail), as bytes: the table's values are raw, its keys JSON.
The agents (:mod:`streams.worker.agents`), the fast path (:mod:`streams.worker.batch`), the recovery hook
(:mod:`streams.worker.recovery`) and the query API (:mod:`streams.worker.api`) all read this one table.
"""

from __future__ import annotations

from typing import cast

from faust.tables.manager import TableManager
from faust.tables.recovery import Recovery
from faust.types import AppT, TableT

from streams.settings import Settings

STATE_TABLE = "lead-state"

#: A lead's value as stored in the table and its changelog: encoded bytes (see the module text).
StoredState = bytes
LeadTable = TableT[str, StoredState]


def lead_table(app: AppT, settings: Settings) -> LeadTable:
    """The lead-state table, registered with ``app`` (its changelog topic: ``<app id>-lead-state-changelog``)."""
    return app.Table(
        STATE_TABLE,
        default=None,
        value_type=bytes,  # raw: the worker encodes its values itself (state format 2)
        partitions=settings.partitions,
        help="Per-lead scores under every model (changelog-backed).",
    )


def table_recovery(app: AppT) -> Recovery:
    """Faust's recovery service of ``app``'s tables (``AppT.tables`` is typed without it; the app's is a
    :class:`faust.tables.manager.TableManager`)."""
    return cast(TableManager, app.tables).recovery
