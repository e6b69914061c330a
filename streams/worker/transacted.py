"""What exactly_once changes in the worker (ADR 024): batches split by input partition, each partition's outputs,
changelog records and input offsets in one transaction (:mod:`streams.kafka.transactions`), the previous owners
fenced on assignment, and Faust's own offset commits left out for the topics the transactions commit."""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable, Mapping
from typing import Protocol, TypeVar

from faust.types import TP


class Located(Protocol):
    """Where a consumed message came from: its topic, partition and offset."""

    @property
    def topic(self) -> str: ...
    @property
    def partition(self) -> int: ...
    @property
    def offset(self) -> int: ...


L = TypeVar("L", bound=Located)


def by_partition(batch: Iterable[L]) -> dict[int, list[L]]:
    """The messages of ``batch`` per input partition, each list in the batch's order (topics co-partitioned: a
    lead's events and conversions are on the same partition number, so one transaction covers them)."""
    split: dict[int, list[L]] = {}
    for message in batch:
        split.setdefault(message.partition, []).append(message)
    return split


def next_offsets(messages: Iterable[Located]) -> dict[tuple[str, int], int]:
    """The offsets to commit for ``messages``: per topic partition, the last offset + 1 (Kafka's convention: the
    next record to read)."""
    offsets: dict[tuple[str, int], int] = {}
    for message in messages:
        where = (message.topic, message.partition)
        offsets[where] = max(offsets.get(where, 0), message.offset + 1)
    return offsets


def owned_partitions(assigned: Iterable[TP], inputs: frozenset[str]) -> set[int]:
    """The input partition numbers among the topic partitions of an assignment (changelogs of standbys left out)."""
    return {tp.partition for tp in assigned if tp.topic in inputs}


Commit = Callable[[Mapping[TP, int]], Awaitable[bool]]


def without_topics(commit: Commit, topics: frozenset[str]) -> Commit:
    """Faust's commit, minus ``topics``: their offsets are committed inside the transactions, and a late plain
    commit of an older offset (Faust commits from the consumer's thread) could move the group's offset back."""

    async def commit_others(offsets: Mapping[TP, int]) -> bool:
        others = {tp: offset for tp, offset in offsets.items() if tp.topic not in topics}
        return await commit(others) if others else True

    return commit_others
