"""The account agent (ADR 041, 043): reads the member updates of ``<app_id>-account-inputs`` (keyed by account id,
partitioned by the default partitioner on it, so each account lives on one partition), applies each to the
account's state with :class:`~scoring.accounts.engine.AccountEngine`, and sends ``AccountScoreChanged`` on
``account-score-changes``, ``AccountThresholdCrossed`` on ``account-thresholds`` and ``AccountScore`` on the
compacted ``account-scores`` (key = account id).

Its state is the changelog-backed table ``account-state`` (partitions = the settings' partitions, beside the input
topic's), one value per account: :func:`scoring.accounts.state.encode_account_state`, decoded once and kept live
between batches. Records come in batches (``take_events``, up to ``BATCH_MAX``), as the lead fast path does it
(ADR 013): the batch's outputs sent and acknowledged first (one ``AccountScore`` per account touched), then one
changelog record per account (acknowledged) applied to the store, and only then the batch acked (a crash in
between re-delivers it: a member update already applied is a duplicate, the outputs carry deterministic ids). At
least once in both processing guarantees.

Decay: a timer (every ``decay_tick_s``) sends an account tick, on the same topic and partition, to each account
whose next crossing by time alone (``AccountEngine.next_due``) the partition's event-time clock has passed (the
highest member update time seen on that partition, advanced by wall time once idle, as for leads: ADR 009); the
agent advances the account to the clock and sends its decay crossings. A record that is neither a member update
nor a tick, one keyed by another account, or one the engine refuses is a dead letter with its reason, and the
agent goes on.
"""

from __future__ import annotations

import struct
import time
from collections.abc import Sequence
from dataclasses import dataclass, field

import msgspec
import orjson
from faust.types import AppT, TableT, TopicT

from scoring import Engine, LeadscoreError
from scoring.accounts.engine import AccountEngine, AccountUpdate
from scoring.accounts.records import AccountSnapshot, MemberUpdate, decode_member_update
from scoring.accounts.state import AccountState, decode_account_state, encode_account_state
from streams.errors import DecodeError
from streams.kafka.account_codec import encode_account_change, encode_account_crossing, encode_account_scores
from streams.kafka.codec import AvroCodec
from streams.kafka.partitioner import lead_partition
from streams.kafka.producer import BatchProducer, Record
from streams.settings import Settings
from streams.worker.metrics import Metrics
from streams.worker.processor import Message, Processor
from streams.worker.recovery import changelog_event
from streams.worker.ticks import DueIndex, PartitionClocks

ACCOUNT_TABLE = "account-state"
AccountTable = TableT[str, bytes]
#: An account tick's value: this marker (never the start of a MessagePack member update), then the clock in Unix ms
TICK_MARK = b"\x00account-tick"
_CLOCK = struct.Struct(">q")
#: Member updates applied per batch at most, and how long a batch waits to fill (their outputs and states are sent
#: and acknowledged together: one broker round trip per batch, not per record)
BATCH_MAX = 500
BATCH_WITHIN_S = 0.05


def account_tick(clock_ms: int) -> bytes:
    return TICK_MARK + _CLOCK.pack(clock_ms)


def tick_clock(value: bytes | None) -> int | None:
    """The clock of an account tick; None when ``value`` is not one."""
    if value is None or len(value) != len(TICK_MARK) + _CLOCK.size or not value.startswith(TICK_MARK):
        return None
    return int(_CLOCK.unpack_from(value, len(TICK_MARK))[0])


def account_table(app: AppT, settings: Settings) -> AccountTable:
    """The account-state table (changelog ``<app id>-account-state-changelog``, the settings' partitions)."""
    return app.Table(
        ACCOUNT_TABLE,
        default=None,
        value_type=bytes,  # raw: MessagePack of scoring.accounts.state.AccountState
        partitions=settings.partitions,
        help="Per-account roll-up state under every account model (changelog-backed).",
    )


@dataclass(frozen=True)
class AccountTopics:
    """Where the account agent sends: its three outputs and the dead letters (None: not sent)."""

    score_changes: TopicT
    thresholds: TopicT
    scores: TopicT
    dead_letters: TopicT | None


@dataclass
class AccountWork:
    """One batch's working states (changed in place; discarded if the batch fails), and what it sends, in order."""

    records: list[Record] = field(default_factory=list)  # outputs and dead letters
    #: account: (partition, state, time, whether its AccountScore is sent)
    touched: dict[str, tuple[int, AccountState, int, bool]] = field(default_factory=dict)
    states: dict[str, AccountState | None] = field(default_factory=dict)


@dataclass
class AccountWorker:
    """Applies a batch of records against live account states, then sends what they produced, writes the states
    and only then lets the batch be acknowledged."""

    processor: Processor  # its engine: the lead models now (a reload swaps it); its dead letters
    codec: AvroCodec
    table: AccountTable
    metrics: Metrics
    topics: AccountTopics
    partitions: int
    producer: BatchProducer | None = None  # outputs and changelog records, acknowledged (a test puts a sink here)
    due_index: DueIndex = field(default_factory=DueIndex)
    clocks: PartitionClocks = field(default_factory=lambda: PartitionClocks(idle_after_ms=60_000))
    live_max: int = 10_000  # decoded account states kept between batches
    handled: int = 0  # records whose batch has been written (what a test waits for)
    _engine: tuple[Engine, AccountEngine] | None = None
    _live: dict[str, AccountState] = field(default_factory=dict)

    @property
    def engine(self) -> AccountEngine:
        """The account engine of the lead engine running now (rebuilt when a reload swapped it)."""
        lead_engine = self.processor.engine
        if self._engine is None or self._engine[0] is not lead_engine:
            self._engine = (lead_engine, AccountEngine(lead_engine.models))
            self._live.clear()  # derived values of the old models
        return self._engine[1]

    def forget_live(self) -> None:
        """Partitions moved, or a batch failed: the live states may be stale; read the table again."""
        self._live.clear()

    async def handle(self, message: Message) -> None:
        await self.handle_batch([message])

    async def handle_batch(self, messages: Sequence[Message]) -> None:
        work = AccountWork()
        for message in messages:
            self._decide(message, work)
        try:
            await self._write(work)
        except BaseException:
            self._live.clear()  # the working states were changed in place
            raise
        self.handled += len(messages)

    def _decide(self, message: Message, work: AccountWork) -> None:
        clock_ms = tick_clock(message.value)
        if clock_ms is not None:
            account_id = (message.key or b"").decode(errors="replace")
            state = self._working(account_id, work)
            if state is not None:  # forgotten since: nothing to do
                self._collect(message.partition, self.engine.advance(state, clock_ms), clock_ms, work, member=False)
            return
        try:
            member = self._member(message)
            update = self.engine.apply(self._working(member.account_id, work), member)
        except LeadscoreError as exc:
            self.metrics.member_updates_consumed.labels("dead_letter").inc()
            if self.topics.dead_letters is not None:
                letter = self.processor.dead_letter(message, exc)
                work.records.append((self.topics.dead_letters.get_topic_name(), message.key, letter, None))
            return
        if update.duplicate:
            self.metrics.member_updates_consumed.labels("duplicate").inc()
            return
        self.metrics.member_updates_consumed.labels("applied").inc()
        self.clocks.observe(message.partition, member.occurred_at_ms, wall_ms())
        work.states[member.account_id] = update.state
        self._collect(message.partition, update, member.occurred_at_ms, work, member=True)

    def _collect(self, partition: int, update: AccountUpdate, at_ms: int, work: AccountWork, member: bool) -> None:
        """Files the update's outputs; its account's state is written with the batch, and its AccountScore sent
        after any applied member update (so the last one is dated at the account's latest time, whatever the
        batches were) or a decay crossing."""
        state = update.state
        key = state.account_id.encode()
        changes, thresholds = self.topics.score_changes.get_topic_name(), self.topics.thresholds.get_topic_name()
        for change in update.changes:
            work.records.append((changes, key, encode_account_change(self.codec, change), None))
            self.metrics.account_score_changes.labels(change.model_id, change.cause.value).inc()
        for crossing in update.crossings:
            work.records.append((thresholds, key, encode_account_crossing(self.codec, crossing), None))
            self.metrics.account_crossings.labels(crossing.model_id, crossing.level, crossing.direction.value).inc()
        previous = work.touched.get(state.account_id)
        announce = member or bool(update.crossings) or (previous is not None and previous[3])
        work.touched[state.account_id] = (partition, state, max(at_ms, previous[2] if previous else at_ms), announce)

    async def _write(self, work: AccountWork) -> None:
        """Outputs (each touched account's AccountScore last) sent and acknowledged, then the states written to the
        changelog (acknowledged) and the store, then the due index: the caller acks the batch after this."""
        scores = self.topics.scores.get_topic_name()
        entries: list[tuple[str, int, AccountState, bytes | None, int]] = []
        for account_id, (partition, state, at_ms, announce) in work.touched.items():
            # valued at the account's own latest time: a member update that arrives after a later one of another
            # member (lead partitions interleave) must not date the record before the time its scores are at
            at_ms = max([at_ms, *(model.anchor_ms for model in state.models.values())])
            value = _encoded(state)
            entries.append((account_id, partition, state, value, at_ms))
            if announce:
                snapshot = (
                    None
                    if value is None
                    else encode_account_scores(self.codec, account_id, at_ms, self.engine.snapshot(state, at_ms))
                )
                work.records.append((scores, account_id.encode(), snapshot, None))  # None: a tombstone
        producer = self._producer()
        await producer.send_all(work.records)
        topic = self.table.changelog_topic.get_topic_name()
        offsets = await producer.send_all(
            [(topic, orjson.dumps(account_id), value, partition) for account_id, partition, _, value, _ in entries]
        )
        self.table.apply_changelog_batch(
            [
                changelog_event(topic, partition, offset, orjson.dumps(account_id), value, account_id, value)
                for (account_id, partition, _, value, _), offset in zip(entries, offsets, strict=True)
            ]
        )
        for account_id, partition, state, value, at_ms in entries:
            self._keep(account_id, None if value is None else state)
            due = None if value is None else self.engine.next_due(state, at_ms)
            self.due_index.set(partition, account_id, due)

    def _producer(self) -> BatchProducer:
        if self.producer is None:
            raise RuntimeError("the account agent has no producer (install_accounts gives it one)")
        return self.producer

    def _working(self, account_id: str, work: AccountWork) -> AccountState | None:
        if account_id in work.states:
            return work.states[account_id]
        state = self._live.get(account_id)
        if state is None:
            state = self._state(account_id)
        work.states[account_id] = state
        return state

    def _keep(self, account_id: str, state: AccountState | None) -> None:
        self._live.pop(account_id, None)
        if state is not None:
            if len(self._live) >= self.live_max:
                del self._live[next(iter(self._live))]  # the least recently written
            self._live[account_id] = state

    def _member(self, message: Message) -> MemberUpdate:
        try:
            member = decode_member_update(message.value or b"")
        except (msgspec.DecodeError, msgspec.ValidationError) as exc:
            raise DecodeError(f"not a member update: {exc}") from None
        if message.key != member.account_id.encode():
            raise DecodeError(f"member update for account {member.account_id!r} keyed by {message.key!r}")
        if lead_partition(member.account_id, self.partitions) != message.partition:
            raise DecodeError(f"member update for account {member.account_id!r} on partition {message.partition}")
        return member

    def _state(self, account_id: str) -> AccountState | None:
        value = self.table.get(account_id)
        return None if value is None else decode_account_state(value)

    def view(self, account_id: str, at_ms: int) -> tuple[AccountSnapshot, ...] | None:
        """The account's snapshots at ``at_ms`` under every account model (the query API); None: no such account."""
        state = self._state(account_id)
        return None if state is None else self.engine.snapshot(state, at_ms)

    def reindex(self, owned: set[int], wall_ms: int) -> None:
        """After a recovery: the due index and the partitions' clocks from the owned accounts in the table."""
        self._live.clear()
        entries: list[tuple[int, str, int]] = []
        for account_id, value in self.table.items():
            partition = lead_partition(account_id, self.partitions)
            if partition not in owned or value is None:
                continue
            state = decode_account_state(value)
            latest = max((m.anchor_ms for m in state.models.values()), default=0)
            self.clocks.observe(partition, latest, wall_ms)
            due = self.engine.next_due(state, latest)
            if due is not None:
                entries.append((partition, account_id, due))
        self.due_index.replace_all(entries)


def _encoded(state: AccountState) -> bytes | None:
    """The state for the changelog; None (a tombstone) once no member is left under any model."""
    return encode_account_state(state) if any(model.members for model in state.models.values()) else None


def wall_ms() -> int:
    return int(time.time() * 1000)
