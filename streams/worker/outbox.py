"""What one batch (or one agent's message) sends and writes, in order: the :class:`Outbox`, filled by
:func:`collect` (both write paths use it: the fast path, :mod:`streams.worker.batch`, and the per-event agent,
:mod:`streams.worker.perevent`)."""

from __future__ import annotations

from dataclasses import dataclass, field

from streams.kafka.producer import Record
from streams.kafka.topics import Routes
from streams.worker.processor import Message, Result
from streams.worker.stored import StoredLead

#: lead id -> (partition, stored lead or None when erased, when time alone next moves it across a level)
States = dict[str, tuple[int, StoredLead | None, int | None]]
#: A changelog write: lead id, partition, stored lead (None: erased), raw key, raw value.
ChangelogEntry = tuple[str, int, StoredLead | None, bytes, bytes | None]


@dataclass
class Outbox:
    """What one batch sends and writes, in the order it must happen."""

    records: list[Record] = field(default_factory=list)
    states: States = field(default_factory=dict)
    latest_event_ms: dict[int, int] = field(default_factory=dict)  # per partition, for its event-time clock
    emitted_event_ms: list[int] = field(default_factory=list)  # event times of inputs that produced outputs


def collect(message: Message, result: Result, routes: Routes, rerouted_topic: str, outbox: Outbox) -> None:
    """Where what one input produced goes, in the order it must be sent (both write paths use this: the routing
    rules, shadow mode's included, live here only)."""
    records = outbox.records
    if result.dead_letter is not None:
        if routes.dead_letters is not None:
            records.append((routes.dead_letters, message.key, result.dead_letter, None))
        return
    if result.forward is not None:
        partition, key = result.forward
        value = message.value if result.forward_value is None else result.forward_value
        records.append((rerouted_topic, key, value, partition))
        return
    records.extend((routes.score_changes, message.key, change, None) for change in result.changes)
    if routes.thresholds is not None:
        records.extend((routes.thresholds, message.key, crossing, None) for crossing in result.crossings)
    if routes.route_requests is not None:  # one partition: one order of assignment (ADR 039)
        records.extend((routes.route_requests, message.key, request, 0) for request in result.route_requests)
    if routes.account_inputs is not None:  # keyed by account id: the default partitioner puts it on its partition
        to = routes.account_inputs
        records.extend((to, account.encode(), member, None) for account, member in result.member_updates)
    if result.scores is not None:
        records.append((routes.scores, message.key, result.scores, None))
    if result.conversion is not None and routes.conversion_scores is not None:
        records.append((routes.conversion_scores, message.key, result.conversion, None))
    records.extend(result.sends)  # identities (ADR 044): absorptions, LeadMerged, erasures of absorbed ids
    if result.dropped:  # merged into another lead: the state goes, lead-scores is tombstoned
        records.append((routes.scores, result.lead_id.encode(), None, None))
        outbox.states[result.lead_id] = (message.partition, None, None)
    if result.state is not None:
        outbox.states[result.lead_id] = (message.partition, result.state, result.due_ms)
    if result.erased is not None:  # tombstones: lead-scores, then the state (its changelog and store)
        records.append((routes.scores, message.key, None, None))
        if routes.erasures_completed is not None:
            records.append((routes.erasures_completed, message.key, result.erased, None))
        outbox.states[result.lead_id] = (message.partition, None, None)
    if result.event_ms is not None:
        latest = outbox.latest_event_ms
        latest[message.partition] = max(result.event_ms, latest.get(message.partition, result.event_ms))
        if result.changes or result.crossings:
            outbox.emitted_event_ms.append(result.event_ms)
