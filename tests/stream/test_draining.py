"""The fetch loop hands the hot topic's messages to the batcher directly (streams/worker/draining.py, issue 15)."""

from __future__ import annotations

import asyncio
import hashlib
import inspect
from collections import defaultdict
from types import SimpleNamespace
from typing import Any

from faust.transport.consumer import Consumer

from streams.worker.batch import EventBatcher
from streams.worker.draining import FAUST_DRAIN_SHA256, _drain


def test_faust_s_fetch_loop_is_the_one_the_batching_loop_was_copied_from():
    """If this fails, Faust changed ``Consumer._drain_messages``: bring its changes into ``_drain`` (the one line
    that differs hands lead-events to the batcher), then update FAUST_DRAIN_SHA256."""
    source = inspect.getsource(Consumer._drain_messages)
    assert hashlib.sha256(source.encode()).hexdigest() == FAUST_DRAIN_SHA256


class _Fetched:
    """A stand-in consumer: one fetch of ``messages``, then the fetcher stops; records what went where."""

    def __init__(self, messages: list[Any]) -> None:
        self.messages = messages
        self.conducted: list[Any] = []
        self.tracked: list[Any] = []
        self._read_offset: dict[Any, int | None] = defaultdict(lambda: None)  # as Faust's
        self._stopped = asyncio.Event()
        self.fetcher = SimpleNamespace(_stopped=asyncio.Event())
        self.diag = SimpleNamespace(set_flag=lambda flag: None, unset_flag=lambda flag: None)
        self._commit_every = None
        self.app = SimpleNamespace(topics=SimpleNamespace(acks_enabled_for=lambda topic: True))
        self.suspend_flow = asyncio.Event()
        self.should_stop = False
        self.consumer_stopped_errors = ()

    async def callback(self, message: Any) -> None:
        self.conducted.append(message)

    def track_message(self, message: Any) -> None:
        self.tracked.append(message)

    async def getmany(self, timeout: float):
        for message in self.messages:
            yield message.tp, message
        self.fetcher._stopped.set()

    async def sleep(self, seconds: float) -> None:
        await asyncio.sleep(seconds)

    async def wait_first(self, *coroutines: Any) -> None:
        tasks = [asyncio.ensure_future(c) for c in coroutines]
        _, pending = await asyncio.wait(tasks, return_when=asyncio.FIRST_COMPLETED)
        for task in pending:
            task.cancel()


def _message(topic: str, offset: int) -> Any:
    return SimpleNamespace(topic=topic, partition=0, offset=offset, tp=(topic, 0), key=b"k", value=b"v")


async def test_hot_topic_messages_go_to_the_batcher_and_others_to_the_conductor():
    messages = [_message("lead-events", n) for n in range(5)] + [_message("lead-profiles", 0)]
    consumer = _Fetched(messages)
    batcher = EventBatcher("lead-events", batch_max=100)
    batcher.consumer = consumer  # type: ignore[assignment]
    await _drain(consumer, consumer.fetcher, batcher)
    assert await batcher.next_batch() == messages[:5]
    assert consumer.tracked == messages[:5]  # pending until acked, as the conductor path does
    assert consumer.conducted == messages[5:]
    assert dict(consumer._read_offset) == {("lead-events", 0): 4, ("lead-profiles", 0): 0}


async def test_a_full_batch_holds_the_fetch_loop_until_the_scorer_takes_it():
    messages = [_message("lead-events", n) for n in range(5)]
    consumer = _Fetched(messages)
    batcher = EventBatcher("lead-events", batch_max=2)
    batcher.consumer = consumer  # type: ignore[assignment]
    drain = asyncio.ensure_future(_drain(consumer, consumer.fetcher, batcher))
    await asyncio.sleep(0.05)
    assert len(batcher) == 2 and not drain.done()  # backpressure: the third message waits
    batches = [await batcher.next_batch()]
    while sum(len(batch) for batch in batches) < 5:
        batches.append(await batcher.next_batch())
    await asyncio.wait_for(drain, 2)
    assert [m for batch in batches for m in batch] == messages and all(len(batch) <= 2 for batch in batches)
