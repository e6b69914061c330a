"""What the bulk recovery (ADR 030) relies on in Faust 0.15.3, on the real app: if a Faust upgrade changes one of
these, this fails and the bulk recovery must be revisited.

- The RocksDB store keeps each partition's persisted offset as ``str(offset).encode()`` under ``Store.offset_key``
  in the partition's own database, which ``_db_for_partition`` opens; what the loader writes is what Faust reads.
- ``TableManager.on_rebalance`` awaits the table's ``on_rebalance`` (the store opens the partitions) before the
  recovery's ``on_rebalance``, and the latter reads the persisted offsets then (``Recovery._add``): the bulk load
  sits in between, and Faust's recovery starts where it ended, with nothing left to read.
"""

from __future__ import annotations

import asyncio
from types import SimpleNamespace

from faust.stores.rocksdb import Store as RocksStore
from faust.types import TP

from scoring import example_model_path
from streams.devtools.testing import build_app
from streams.worker import bulkrecovery
from streams.worker.bulkreader import LoadCounts, _write
from streams.worker.table import table_recovery

B2B = example_model_path("b2b")


class Record:
    """The part of a confluent-kafka ``Message`` the loader reads."""

    def __init__(self, partition: int, offset: int, key: bytes | None, value: bytes | None) -> None:
        self._partition, self._offset, self._key, self._value = partition, offset, key, value

    def partition(self) -> int:
        return self._partition

    def offset(self) -> int:
        return self._offset

    def key(self) -> bytes | None:
        return self._key

    def value(self) -> bytes | None:
        return self._value

    def error(self) -> None:
        return None


def test_what_the_loader_writes_is_what_faust_reads_back(tmp_path):
    built = build_app(B2B, tmp_path / "state", store="rocksdb://")
    store = built.table.data
    assert isinstance(store, RocksStore) and bulkrecovery.rocksdb_store(built.table) is store
    assert store.offset_key == b"__faust\0offset__"
    topic = built.table.changelog_topic.get_topic_name()
    database = store._db_for_partition(2)
    records = [
        Record(2, 7, b'"lead-1"', b'{"a":1}'),
        Record(2, 9, b'"lead-2"', b'{"b":2}'),
        Record(2, 12, b'"lead-1"', None),
    ]
    ends = {2: 100}
    _write(records, ends, {2: database}, store.offset_key, LoadCounts())
    assert store.persisted_offset(TP(topic, 2)) == 12  # Faust's recovery would start after it
    assert database.get(b'"lead-2"') == b'{"b":2}' and database.get(b'"lead-1"') is None
    assert list(bulkrecovery.stored_items(store, [2])) == [(b'"lead-2"', b'{"b":2}')]
    assert ends == {2: 100}  # not at its end yet
    _write([Record(2, 99, b'"lead-3"', b"{}")], ends, {2: database}, store.offset_key, LoadCounts())
    assert ends == {} and store.persisted_offset(TP(topic, 2)) == 99


async def test_faust_reads_the_persisted_offsets_after_the_bulk_load(tmp_path, monkeypatch):
    built = build_app(B2B, tmp_path / "state", store="rocksdb://")
    app, table = built.app, built.table
    topic = table.changelog_topic.get_topic_name()
    actives = {TP(topic, 0), TP(topic, 1)}
    monkeypatch.setattr(app, "assignor", SimpleNamespace(assigned_actives=lambda: actives, assigned_standbys=set))
    happened: list[str] = []

    async def bulk_load(app_, settings, table_, store, stopped):
        happened.append("bulk load")
        assert 0 in store._dbs and 1 in store._dbs  # the store has opened the assigned partitions
        for partition in (0, 1):
            store.set_persisted_offset(TP(topic, partition), 41 + partition)
        return None

    monkeypatch.setattr(bulkrecovery, "bulk_load_actives", bulk_load)
    recovery = table_recovery(app)
    faust_on_rebalance = recovery.on_rebalance

    async def recovery_on_rebalance(*args):
        happened.append("faust recovery")
        await faust_on_rebalance(*args)

    monkeypatch.setattr(recovery, "on_rebalance", recovery_on_rebalance)

    async def no_channels() -> None:  # it would start the tables' services (a broker)
        pass

    monkeypatch.setattr(app.tables, "_update_channels", no_channels)
    await app.tables.on_rebalance(actives, set(), actives, 0)  # what Faust's App._on_partitions_assigned awaits
    assert happened == []  # the rebalance callback returns at once: the load runs after it
    await asyncio.wait_for(recovery.signal_recovery_start.wait(), 5)
    assert happened == ["bulk load", "faust recovery"]
    assert dict(recovery.active_offsets) == {TP(topic, 0): 41, TP(topic, 1): 42}
    recovery.active_highwaters.update({TP(topic, 0): 41, TP(topic, 1): 42})  # Faust's highwater: the end - 1
    assert not recovery.need_recovery()
