"""Bot and scanner filtering: the events a model's ``filters:`` disqualify change no score (ADR 036).

An event is ignored when its user agent is a bot's, when it is a click within ``within`` after its email's send
(an email security scanner follows every link on delivery), or when it falls in a burst: more than
``max_events`` events of the lead in one aligned period of ``per`` (a person does not do that; a bot does, and
every event of the period is taken for the bot's). Whether an event is ignored depends on the set of the
lead's events, never on their arrival order: a send that arrives after the clicks it disqualifies, or the event
that turns a period into a burst, takes back what those events had counted (:func:`scoring.modelstate.uncount`),
and a cap offers the place this frees to the earliest event it had turned away, as if the taken-back event had
never come. An ignored event is still recorded as seen (its re-delivery changes nothing), still counts as a
send and toward its period's burst. The events that may still be taken back wait in the model state's
:class:`~scoring.filterlog.FilterLog`, within the model's lateness.
"""

from __future__ import annotations

import bisect
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from scoring.events import LeadEvent
from scoring.filterlog import FilterLog, Logged, Period, Send
from scoring.model.compile import Rule, ScoringModel
from scoring.model.conditions import always
from scoring.model.filterspec import Bursts, Filters, ScannerClicks
from scoring.modelstate import ModelState, count, rule_value, uncount
from scoring.outputs import Contribution, Ignored
from scoring.trend import record_gain

__all__ = ["BURST", "SCANNER_CLICK", "USER_AGENT", "Screened", "rescreen", "score_filtered", "send_time_ms"]

SCANNER_CLICK = "scanner_click"
BURST = "burst"
USER_AGENT = "user_agent"

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MS = timedelta(milliseconds=1)


@dataclass(frozen=True, slots=True)
class Screened:
    """One event under one model with filters: the points it moved per rule (its own, and those it took back or a
    cap took in instead), and the events it made the model ignore (itself, or earlier ones)."""

    contributions: tuple[Contribution, ...] = ()
    ignored: tuple[Ignored, ...] = ()


def score_filtered(
    model: ScoringModel,
    filters: Filters,
    state: ModelState,
    event: LeadEvent,
    fields: Mapping[str, str | None],
    now_ms: int,
) -> Screened:
    """Score ``event`` into ``state`` (in place) under ``model``, whose filters are ``filters``: ignore it, or
    count it as :func:`scoring.modelstate.count` does; and take back the earlier events it disqualifies.
    ``state.anchor_ms`` must already include the event; ``fields``: its :func:`~scoring.events.event_fields`."""
    at_ms = event.occurred_at_ms
    if at_ms < state.anchor_ms - model.lateness_ms:
        return Screened()  # older than this model's lateness (another model allows more): its log is gone
    log = state.filter_log
    if log is None and filters.keeps_log:
        log = state.filter_log = FilterLog()
    work = _Work(model, state, now_ms, log)
    if log is not None:
        _prune(log, filters, state.anchor_ms - model.lateness_ms)
    reason = _own_reason(filters, log, event)
    if log is not None and filters.bursts is not None and _in_burst(work, log, filters.bursts, at_ms):
        reason = reason or BURST
    scanner = filters.scanner_clicks
    if log is not None and scanner is not None and event.type == scanner.send_event:
        _send(work, log, scanner, event)
    if reason:
        work.ignored.append(Ignored(model.id, event.event_id, reason))
    else:
        _count_event(work, filters, event, fields)
    return work.result()


class _Work:
    """One event's changes to one model state with filters, as they happen."""

    def __init__(self, model: ScoringModel, state: ModelState, now_ms: int, log: FilterLog | None) -> None:
        self.model, self.state, self.now_ms, self.log = model, state, now_ms, log
        self.points: dict[str, float] = {}
        self.ignored: list[Ignored] = []

    def moved(self, rule: Rule, at_ms: int, points_now: float, sign: int) -> None:
        """Every contribution counted (sign 1) or taken back (sign -1) under filters passes here: the one made at
        ``at_ms``, worth ``points_now`` now; the trend (ADR 037) gains or loses the rule's points at ``at_ms``."""
        self.points[rule.id] = self.points.get(rule.id, 0.0) + points_now
        record_gain(self.model, self.state, at_ms, sign * rule.points)

    def count(self, rule: Rule, at_ms: int) -> float | None:
        """:func:`scoring.modelstate.count`, and the trend's loss of a later capped event an earlier one replaced."""
        replaced: list[int] = []
        points_now = count(self.state, self.model, rule, at_ms, self.now_ms, replaced)
        for replaced_ms in replaced:
            record_gain(self.model, self.state, replaced_ms, -rule.points)
        return points_now

    def result(self) -> Screened:
        rules, now = self.model.by_id, self.now_ms
        contributions = tuple(
            Contribution(rule_id, points, rule_value(rules[rule_id], self.state.rules[rule_id], now))
            for rule_id, points in self.points.items()
        )
        return Screened(contributions, tuple(self.ignored))


def _own_reason(filters: Filters, log: FilterLog | None, event: LeadEvent) -> str:
    """Why the event itself is ignored, from what is known on its arrival ("" when it is not)."""
    if filters.user_agents is not None and filters.user_agents.matches(event.properties):
        return USER_AGENT
    scanner = filters.scanner_clicks
    if scanner is not None and event.type in scanner.events and _soon_after_send(scanner, log, event):
        return SCANNER_CLICK
    return ""


def _soon_after_send(scanner: ScannerClicks, log: FilterLog | None, event: LeadEvent) -> bool:
    at_ms = event.occurred_at_ms
    if scanner.send_property is not None:
        sent_ms = send_time_ms(event.properties.get(scanner.send_property))
        if sent_ms is not None and 0 <= at_ms - sent_ms <= scanner.within_ms:
            return True
    key = _send_key(scanner, event)
    if log is None or key is None:
        return False
    sends = log.sends
    first = bisect.bisect_left(sends, at_ms - scanner.within_ms, key=_at)
    last = bisect.bisect_right(sends, at_ms, key=_at)
    return any(send.key == key for send in sends[first:last])


def send_time_ms(text: str | None) -> int | None:
    """A send time given as Unix milliseconds or ISO-8601 text (UTC unless it says otherwise); None if neither."""
    if not text:
        return None
    text = text.strip()
    if text.isascii() and text.isdigit():
        return int(text) if len(text) <= 16 else None  # past year 2286 in ms is no send time (and no huge int)
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return (moment - _EPOCH) // _MS


def _send_key(scanner: ScannerClicks, event: LeadEvent) -> str | None:
    """What ties a send and its clicks: the ``match`` property's value ("" without ``match``; None if absent)."""
    if scanner.send_event is None:
        return None
    if scanner.match is None:
        return ""
    return event.properties.get(scanner.match) or None


def _in_burst(work: _Work, log: FilterLog, bursts: Bursts, at_ms: int) -> bool:
    """Count the event in its period; whether the period is a burst. The event that makes it one takes back
    everything the period's earlier events counted."""
    index = at_ms // bursts.per_ms
    periods = log.periods
    place = bisect.bisect_left(periods, index, key=_index)
    if place < len(periods) and periods[place].index == index:
        period = periods[place]
        period.events += 1
    else:
        period = Period(index, 1)
        periods.insert(place, period)
    if period.events == bursts.max_events + 1:
        start = index * bursts.per_ms
        _take_back(work, log, start, start + bursts.per_ms - 1, None, BURST)
    return period.events > bursts.max_events


def _send(work: _Work, log: FilterLog, scanner: ScannerClicks, event: LeadEvent) -> None:
    """Remember a send (ignored or not: the email went out) and take back its clicks that came too soon."""
    key = _send_key(scanner, event)
    if key is None:
        return
    at_ms = event.occurred_at_ms
    bisect.insort(log.sends, Send(at_ms, key), key=_at)
    _take_back(work, log, at_ms, at_ms + scanner.within_ms, key, SCANNER_CLICK)


def _take_back(work: _Work, log: FilterLog, first_ms: int, last_ms: int, key: str | None, reason: str) -> None:
    """Ignore the logged events of ``[first_ms, last_ms]`` (only clicks tied by ``key``, unless it is None)."""
    events = log.events
    first = bisect.bisect_left(events, first_ms, key=_at)
    last = bisect.bisect_right(events, last_ms, key=_at)
    chosen = [entry for entry in events[first:last] if key is None or entry.key == key]
    if not chosen:
        return
    events[first:last] = [entry for entry in events[first:last] if not (key is None or entry.key == key)]
    for entry in chosen:  # all out of the log first: a cap never takes in one of them instead
        work.ignored.append(Ignored(work.model.id, entry.event_id, reason))
        for rule_id in entry.rules:
            rule = work.model.by_id.get(rule_id)
            if rule is None or not _counted(work, log, rule, entry.at_ms):
                continue
            work.moved(rule, entry.at_ms, uncount(work.state, rule, entry.at_ms, work.now_ms), -1)
            if rule.cap_per_ms:
                _refill(work, log, rule, entry.at_ms)


def _counted(work: _Work, log: FilterLog, rule: Rule, at_ms: int) -> bool:
    """Whether an event of ``rule`` at ``at_ms``, just taken out of the log, is one the rule counted: a plain rule
    counts every event; a cap or window holds its time more often than the log's remaining events of that time."""
    rule_state = work.state.rules.get(rule.id)
    if rule_state is None:
        return False
    if rule.cap_per_ms:
        held = rule_state.buckets.get(at_ms // rule.cap_per_ms, []).count(at_ms)
    elif rule.window_ms:
        times = rule_state.times
        held = bisect.bisect_right(times, at_ms) - bisect.bisect_left(times, at_ms)
    else:
        return True
    events = log.events
    first, last = bisect.bisect_left(events, at_ms, key=_at), bisect.bisect_right(events, at_ms, key=_at)
    return held > sum(1 for entry in events[first:last] if rule.id in entry.rules)


def _refill(work: _Work, log: FilterLog, rule: Rule, at_ms: int) -> None:
    """Offer the place freed in ``rule``'s cap bucket to the logged events it had turned away, earliest first."""
    bucket = at_ms // rule.cap_per_ms
    rule_state = work.state.rules[rule.id]
    held = Counter(rule_state.buckets.get(bucket, ()))
    events = log.events
    first = bisect.bisect_left(events, bucket * rule.cap_per_ms, key=_at)
    last = bisect.bisect_left(events, (bucket + 1) * rule.cap_per_ms, key=_at)
    for entry in events[first:last]:
        if rule.id not in entry.rules:
            continue
        if held[entry.at_ms]:
            held[entry.at_ms] -= 1  # one the cap counts
            continue
        if len(rule_state.buckets.get(bucket, ())) >= rule.cap_count:
            return
        points_now = work.count(rule, entry.at_ms)
        if points_now is not None:
            work.moved(rule, entry.at_ms, points_now, 1)


def _count_event(work: _Work, filters: Filters, event: LeadEvent, fields: Mapping[str, str | None]) -> None:
    """Count an event that is not ignored, as the engine does without filters, and log it if it may be taken back."""
    at_ms = event.occurred_at_ms
    matched = []
    for rule in work.model.rules_for(event.type):
        if rule.condition is not always and not rule.condition(fields):
            continue
        matched.append(rule.id)
        points_now = work.count(rule, at_ms)
        if points_now is not None:
            work.moved(rule, at_ms, points_now, 1)
    log = work.log
    scanner = filters.scanner_clicks
    click = scanner is not None and scanner.send_event is not None and event.type in scanner.events
    if log is not None and (filters.bursts is not None or click):
        key = _send_key(scanner, event) if scanner is not None and click else None
        bisect.insort(log.events, Logged(at_ms, event.event_id, tuple(matched), key), key=_order)


def _prune(log: FilterLog, filters: Filters, horizon_ms: int) -> None:
    """Drop what no event within the lateness (at or after ``horizon_ms``) can still need."""
    events = log.events
    if events and events[0].at_ms < horizon_ms:
        del events[: bisect.bisect_left(events, horizon_ms, key=_at)]
    scanner = filters.scanner_clicks
    sends = log.sends
    if sends and scanner is not None and sends[0].at_ms < horizon_ms - scanner.within_ms:
        del sends[: bisect.bisect_left(sends, horizon_ms - scanner.within_ms, key=_at)]
    periods = log.periods
    if periods and filters.bursts is not None and periods[0].index < horizon_ms // filters.bursts.per_ms:
        del periods[: bisect.bisect_left(periods, horizon_ms // filters.bursts.per_ms, key=_index)]


def _at(item: Logged | Send) -> int:
    return item.at_ms


def _order(entry: Logged) -> tuple[int, str]:
    return entry.at_ms, entry.event_id


def _index(period: Period) -> int:
    return period.index


def rescreen(model: ScoringModel, filters: Filters, state: ModelState, now_ms: int) -> Screened:
    """Take back what ``state``'s log disqualifies as a whole (in place): the logged clicks soon after one of its
    sends and the logged events of its periods over the burst limit. For a log united from two (a merge,
    scoring/identities/merge.py), each already screened on its own: what only both together disqualify."""
    log = state.filter_log
    if log is None:
        return Screened()
    work = _Work(model, state, now_ms, log)
    scanner = filters.scanner_clicks
    if scanner is not None and scanner.send_event is not None:
        for send in list(log.sends):
            _take_back(work, log, send.at_ms, send.at_ms + scanner.within_ms, send.key, SCANNER_CLICK)
    bursts = filters.bursts
    if bursts is not None:
        for period in log.periods:
            if period.events > bursts.max_events:
                start = period.index * bursts.per_ms
                _take_back(work, log, start, start + bursts.per_ms - 1, None, BURST)
    return work.result()
