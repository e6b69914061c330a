"""Stream tests of exactly_once (ADR 024): the real batch scorer, with recording transactions in place of the
transactional producers. A batch is split by input partition, and each partition's outputs, changelog records and
input offsets go in one transaction of that partition; the store and the acks follow its commit, and a failed
transaction writes nothing to the store and acks nothing."""

from __future__ import annotations

import contextlib
import itertools
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable, Sequence
from dataclasses import dataclass, field

import pytest

from scoring import example_model_path
from streams.datasets.synthetic import JourneyGenerator
from streams.devtools.testing import WorkerDriver
from streams.kafka.partitioner import lead_partition
from streams.kafka.producer import Record
from streams.kafka.transactions import Offsets
from streams.settings import load_settings

B2B = example_model_path("b2b")
EVENTS = "lead-events"


@dataclass
class Recorded:
    partition: int
    records: list[Record] = field(default_factory=list)
    offsets: dict[tuple[str, int], int] = field(default_factory=dict)


class RecordingTransactions:
    """Keeps each committed transaction; ``fail_partition``'s transaction raises once its writes are in."""

    def __init__(self, fail_partition: int | None = None) -> None:
        self.fail_partition = fail_partition
        self.committed: list[Recorded] = []
        self.aborted: list[Recorded] = []
        self._offsets: dict[tuple[str, int], itertools.count[int]] = defaultdict(itertools.count)

    @contextlib.asynccontextmanager
    async def transaction(self, partition: int) -> AsyncIterator[RecordingTransaction]:
        open_ = RecordingTransaction(self, Recorded(partition))
        try:
            yield open_
            if partition == self.fail_partition:
                raise RuntimeError(f"the transaction of partition {partition} fails")
        except BaseException:
            self.aborted.append(open_.recorded)
            raise
        self.committed.append(open_.recorded)

    def offset(self, topic: str, partition: int) -> int:
        return next(self._offsets[(topic, partition)])

    async def on_assigned(self, partitions: Iterable[int]) -> None:
        """Nothing to fence."""

    async def stop(self) -> None:
        """Nothing to close."""


@dataclass
class RecordingTransaction:
    owner: RecordingTransactions
    recorded: Recorded

    async def send_all(self, records: Sequence[Record]) -> list[int]:
        self.recorded.records.extend(records)
        return [self.owner.offset(topic, partition or 0) for topic, _, _, partition in records]

    async def send_offsets(self, offsets: Offsets) -> None:
        self.recorded.offsets.update(offsets)


ACCOUNT_INPUTS = "eos-test-account-inputs"  # member updates (ADR 043): keyed by account id, not by lead


def driver(tmp_path, fail_partition: int | None = None) -> tuple[WorkerDriver, RecordingTransactions]:
    worker = WorkerDriver(B2B, tmp_path / "state", app_id="eos-test", partitions=4, processing_guarantee="exactly_once")
    transactions = RecordingTransactions(fail_partition)
    worker.scorer.transactions = transactions
    return worker, transactions


def events(count: int = 600):
    return list(JourneyGenerator(40, seed=11).events(count))


async def test_a_batch_is_one_transaction_per_input_partition_with_its_outputs_state_and_offsets(tmp_path):
    worker, transactions = driver(tmp_path)
    await worker.send(*events())
    inputs = defaultdict(list)
    for message in worker.acked:
        inputs[message.partition].append(message.offset)
    assert sorted(t.partition for t in transactions.committed) == sorted(inputs) == [0, 1, 2, 3]
    changelog = worker.leadscore.table.changelog_topic.get_topic_name()
    for transaction in transactions.committed:
        p = transaction.partition
        assert transaction.offsets == {(EVENTS, p): max(inputs[p]) + 1}
        states = [record for record in transaction.records if record[0] == changelog]
        outputs = [record for record in transaction.records if record[0] not in (changelog, ACCOUNT_INPUTS)]
        assert states and outputs
        assert {partition for *_, partition in states} == {p}  # changelog partition = input partition
        assert {lead_partition(key.decode(), 4) for _, key, _, _ in outputs if key} == {p}  # a lead's outputs


async def test_exactly_once_writes_what_at_least_once_writes(tmp_path):
    worker, transactions = driver(tmp_path)
    reference = WorkerDriver(B2B, tmp_path / "reference", app_id="eos-test", partitions=4)
    await worker.send(*events(), batch_size=50)
    await reference.send(*events(), batch_size=50)
    changelog = worker.leadscore.table.changelog_topic.get_topic_name()
    written = [record for t in transactions.committed for record in t.records if record[0] != changelog]

    def per_lead(records: Iterable[Record]) -> dict[bytes | None, list[tuple[str, bytes | None]]]:
        found = defaultdict(list)
        for topic, key, value, _ in records:
            found[key].append((topic, value))
        return dict(found)

    sent = [r for r in reference.sink.records if r[0] != changelog]
    assert per_lead(r for r in written if r[0] != ACCOUNT_INPUTS) == per_lead(r for r in sent if r[0] != ACCOUNT_INPUTS)
    # member updates are keyed by account: an account's come from several input partitions, in any order between them
    members = [sorted(r[1:3] for r in rs if r[0] == ACCOUNT_INPUTS) for rs in (written, sent)]
    assert members[0] == members[1] and members[0]
    assert dict(worker.leadscore.table.items()) == dict(reference.leadscore.table.items())
    assert worker.sink.records == []  # nothing through the at-least-once producer


async def test_a_failed_transaction_writes_no_state_and_acks_nothing_of_its_partition(tmp_path):
    worker, transactions = driver(tmp_path, fail_partition=2)
    with pytest.raises(RuntimeError, match="partition 2"):
        await worker.send(*events())
    assert [t.partition for t in transactions.aborted] == [2]
    assert 2 not in {message.partition for message in worker.acked}
    assert {lead_partition(lead, 4) for lead, _ in worker.leadscore.table.items()} <= {
        t.partition for t in transactions.committed
    }
    assert all(message.partition in {t.partition for t in transactions.committed} for message in worker.acked)


def test_exactly_once_needs_the_fast_path_and_a_known_guarantee():
    with pytest.raises(Exception, match="LEADSCORE_BATCH_MAX"):
        load_settings(processing_guarantee="exactly_once", batch_max=0)
    with pytest.raises(Exception, match="PROCESSING_GUARANTEE"):
        load_settings(processing_guarantee="exactly-once")
    assert load_settings().processing_guarantee == "at_least_once"
