"""No hole in a standby's copy of the table: every changelog record fetched for it reaches the recovery (ADR 026).

Faust hands every changelog record it fetches (recovery and standbys alike) to one queue, which its recovery service
drains into the table. Two things lose records the consumer has already moved past, so that a new standby lacks
the start of its partitions for good (measured: one whole 1 MiB fetch, the first 2,206 records): the queue is a
``FlowControlQueue(clear_on_resume=True)``, emptied on every ``flow_control.resume()``, also after the standbys
have started; and Faust marks a record read even when the callback that was to queue it was cancelled, which hides
the loss from ADR 023's rewind.

So the queue keeps its records through a resume and leaves out, when they are taken, those of partitions the
recovery no longer holds (what the clearing was for); and it notes the last offset it received per partition, which
:func:`streams.worker.fetching.keep_undelivered_records` compares fetches with for changelog partitions. Faust's
recovery skips a record at or below the offset it has applied, so a record read twice is applied once, in order.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Coroutine
from typing import Any, Protocol, cast

from faust.tables.manager import TableManager
from faust.types import TP, AppT, EventT

from streams.worker.table import table_recovery

log = logging.getLogger(__name__)


class ChangelogQueue(Protocol):
    """What this module changes of Faust's changelog queue (a ``mode.utils.queues.FlowControlQueue``)."""

    clear: Callable[[], None]
    get: Callable[[], Coroutine[Any, Any, EventT[Any]]]
    _put: Callable[[EventT[Any]], None]  # asyncio.Queue's, under every put

    def qsize(self) -> int: ...


def keep_fetched_changelog_records(
    queue: ChangelogQueue, assigned: Callable[[TP], bool], delivered: dict[TP, int]
) -> None:
    """Make ``queue`` keep its records when flow resumes; records of partitions not ``assigned`` when taken are
    dropped instead. ``delivered`` is kept up to date with the last offset the queue received per
    partition: what the consumer checks fetched records against (``fetching.keep_undelivered_records``)."""
    get, put = queue.get, queue._put

    def put_noted(event: EventT[Any]) -> None:
        message = event.message
        delivered[message.tp] = message.offset
        put(event)

    def keep() -> None:
        """Replaces the queue's ``clear`` (called by ``FlowControlEvent.resume`` and ``.clear``)."""
        if queue.qsize():
            log.info("kept %d fetched changelog records through a resume of flow (ADR 026)", queue.qsize())

    async def get_assigned() -> EventT[Any]:
        while True:
            event = await get()
            if assigned(event.message.tp):
                return event

    queue.clear = keep
    queue.get = get_assigned
    queue._put = put_noted


def keep_standby_records(app: AppT, delivered: dict[TP, int]) -> None:
    """Install :func:`keep_fetched_changelog_records` on ``app``'s changelog queue (the table must be registered),
    noting what it receives in ``delivered``."""
    recovery = table_recovery(app)

    def assigned(tp: TP) -> bool:
        return tp in recovery.active_tps or tp in recovery.standby_tps

    manager = cast(TableManager, app.tables)  # ``AppT.tables`` is typed without its queue
    queue: Any = manager.changelog_queue  # a FlowControlQueue (Faust types it as its ThrowableQueue)
    keep_fetched_changelog_records(queue, assigned, delivered)
