"""What the agents do with one message, as a plain object they call: decode, check, score, encode.

The agents keep only the I/O (table read and write, sends); every decision happens here, so it is testable
without a broker and the agent loops hold no arithmetic.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Mapping

from scoring import (
    Engine,
    InvalidEventError,
    LeadEvent,
    LeadProfile,
    LeadscoreError,
    LeadState,
    Update,
    check_event,
    check_profile,
)
from scoring.accounts.records import MemberCause
from scoring.conversions import check_conversion
from scoring.engine import earliest
from scoring.routing import encode_request, erasure_requests, route_requests
from scoring.trail import HISTORY_MOVES, Move, Trail, extend_moves, extend_trail, reported_points, scores_at_conversion
from streams.kafka.codec import AvroCodec
from streams.kafka.partitioner import lead_partition
from streams.sources.mapping import Skipped
from streams.sources.source import Source
from streams.worker.members import MemberOutputs
from streams.worker.metrics import Metrics
from streams.worker.results import TICK, IdentityHooks, LoadState, Message, Result, message_headers
from streams.worker.stored import StoredLead

__all__ = ["TICK", "IdentityHooks", "LoadState", "Message", "Processor", "Result", "message_headers"]


class Processor:
    """Decides what to do with each input. An input that is not keyed by its lead id, or not on the partition the
    default partitioner gives that key, is forwarded (once) to the rerouting topic, keyed and partitioned right,
    so each lead's state lives on one partition whatever partitioner the producer used (ADR 005)."""

    def __init__(
        self,
        engine: Engine,
        codec: AvroCodec,
        metrics: Metrics,
        partitions: int,
        rerouted_topic: str,
        lead_time_ms: int | None = 7 * 86_400_000,
        sources: Mapping[str, Source] | None = None,
        moves_kept: int = HISTORY_MOVES,
    ):
        self.engine = engine
        #: conversions are joined to the score this long before them; None: no join, no score trail kept
        self.lead_time_ms = lead_time_ms
        self.codec = codec
        self.metrics = metrics
        self.partitions = partitions
        self.rerouted_topic = rerouted_topic
        self.sources = dict(sources or {})  # declared sources by topic (ADR 035)
        self.moves_kept = moves_kept  # per lead and model, for the lead page (ADR 040); 0: none
        self._consumed = metrics.child(metrics.events_consumed)
        self._by_type = metrics.child(metrics.events_by_type)
        self._changes = metrics.child(metrics.score_changes)
        self._crossings = metrics.child(metrics.crossings)
        self._source_records = metrics.child(metrics.source_records)
        self._ignored = metrics.child(metrics.ignored_events)
        self.members = MemberOutputs(metrics)  # what the lead's accounts hear (ADR 043)
        self.identities: IdentityHooks | None = None  # aliases and merges (ADR 044), set by the wiring

    async def resolve_schemas(self, values: Iterable[bytes | None]) -> None:
        """Look up the schema ids of these input values the worker has not seen yet (ADR 021). Call it before
        taking the state lock: the ``process_*`` methods decode from memory, and an id still unknown then makes a
        dead letter. Raises :class:`~streams.errors.SchemaRegistryUnavailableError` when the registry is down."""
        await self.codec.resolve(values)

    def _misplaced(self, message: Message, lead_id: str) -> Result | None:
        partition = lead_partition(lead_id, self.partitions)
        key = lead_id.encode()
        if message.topic == self.rerouted_topic or (message.key == key and message.partition == partition):
            return None
        self.metrics.rerouted.labels(message.topic).inc()
        return Result(forward=(partition, key))

    def process_rerouted(self, message: Message, load_state: LoadState, has_state: Callable[[str], bool]) -> Result:
        """An input forwarded by :meth:`_misplaced`: dispatch by its schema."""
        try:
            name = self.codec.schema_name(message.value)
        except LeadscoreError as exc:
            return Result(dead_letter=self.dead_letter(message, exc))
        if name == "LeadProfile":
            return self.process_profile(message, load_state)
        if name == "LeadErasure":
            return self.process_erasure(message, has_state, load_state)
        if name == "Conversion":
            return self.process_conversion(message, load_state)
        if name == "LeadIdentity" and self.identities is not None:
            return self.identities.identity(message, load_state)
        return self.process_event(message, load_state)

    def process_event(self, message: Message, load_state: LoadState) -> Result:
        """Score one ``lead-events`` message; bad input comes back as a dead letter, never as an exception."""
        self._consumed(message.topic).inc()
        try:
            event = self.codec.decode_event(message.value)
        except LeadscoreError as exc:
            return Result(dead_letter=self.dead_letter(message, exc))
        return self._score_event(message, event, load_state)

    def _score_event(self, message: Message, event: LeadEvent, load_state: LoadState) -> Result:
        try:
            check_event(event, self.engine.known_event_types)
            if (forward := self._misplaced(message, event.lead_id)) is not None:
                return forward
            if self.identities is not None and (aliased := self.identities.event(message, event)) is not None:
                return aliased  # an absorbed id's event: to the survivor, or a duplicate (ADR 044)
            state, trail, moves = self._load(load_state, event.lead_id)
            before = self.members.before(state)
            update = self.engine.score_event(state, event)
        except LeadscoreError as exc:
            return Result(dead_letter=self.dead_letter(message, exc))
        if update.duplicate:
            self.metrics.duplicates.labels(message.topic).inc()
            return Result(event_ms=event.occurred_at_ms)
        self._by_type(event.type).inc()
        result = self._result(update, message.partition, trail, moves)
        result.event_ms = event.occurred_at_ms
        result.member_updates = self.members.of_update(
            self.engine, before, update, event.account_id, MemberCause.EVENT, event.event_id, event.occurred_at_ms
        )
        return result

    def process_profile(self, message: Message, load_state: LoadState) -> Result:
        """Apply one ``lead-profiles`` message: recompute fit and segments, emit what moved."""
        self._consumed(message.topic).inc()
        try:
            profile = self.codec.decode_profile(message.value)
        except LeadscoreError as exc:
            return Result(dead_letter=self.dead_letter(message, exc))
        return self._score_profile(message, profile, load_state)

    def _score_profile(self, message: Message, profile: LeadProfile, load_state: LoadState) -> Result:
        try:
            check_profile(profile)
            if (forward := self._misplaced(message, profile.lead_id)) is not None:
                return forward
            if self.identities is not None and (aliased := self.identities.profile(message, profile)) is not None:
                return aliased
            state, trail, moves = self._load(load_state, profile.lead_id)
            before = self.members.before(state)
            update = self.engine.score_profile(state, profile)
        except LeadscoreError as exc:
            return Result(dead_letter=self.dead_letter(message, exc))
        result = self._result(update, message.partition, trail, moves)
        at_ms, cause, cause_id = profile.updated_at_ms, MemberCause.PROFILE, f"profile@{profile.updated_at_ms}"
        result.member_updates = self.members.of_update(self.engine, before, update, None, cause, cause_id, at_ms)
        return result

    def process_source(self, message: Message, load_state: LoadState) -> Result:
        """One record of a declared source (ADR 035): mapped to an event or a profile and scored like a native one.
        A record it cannot map is a dead letter naming the step that failed; one it skips on purpose is counted.
        Misplaced records are forwarded to the rerouting topic as the LeadEvent or LeadProfile they map to."""
        source = self.sources[message.topic]
        self._consumed(message.topic).inc()
        try:
            mapped = source.read(message.value, message.headers)
        except LeadscoreError as exc:
            self._source_records(source.name, "dead_letter").inc()
            return Result(dead_letter=self.dead_letter(message, exc))
        if isinstance(mapped, Skipped):
            self._source_records(source.name, "skipped").inc()
            return Result()
        if isinstance(mapped, LeadEvent):
            self._source_records(source.name, "event").inc()
            result = self._score_event(message, mapped, load_state)
            if result.forward is not None and result.forward_value is None:
                result.forward_value = self.codec.encode_event(mapped)
            return result
        self._source_records(source.name, "profile").inc()
        result = self._score_profile(message, mapped, load_state)
        if result.forward is not None and result.forward_value is None:
            result.forward_value = self.codec.encode_profile(mapped)
        return result

    def process_conversion(self, message: Message, load_state: LoadState) -> Result:
        """Join one ``lead-conversions`` message to the lead's scores at the outcome and a lead time before it."""
        self._consumed(message.topic).inc()
        try:
            conversion = self.codec.decode_conversion(message.value)
            check_conversion(conversion)
            if (forward := self._misplaced(message, conversion.lead_id)) is not None:
                return forward
            state, trail, _ = self._load(load_state, conversion.lead_id)
        except LeadscoreError as exc:
            return Result(dead_letter=self.dead_letter(message, exc))
        lead_time_ms = self.lead_time_ms or 0
        joined = scores_at_conversion(self.engine, state, trail, conversion, lead_time_ms)
        outcome = conversion.outcome.value
        for score in joined:
            self.metrics.conversions.labels(score.model_id, outcome, score.levels[-1] if score.levels else "none").inc()
        if state is None:  # an outcome for a lead never scored (or scored later): counted, not lost from the figures
            for model in self.engine.models:
                self.metrics.conversions.labels(model.id, outcome, "unknown").inc()
        encoded = self.codec.encode_conversion_scored(conversion, lead_time_ms, state is not None, joined)
        return Result(lead_id=conversion.lead_id, conversion=encoded)

    def process_tick(self, message: Message, load_state: LoadState) -> Result:
        """A decay tick for one lead: crossings caused by time alone up to the partition clock in the tick."""
        lead_id = (message.key or b"").decode(errors="replace")
        stored = load_state(lead_id)
        if stored is None or message.value is None or len(message.value) != TICK.size:
            return Result()  # erased since, or not a tick: nothing to do
        (clock_ms,) = TICK.unpack(message.value)
        self.metrics.decay_ticks.inc()
        update = self.engine.advance_in_place(stored.state, clock_ms)
        return self._result(update, message.partition, stored.trail, stored.moves)

    @staticmethod
    def _load(load_state: LoadState, lead_id: str) -> tuple[LeadState | None, Trail | None, list[Move] | None]:
        """The lead's state, its score trail and its moves (kept beside the state in the envelope; not domain
        state)."""
        stored = load_state(lead_id)
        if stored is None:
            return None, None, None
        return stored.state, stored.trail, stored.moves

    def process_erasure(
        self, message: Message, has_state: Callable[[str], bool], load_state: LoadState | None = None
    ) -> Result:
        """Forget a lead: the agent deletes its state and writes tombstones; the result says so."""
        self._consumed(message.topic).inc()
        try:
            request_id, lead_id = self.codec.decode_erasure(message.value)
            if not lead_id.strip():
                raise InvalidEventError("lead_id is empty")
        except LeadscoreError as exc:
            return Result(dead_letter=self.dead_letter(message, exc))
        if (forward := self._misplaced(message, lead_id)) is not None:
            return forward
        self.metrics.erasures.inc()
        completed = self.codec.encode_erasure_completed(request_id, lead_id, has_state(lead_id), _wall_ms())
        forget = [encode_request(r) for r in erasure_requests(self.engine.models, lead_id, request_id)]
        stored = None if load_state is None else load_state(lead_id)  # its accounts forget it too (ADR 043)
        members = self.members.of_erasure(self.engine, None if stored is None else stored.state, request_id)
        result = Result(lead_id=lead_id, erased=completed, route_requests=forget, member_updates=members)
        if self.identities is not None:
            self.identities.erased(message, result)  # its absorbed ids go too (ADR 044)
        return result

    def _result(self, update: Update, partition: int, trail: Trail | None, moves: list[Move] | None) -> Result:
        at_ms = max((m.levels_at_ms for m in update.state.models.values()), default=0)
        transitions = self.engine.transitions(update.state, at_ms, update.scores)  # for the due time and the drops
        due = earliest(transitions)
        kept = (self._extend_trail(update, trail) or None) if self.lead_time_ms is not None else None
        state = StoredLead(partition, due, update.state, kept, extend_moves(moves, update, self.moves_kept))
        result = Result(lead_id=update.state.lead_id, state=state, due_ms=due)
        for change in update.changes:
            result.changes.append(self.codec.encode_change(change))
            self._changes(change.model_id).inc()
        for crossing in update.crossings:
            result.crossings.append(self.codec.encode_crossing(crossing))
            self._crossings(crossing.model_id, crossing.level, crossing.direction.value).inc()
        result.route_requests = [encode_request(request) for request in route_requests(self.engine.models, update)]
        for ignored in update.ignored:  # by the models' filters (ADR 036)
            self._ignored(ignored.model_id, ignored.reason).inc()
        if result.changes or result.crossings:
            snapshots = self.engine.snapshot(update.state, at_ms, 0, update.scores, transitions)  # no contributors
            result.scores = self.codec.encode_scores(update.state.lead_id, at_ms, snapshots)
        return result

    def _extend_trail(self, update: Update, trail: Trail | None) -> Trail | None:
        """The score trail with what ``update`` reported, for joining conversions (ADR 017)."""
        keep_ms = (self.lead_time_ms or 0) + self.engine.horizon_ms
        for reported_at_ms, reported in reported_points(self.engine, update):
            trail = extend_trail(trail, reported_at_ms, reported, keep_ms)
        return trail

    def dead_letter(self, message: Message, error: Exception) -> bytes:
        error_type = type(error).__name__
        self.metrics.dead_letters.labels(message.topic, error_type).inc()
        return self.codec.encode(
            "DeadLetter",
            {
                "topic": message.topic,
                "partition": message.partition,
                "offset": message.offset,
                "key": message.key,
                "value": message.value,
                "reason": str(error)[:1000],
                "error_type": error_type,
                "failed_at": _wall_ms(),  # wall time: when the worker rejected it, not scoring
            },
        )


def _wall_ms() -> int:
    return int(time.time() * 1000)
