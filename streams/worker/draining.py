"""Batch consumption below Faust's per-message path: the fetch loop hands ``lead-events`` straight to the batcher.

Faust's consumer drains each fetch one message at a time: for every message it builds the conductor callback's
coroutine and awaits it with ``wait_first`` against the flow-suspension event (a task, a future and a wait per
message, about 7 % of a worker's profile, issue 15). :func:`drain_batching` is Faust's own
``Consumer._drain_messages`` (faust-streaming 0.15.3, copied, same gap tracking, commits, read offsets, yields and
stop handling) with one change: a message of a topic the :class:`~streams.worker.batch.EventBatcher` takes is
given to it synchronously (:meth:`EventBatcher.take`: tracked as pending, appended), and the loop waits only when
the batch is full (backpressure, still interrupted by a flow suspension as before). Every other topic goes through
the conductor as before. Group membership, assignment, standbys, recovery and commits stay Faust's; the fast path
still acks each message only after its outputs and state are on the broker (ADR 013). A test fails when Faust's
``_drain_messages`` changes (:data:`FAUST_DRAIN_SHA256`): compare this copy with the new one before updating it.
"""

from __future__ import annotations

import asyncio
import types
from collections.abc import AsyncIterator
from typing import Any, cast

from faust.transport.consumer import CONSUMER_FETCHING, Consumer
from faust.types import ConsumerT
from mode import Service, ServiceT

from streams.worker.batch import EventBatcher

#: sha256 of ``inspect.getsource(faust.transport.consumer.Consumer._drain_messages)`` this module was copied from.
FAUST_DRAIN_SHA256 = "44a2500309e83c630493f6828af50166ec8d96a0b3e4fb2bab735f704ae93417"


def drain_batching(consumer: ConsumerT, batcher: EventBatcher) -> None:
    """Replace ``consumer``'s fetch loop with :func:`_drain` (Faust's fetcher calls ``consumer._drain_messages``)."""
    faust_consumer = cast(Consumer, consumer)

    async def drain(self: Consumer, fetcher: ServiceT) -> None:
        await _drain(self, fetcher, batcher)

    faust_consumer._drain_messages = types.MethodType(drain, faust_consumer)  # type: ignore[method-assign]


async def _drain(self: Any, fetcher: ServiceT, batcher: EventBatcher) -> None:
    callback = self.callback
    getmany = self.getmany
    consumer_should_stop = cast(Service, self)._stopped.is_set
    fetcher_should_stop = cast(Service, fetcher)._stopped.is_set
    get_read_offset = self._read_offset.__getitem__
    set_read_offset = self._read_offset.__setitem__
    set_flag, unset_flag = self.diag.set_flag, self.diag.unset_flag
    commit_every = self._commit_every
    acks_enabled_for = self.app.topics.acks_enabled_for
    batched, take = batcher.topics, batcher.take
    yield_every, num_since_yield = 100, 0
    sleep = asyncio.sleep
    try:
        while not (consumer_should_stop() or fetcher_should_stop()):
            set_flag(CONSUMER_FETCHING)
            ait = cast(AsyncIterator[Any], getmany(timeout=1.0))
            await self.sleep(0)  # getmany may be called in a loop that never releases the event loop
            if not self.should_stop:
                async for tp, message in ait:
                    num_since_yield += 1
                    if num_since_yield > yield_every:
                        await sleep(0)
                        num_since_yield = 0
                    offset = message.offset
                    r_offset = get_read_offset(tp)
                    if r_offset is None or offset >= r_offset:
                        gap = offset - (r_offset or 0)
                        if gap > 1 and r_offset and acks_enabled_for(message.topic):
                            await self._add_gap(tp, r_offset + 1, offset)
                        if commit_every is not None and self._n_acked >= commit_every:
                            self._n_acked = 0
                            await self.commit()
                        if message.topic in batched:
                            if take(message):  # the batch is full: wait for room (or a suspended flow)
                                await self.wait_first(batcher.room(), self.suspend_flow.wait())
                        else:
                            await self.wait_first(callback(message), self.suspend_flow.wait())
                        set_read_offset(tp, offset)
                unset_flag(CONSUMER_FETCHING)
    except self.consumer_stopped_errors:
        if self.transport.app.should_stop:
            self.log.info("Broker stopped consumer, shutting down...")
            return
        raise
    except asyncio.CancelledError:
        if self.transport.app.should_stop:
            self.log.info("Consumer shutting down for user cancel.")
            return
        raise
    except Exception as exc:
        self.log.exception("Drain messages raised: %r", exc)
        raise
    finally:
        unset_flag(CONSUMER_FETCHING)
