"""The account agent (ADR 041, 043): reads the member updates of ``<app_id>-account-inputs`` (keyed by account id,
partitioned by the default partitioner on it, so each account lives on one partition), applies each to the
account's state with :class:`~scoring.accounts.engine.AccountEngine`, and sends ``AccountScoreChanged`` on
``account-score-changes``, ``AccountThresholdCrossed`` on ``account-thresholds`` and ``AccountScore`` on the
compacted ``account-scores`` (key = account id).

Its state is the changelog-backed table ``account-state`` (partitions = the settings' partitions, beside the input
topic's), one value per account: :func:`scoring.accounts.state.encode_account_state`. Per record: outputs sent and
acknowledged first, then the state written (a crash in between re-delivers the record: a member update already
applied is a duplicate, the outputs carry deterministic ids). At least once in both processing guarantees.

Decay: a timer (every ``decay_tick_s``) sends an account tick, on the same topic and partition, to each account
whose next crossing by time alone (``AccountEngine.next_due``) the partition's event-time clock has passed (the
highest member update time seen on that partition, advanced by wall time once idle, as for leads: ADR 009); the
agent advances the account to the clock and sends its decay crossings. A record that is neither a member update
nor a tick, one keyed by another account, or one the engine refuses is a dead letter with its reason, and the
agent goes on.
"""

from __future__ import annotations

import inspect
import struct
import time
from dataclasses import dataclass, field

import msgspec
from faust.types import AgentT, AppT, EventT, StreamT, TableT, TopicT

from scoring import Engine, LeadscoreError
from scoring.accounts.engine import AccountEngine, AccountUpdate
from scoring.accounts.records import AccountSnapshot, MemberUpdate, decode_member_update
from scoring.accounts.state import AccountState, decode_account_state, encode_account_state
from streams.errors import DecodeError
from streams.kafka.account_codec import encode_account_change, encode_account_crossing, encode_account_scores
from streams.kafka.codec import AvroCodec
from streams.kafka.partitioner import lead_partition
from streams.settings import Settings
from streams.worker.accountapi import register_account_api
from streams.worker.metrics import Metrics
from streams.worker.processor import Message, Processor
from streams.worker.ticks import DueIndex, PartitionClocks
from streams.worker.wiring import InputTopics, SendTopics

ACCOUNT_TABLE = "account-state"
AccountTable = TableT[str, bytes]
#: An account tick's value: this marker (never the start of a MessagePack member update), then the clock in Unix ms
TICK_MARK = b"\x00account-tick"
_CLOCK = struct.Struct(">q")


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
class AccountWorker:
    """Applies one record at a time against the table, and sends and writes what it produced."""

    processor: Processor  # its engine: the lead models now (a reload swaps it); its dead letters
    codec: AvroCodec
    table: AccountTable
    metrics: Metrics
    topics: AccountTopics
    partitions: int
    due_index: DueIndex = field(default_factory=DueIndex)
    clocks: PartitionClocks = field(default_factory=lambda: PartitionClocks(idle_after_ms=60_000))
    _engine: tuple[Engine, AccountEngine] | None = None

    @property
    def engine(self) -> AccountEngine:
        """The account engine of the lead engine running now (rebuilt when a reload swapped it)."""
        lead_engine = self.processor.engine
        if self._engine is None or self._engine[0] is not lead_engine:
            self._engine = (lead_engine, AccountEngine(lead_engine.models))
        return self._engine[1]

    async def handle(self, message: Message) -> None:
        clock_ms = tick_clock(message.value)
        if clock_ms is not None:
            await self._advance(message, clock_ms)
            return
        try:
            member = self._member(message)
            state = self._state(member.account_id)
            update = self.engine.apply(state, member)
        except LeadscoreError as exc:
            self.metrics.member_updates_consumed.labels("dead_letter").inc()
            letter = self.processor.dead_letter(message, exc)
            if self.topics.dead_letters is not None:
                await _send_acknowledged(self.topics.dead_letters, message.key, letter)
            return
        if update.duplicate:
            self.metrics.member_updates_consumed.labels("duplicate").inc()
            return
        self.metrics.member_updates_consumed.labels("applied").inc()
        self.clocks.observe(message.partition, member.occurred_at_ms, _wall_ms())
        await self._emit(message, update, member.occurred_at_ms)

    async def _advance(self, message: Message, clock_ms: int) -> None:
        account_id = (message.key or b"").decode(errors="replace")
        state = self._state(account_id)
        if state is None:
            return  # forgotten since: nothing to do
        await self._emit(message, self.engine.advance(state, clock_ms), clock_ms)

    async def _emit(self, message: Message, update: AccountUpdate, at_ms: int) -> None:
        """Outputs sent and acknowledged, then the state written (or deleted once no member is left)."""
        state = update.state
        key = state.account_id.encode()
        for change in update.changes:
            await _send_acknowledged(self.topics.score_changes, key, encode_account_change(self.codec, change))
            self.metrics.account_score_changes.labels(change.model_id, change.cause.value).inc()
        for crossing in update.crossings:
            await _send_acknowledged(self.topics.thresholds, key, encode_account_crossing(self.codec, crossing))
            labels = (crossing.model_id, crossing.level, crossing.direction.value)
            self.metrics.account_crossings.labels(*labels).inc()
        empty = not any(model.members for model in state.models.values())
        if update.changes or update.crossings:
            # valued at the account's own latest time: a member update that arrives after a later one of another
            # member (lead partitions interleave) must not date the record before the time its scores are at
            at_ms = max([at_ms, *(model.anchor_ms for model in state.models.values())])
            snapshots = () if empty else self.engine.snapshot(state, at_ms)
            scores = None if empty else encode_account_scores(self.codec, state.account_id, at_ms, snapshots)
            await _send_acknowledged(self.topics.scores, key, scores)  # None: a tombstone
        if empty:
            self.table.pop(state.account_id, None)
            self.due_index.set(message.partition, state.account_id, None)
            return
        self.table[state.account_id] = encode_account_state(state)
        self.due_index.set(message.partition, state.account_id, self.engine.next_due(state, at_ms))

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


def register_accounts(app: AppT, topic: TopicT, worker: AccountWorker) -> AgentT[bytes]:
    """The ``score-accounts`` agent on ``topic`` (the member updates and account ticks)."""

    @app.agent(topic, name="score-accounts")
    async def score_accounts(stream: StreamT[bytes]) -> None:
        async for event in stream.events():
            await worker.handle(_message(event))

    return score_accounts


def register_account_ticks(app: AppT, settings: Settings, topic: TopicT, worker: AccountWorker) -> None:
    """Every ``decay_tick_s``: a tick to each owned account due by its partition's clock, through ``topic``; after
    a recovery of the table, the due index rebuilt from it."""
    name = topic.get_topic_name()

    def owned() -> list[int]:
        return sorted(tp.partition for tp in app.assignor.assigned_actives() if tp.topic == name)

    async def send_account_ticks() -> None:
        wall_ms = _wall_ms()
        for partition in owned():
            clock = worker.clocks.now(partition, wall_ms)
            if clock is None:
                continue
            for account_id in worker.due_index.pop_due(partition, clock):
                await topic.send(key=account_id.encode(), value=account_tick(clock), partition=partition)
        worker.metrics.accounts_due.set(len(worker.due_index))
        worker.metrics.accounts.set(len(worker.table))

    async def recovered() -> None:
        worker.reindex(set(owned()), _wall_ms())

    app.timer(settings.decay_tick_s, name="account-decay-timer")(send_account_ticks)
    worker.table.on_recover(recovered)


def install_accounts(
    app: AppT,
    settings: Settings,
    inputs: InputTopics,
    outputs: SendTopics,
    processor: Processor,
    codec: AvroCodec,
    metrics: Metrics,
) -> tuple[AgentT[bytes] | None, AccountWorker | None]:
    """The account agent, its table, its decay timer and ``GET /accounts/{id}``; ``(None, None)`` for a worker that
    rolls up nothing (a shadow worker)."""
    if inputs.account_inputs is None or outputs.account_score_changes is None:
        return None, None
    assert outputs.account_thresholds is not None and outputs.account_scores is not None
    topics = AccountTopics(
        outputs.account_score_changes, outputs.account_thresholds, outputs.account_scores, outputs.dead_letters
    )
    clocks = PartitionClocks(idle_after_ms=int(settings.decay_tick_s * 1000))
    table = account_table(app, settings)
    worker = AccountWorker(processor, codec, table, metrics, topics, settings.partitions, clocks=clocks)
    register_account_ticks(app, settings, inputs.account_inputs, worker)
    register_account_api(app, settings, worker.view, table.changelog_topic.get_topic_name())
    return register_accounts(app, inputs.account_inputs, worker), worker


def _message(event: EventT[bytes]) -> Message:
    source = event.message
    key, value = event.key, event.value
    return Message(
        source.topic,
        source.partition,
        source.offset,
        key if isinstance(key, bytes) else None,
        value if isinstance(value, bytes) else None,
    )


async def _send_acknowledged(topic: TopicT, key: bytes | None, value: bytes | None) -> None:
    delivery: object = await topic.send(key=key, value=value)
    if inspect.isawaitable(delivery):  # Faust's future of the broker's acknowledgement (a test's recorder: None)
        await delivery


def _wall_ms() -> int:
    return int(time.time() * 1000)
