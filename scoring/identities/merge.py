"""The exact merge of an absorbed lead's state into the survivor's (ADR 042): the result is the state that scoring
every event of both under the survivor's id gives, and the outputs say how the survivor's scores moved.

Per model: a rule's decayed value is revalued at the later of both times and added (values only ever shrink with
time, so the sum is the sum of every contribution decayed to then); window times are merged; a cap bucket keeps the
earliest ``cap_count`` times of both sides and the extra ones are taken back with the arithmetic a late earlier
event uses when it replaces a later one (:func:`scoring.modelstate.count`), the trend's gain included; fit, segment
and the routing fields come from the later profile; trend gains are added per bucket; filter logs are united and
screened again (clicks of one side soon after the other's sends, bursts that only both sides' events make).

Limits (ADR 042): a cap bucket one side has pruned (older than the lateness) cannot take the other's extras back;
an event counted under both ids counts twice (the seen digests are united, the counts cannot be told apart).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace

from scoring.decay import decay
from scoring.engine import Engine
from scoring.filterlog import FilterLog, Period
from scoring.filters import rescreen
from scoring.identities.records import Absorption, LeadMerged
from scoring.levels import LevelBook
from scoring.model.accountspec import EVENT_ACCOUNT_FIELD
from scoring.model.compile import Rule, ScoringModel
from scoring.modelstate import (
    ModelState,
    RuleState,
    add_contribution,
    contributions_at,
    prune,
    scores_at,
)
from scoring.outputs import Cause, Contribution, Ignored, Update, derived_id
from scoring.state import LeadState
from scoring.trend import record_gain, surging_after_input, surging_by_time, timeline_of
from scoring.trendstate import TrendState

__all__ = ["is_redelivery", "merge_into", "merge_model", "merge_states"]


def merge_states(engine: Engine, survivor: LeadState | None, absorbed: LeadState, survivor_id: str) -> LeadState:
    """The merged state (neither input is changed): as :func:`merge_into` leaves it, without the level
    bookkeeping (``levels`` are the survivor's, ``score`` is recomputed at the merged anchor)."""
    lead = survivor.copy() if survivor is not None else LeadState(survivor_id)
    later_profile = _profile_at(absorbed) > _profile_at(lead)
    for model in engine.models:
        other = absorbed.models.get(model.id)
        if other is None:
            continue
        state = lead.models.get(model.id) or _fresh(model)
        lead.models[model.id] = state
        merge_model(model, state, other)
        state.score = scores_at(model, state, state.anchor_ms).combined
    _merge_lead(engine, lead, absorbed, later_profile)
    return lead


def is_redelivery(survivor: LeadState | None, absorption: Absorption, horizon_ms: int) -> bool:
    """Whether ``survivor`` has taken ``absorption`` in already: it lists the absorbed id and holds every seen digest
    of the absorbed state that it would still keep (those older than the horizon before its latest event are gone)."""
    if survivor is None or absorption.absorbed_id not in survivor.absorbed:
        return False
    if absorption.state is None:
        return True
    oldest = survivor.latest_ms - horizon_ms
    seen = survivor.seen
    return all(digest in seen for digest, at_ms in absorption.state.seen.items() if at_ms >= oldest)


def merge_into(engine: Engine, survivor: LeadState | None, absorption: Absorption) -> tuple[Update, LeadMerged]:
    """Merge ``absorption`` into ``survivor`` (in place; None: a new state for the survivor id): the update with the
    score changes and crossings it makes (cause EVENT, cause id the identity record's id; those time alone made up
    to the merge come first, cause DECAY), and the :class:`LeadMerged` record. A re-delivered absorption changes
    nothing (``duplicate=True``)."""
    lead = survivor if survivor is not None else LeadState(absorption.survivor_id)
    absorbed = absorption.state
    now = max(
        absorption.occurred_at_ms,
        lead.latest_ms,
        absorbed.latest_ms if absorbed is not None else 0,
        *(state.anchor_ms for state in lead.models.values()),
    )
    if is_redelivery(survivor, absorption, engine.horizon_ms):
        current = tuple((m.id, _score(m, lead, now), _score(m, lead, now)) for m in engine.models)
        return Update(lead, duplicate=True), _merged(absorption, current)
    later_profile = absorbed is not None and _profile_at(absorbed) > _profile_at(lead)
    book = LevelBook(lead.lead_id)
    ignored: tuple[Ignored, ...] = ()
    scores: list[tuple[str, float, float]] = []
    cause_id = absorption.identity_id
    for model in engine.models:
        other = absorbed.models.get(model.id) if absorbed is not None else None
        if other is None:
            scores.append((model.id, _score(model, lead, now), _score(model, lead, now)))
            continue
        state = lead.models.get(model.id) or _fresh(model)
        lead.models[model.id] = state
        at = max(now, state.anchor_ms, other.anchor_ms)
        previous = scores_at(model, state, at).combined
        before = book.before(model, state, at)
        if model.trend is not None and before is not None:
            book.crossings += surging_by_time(model, state, lead.lead_id, at)
        old_values = contributions_at(model, state, at)
        ignored += merge_model(model, state, other)
        contributions = _contributions(old_values, contributions_at(model, state, at))
        after = book.after(model, before, state, at, Cause.EVENT, cause_id, contributions)
        if model.trend is not None:
            book.crossings += surging_after_input(model, state, lead.lead_id, at, Cause.EVENT, cause_id)
        scores.append((model.id, previous, after.combined))
    if absorbed is not None:
        _merge_lead(engine, lead, absorbed, later_profile)
    if absorption.absorbed_id not in lead.absorbed:
        lead.absorbed.append(absorption.absorbed_id)
    update = book.update(lead)
    return replace(update, ignored=ignored) if ignored else update, _merged(absorption, tuple(scores))


def _merged(absorption: Absorption, scores: tuple[tuple[str, float, float], ...]) -> LeadMerged:
    absorbed = absorption.state
    events = max((state.events_scored for state in absorbed.models.values()), default=0) if absorbed else 0
    return LeadMerged(
        merge_id=derived_id("merge", absorption.identity_id),
        identity_id=absorption.identity_id,
        kind=absorption.kind,
        absorbed_id=absorption.absorbed_id,
        survivor_id=absorption.survivor_id,
        occurred_at_ms=absorption.occurred_at_ms,
        events_merged=events,
        scores=scores,
    )


def _contributions(old: dict[str, float], new: dict[str, float]) -> tuple[Contribution, ...]:
    """Per rule whose value the merge moved: the move, and the rule's whole value after it."""
    moved = (rule_id for rule_id in sorted(old.keys() | new.keys()) if new.get(rule_id, 0.0) != old.get(rule_id, 0.0))
    return tuple(Contribution(r, new.get(r, 0.0) - old.get(r, 0.0), new.get(r, 0.0)) for r in moved)


def _score(model: ScoringModel, lead: LeadState, now_ms: int) -> float:
    state = lead.models.get(model.id)
    return 0.0 if state is None else scores_at(model, state, max(now_ms, state.anchor_ms)).combined


def _fresh(model: ScoringModel) -> ModelState:
    return ModelState(model.version, applies=model.segment is None)


# ---- the lead ------------------------------------------------------------------------------------------------


def _profile_at(lead: LeadState) -> int:
    return max((state.fit_at_ms for state in lead.models.values()), default=0)


def _merge_lead(engine: Engine, lead: LeadState, absorbed: LeadState, later_profile: bool) -> None:
    """The lead-level fields (the models are merged already): seen digests, latest time, routing fields from the
    later profile (``later_profile``: the absorbed side's) but the events' account id the survivor's unless it has
    none (what ``account_of`` reads for the ``event`` source), accounts (the survivor's unless it has none), the
    absorbed ids (the absorbed lead's own, then itself)."""
    event_account = lead.routing_fields.get(EVENT_ACCOUNT_FIELD, absorbed.routing_fields.get(EVENT_ACCOUNT_FIELD))
    if later_profile:
        lead.routing_fields = dict(absorbed.routing_fields)
    if event_account is not None:  # the survivor's events' account id, else the absorbed's (no profile gives it)
        lead.routing_fields[EVENT_ACCOUNT_FIELD] = event_account
    lead.latest_ms = latest = max(lead.latest_ms, absorbed.latest_ms)
    for digest, at_ms in absorbed.seen.items():
        if at_ms >= latest - engine.horizon_ms:
            lead.seen[digest] = max(at_ms, lead.seen.get(digest, at_ms))
    for expired in [d for d, at_ms in lead.seen.items() if at_ms < latest - engine.horizon_ms]:
        del lead.seen[expired]
    if not lead.accounts:
        lead.accounts = dict(absorbed.accounts)
    for absorbed_id in [*absorbed.absorbed, absorbed.lead_id]:
        if absorbed_id not in lead.absorbed and absorbed_id != lead.lead_id:
            lead.absorbed.append(absorbed_id)


# ---- one model -----------------------------------------------------------------------------------------------


def merge_model(model: ScoringModel, state: ModelState, other: ModelState) -> tuple[Ignored, ...]:
    """Merge ``other`` (the absorbed side) into ``state`` (the survivor's, in place; ``other`` is not changed).
    Returns the events the model's filters now ignore: those only both sides' events together disqualify."""
    state.model_version = model.version
    state.anchor_ms = anchor = max(state.anchor_ms, other.anchor_ms)
    state.events_scored += other.events_scored
    if other.fit_at_ms > state.fit_at_ms:  # the later profile's fit and segment
        state.fit_points, state.fit_at_ms, state.applies = dict(other.fit_points), other.fit_at_ms, other.applies
    state.trend = _merge_trend(model, state.trend, other.trend)
    dropped: list[tuple[Rule, int]] = []
    rules = model.by_id
    for rule_id, theirs in other.rules.items():
        rule = rules.get(rule_id)
        ours = state.rules.get(rule_id)
        if rule is None:  # a rule a reload removed: nothing can value it, keep what there is
            if ours is None:
                state.rules[rule_id] = theirs.copy()
            continue
        if ours is None:
            ours = state.rules[rule_id] = RuleState(at_ms=theirs.at_ms)
        dropped += _merge_rule(rule, ours, theirs)
        prune(ours, model, rule, anchor)
    for rule, at_ms in dropped:
        record_gain(model, state, at_ms, -rule.points)  # the trend loses what the cap took back
    ignored: tuple[Ignored, ...] = ()
    if model.filters is None:
        state.filter_log = None  # a reload dropped the model's filters
    else:
        state.filter_log = _merge_log(state.filter_log, other.filter_log)
        if other.filter_log is not None:
            ignored = rescreen(model, model.filters, state, anchor).ignored
    _settle_trend(model, state)
    return ignored


def _merge_rule(rule: Rule, ours: RuleState, theirs: RuleState) -> list[tuple[Rule, int]]:
    """Add ``theirs`` to ``ours``; the contributions a cap takes back (``(rule, time)`` each) are returned."""
    if theirs.value:
        at = max(ours.at_ms, theirs.at_ms)
        ours.value = ours.value * decay(at - ours.at_ms, rule.half_life_ms) + theirs.value * decay(
            at - theirs.at_ms, rule.half_life_ms
        )
        ours.at_ms = at
    elif theirs.at_ms > ours.at_ms:
        ours.value *= decay(theirs.at_ms - ours.at_ms, rule.half_life_ms)
        ours.at_ms = theirs.at_ms
    if theirs.times:
        ours.times = sorted(ours.times + theirs.times)
    dropped: list[tuple[Rule, int]] = []
    for bucket, times in theirs.buckets.items():
        kept = ours.buckets.get(bucket)
        united = sorted(times) if kept is None else sorted(kept + times)
        ours.buckets[bucket] = united[: rule.cap_count]
        for at_ms in united[rule.cap_count :]:  # later than the cap allows: taken back, as count() does
            add_contribution(ours, rule, at_ms, -1.0)
            dropped.append((rule, at_ms))
    return dropped


# ---- trend and filters ---------------------------------------------------------------------------------------


def _merge_trend(model: ScoringModel, ours: TrendState | None, theirs: TrendState | None) -> TrendState | None:
    """Gains added per bucket; the settled past the earlier one (its flag); the flag as last reported the
    survivor's (the absorbed id's crossings were its own): :func:`surging_after_input` reports the difference."""
    trend = model.trend
    if trend is None:
        return ours
    if ours is not None and ours.bucket_ms != trend.bucket_ms:
        ours = TrendState(trend.bucket_ms, surging=ours.surging, checked_ms=ours.checked_ms)
    if theirs is None or theirs.bucket_ms != trend.bucket_ms or not theirs.gains:
        return ours
    if ours is None:
        ours = TrendState(trend.bucket_ms, checked_ms=theirs.checked_ms)
    gains = dict(ours.gains)
    for bucket, gain in theirs.gains.items():
        total = gains.get(bucket, 0) + gain
        if total:
            gains[bucket] = total
        else:
            gains.pop(bucket, None)
    settled = [(s.settled_bucket, s.settled_flag) for s in (ours, theirs) if s.settled_bucket is not None]
    settled_bucket, settled_flag = min(settled) if settled else (None, False)
    if settled and sum(1 for s in settled if s[0] == settled_bucket) > 1:
        settled_flag = any(flag for bucket, flag in settled if bucket == settled_bucket)
    return TrendState(trend.bucket_ms, gains, settled_bucket, settled_flag, ours.surging, ours.checked_ms)


def _settle_trend(model: ScoringModel, state: ModelState) -> None:
    """Move the trend's settled past up to the merged anchor (as :func:`scoring.trend.record_gain` does)."""
    trend, trend_state = model.trend, state.trend
    if trend is None or trend_state is None:
        return
    target = (state.anchor_ms - model.lateness_ms) // trend.bucket_ms - 1
    if trend_state.settled_bucket is not None and target <= trend_state.settled_bucket:
        return
    gains = trend_state.gains
    if gains and min(gains) <= target:
        trend_state.settled_flag = timeline_of(trend, trend_state).flag_at(target)
    trend_state.settled_bucket = target
    oldest = target - trend.window_buckets - trend.baseline_buckets
    for bucket in [b for b in gains if b <= oldest]:
        del gains[bucket]


def _merge_log(ours: FilterLog | None, theirs: FilterLog | None) -> FilterLog | None:
    """Both logs' entries, united and sorted (:func:`scoring.filters.rescreen` then takes back what only both
    together disqualify)."""
    if theirs is None:
        return ours
    if ours is None:
        return theirs.copy()
    events = sorted(set(ours.events) | set(theirs.events), key=lambda e: (e.at_ms, e.event_id))
    sends = sorted(set(ours.sends) | set(theirs.sends), key=lambda s: (s.at_ms, s.key))
    counts: dict[int, int] = {}
    for period in _chain(ours.periods, theirs.periods):
        counts[period.index] = counts.get(period.index, 0) + period.events
    periods = [Period(index, counts[index]) for index in sorted(counts)]
    return FilterLog(events, sends, periods)


def _chain(*parts: Iterable[Period]) -> Iterable[Period]:
    for part in parts:
        yield from part
