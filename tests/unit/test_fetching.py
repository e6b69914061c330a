"""Records Faust fetched but did not deliver are fetched again (ADR 023): which partitions rewind, and where to
(Faust's read offsets: the last offset it handed on per partition)."""

from __future__ import annotations

from dataclasses import dataclass, field

from faust.types import TP

from streams.worker.fetching import undelivered

A, B, C = TP("lead-events", 0), TP("lead-events", 1), TP("lead-events", 2)


@dataclass(frozen=True)
class Record:
    offset: int


@dataclass
class FakePositions:
    at: dict[TP, int | None]
    seeks: list[tuple[TP, int]] = field(default_factory=list)

    def position(self, tp: TP) -> int | None:
        return self.at.get(tp)

    def seek(self, tp: TP, offset: int) -> None:
        self.seeks.append((tp, offset))


def records(first: int, last: int) -> list[Record]:
    return [Record(offset) for offset in range(first, last + 1)]


def test_a_partition_dropped_whole_rewinds_to_its_first_fetched_record():
    positions = FakePositions({A: 30})
    assert undelivered({A: records(15, 29)}, {}, positions) == {A: 15}


def test_a_batch_cut_short_rewinds_to_the_first_record_not_delivered():
    positions = FakePositions({A: 10, B: 20})
    fetched = {A: records(0, 9), B: records(12, 19)}
    assert undelivered(fetched, {A: 9, B: 14}, positions) == {B: 15}


def test_a_partition_moved_since_the_fetch_is_left_where_it_was_moved():
    positions = FakePositions({A: 3, B: None})  # a rebalance seeked A to its committed offset; B was revoked
    fetched = {A: records(10, 19), B: records(0, 4)}
    assert undelivered(fetched, {}, positions) == {}


def test_everything_delivered_rewinds_nothing():
    positions = FakePositions({A: 5, C: 8})
    fetched = {A: records(0, 4), C: records(7, 7), B: []}
    assert undelivered(fetched, {A: 4, C: 7}, positions) == {}
