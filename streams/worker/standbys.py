"""No hole in a standby's copy of the table: changelog records Faust has fetched are never thrown away (ADR 026).

Faust hands every changelog record it fetches (recovery and standbys alike) to one queue, which its recovery service
drains into the table. The queue is a ``FlowControlQueue(clear_on_resume=True)``: each ``flow_control.resume()``
empties it. Faust resumes the flow once more after it has started the standby partitions (in
``Recovery.on_recovery_completed``, after the recovery callbacks, our top-up among them), so the standby records
fetched in between are dropped while the consumer's position has moved past them; the records that follow move the
standby's offset on, and nothing ever reads the dropped ones again. A standby that starts on a long changelog loses
up to a queue's worth (4,096 records) of its beginning; promoted to active, it recovers from its own offset and
the leads whose last record was in the hole are missing (measured on Apache Kafka: 91 leads scored from nothing
after a rebalance, ADR 024's status).

The fix keeps the queue's records through a resume and leaves out, when they are taken, those of changelog
partitions no longer assigned (what the clearing was for). Faust's recovery already skips a record at or below the
offset it has applied for its partition, so a record read twice (kept, then fetched again after a seek) is applied
once, in offset order.
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

    def qsize(self) -> int: ...


def keep_fetched_changelog_records(queue: ChangelogQueue, assigned: Callable[[TP], bool]) -> None:
    """Make ``queue`` keep its records when flow resumes; records of partitions not ``assigned`` when taken are
    dropped instead."""
    get = queue.get

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


def keep_standby_records(app: AppT) -> None:
    """Install :func:`keep_fetched_changelog_records` on ``app``'s changelog queue (the table must be registered)."""
    recovery = table_recovery(app)

    def assigned(tp: TP) -> bool:
        return tp in recovery.active_tps or tp in recovery.standby_tps

    manager = cast(TableManager, app.tables)  # ``AppT.tables`` is typed without its queue
    queue: Any = manager.changelog_queue  # a FlowControlQueue (Faust types it as its ThrowableQueue)
    keep_fetched_changelog_records(queue, assigned)
