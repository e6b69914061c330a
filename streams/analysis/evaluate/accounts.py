"""``leadscore evaluate --accounts``: how well account scores foretold account conversions (ADR 041).

The history is replayed once, in event time, through the lead engine and the account roll-up
(:mod:`streams.analysis.accounts`). An account is first seen at its first member update; it is observed
``observe_after`` later, with its state then (decay crossings up to then included) and nothing later, and counts as
converted when a conversion of the chosen outcomes followed within ``window``. A conversion counts for an account
when its ``lead_id`` is the account's id (an account-level outcome, such as a CRM opportunity won) or is the id of a
lead that was a member of the account when it converted (under the first account model). Conversions of leads in
no account then are counted as ``unmapped``. Exclusions as for leads: first seen outside the time slice, converted
before it was scored, window not over by the end of the data.

Per account model: the lead-level figures (:func:`scoring.evaluation.quality.evaluate`: ROC AUC, deciles,
conversion rate and lift per level, calibration, a suggested threshold) over the accounts it has members in, and per
account level its precision (converted share of the accounts holding it) and recall (share of the converted accounts
holding it).
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import asdict, dataclass, field

from scoring import Engine, LeadProfile, ScoringModel
from scoring.accounts.engine import AccountEngine
from scoring.accounts.records import AccountSnapshot
from scoring.durations import format_duration
from scoring.evaluation.cohort import CONVERTED_BEFORE, CohortSpec, exclusion_reason
from scoring.evaluation.quality import NO_LEVEL, EvaluationError, EvaluationReport, evaluate
from streams.analysis.accounts import AccountRun, account_of, copy_account, history_inputs, roll_up_one
from streams.analysis.evaluate.report import ModelJson, iso, model_json
from streams.analysis.evaluate.runner import ModelEvaluation
from streams.analysis.history import History
from streams.errors import EvaluateInputError

FORMAT = "leadscore.account-evaluation/1"


@dataclass(frozen=True, slots=True)
class LevelPrecision:
    level: str
    accounts: int  # observed accounts holding the level at their moment
    converted: int
    precision: float | None  # converted / accounts (None: no account holds it)
    recall: float  # converted / all converted accounts


@dataclass(frozen=True, slots=True)
class AccountModelEvaluation:
    model_id: str
    model_version: int
    without_members: int  # observed accounts the model has no member in (left out of its report)
    report: EvaluationReport
    levels: tuple[LevelPrecision, ...]


@dataclass(frozen=True)
class AccountEvaluationRun:
    spec: CohortSpec
    data_end_ms: int
    accounts: int  # observed accounts
    conversions: int  # converted observed accounts
    excluded: dict[str, int]
    unmapped_conversions: int  # conversions of the outcomes whose lead was in no account when it converted
    skipped_records: int
    models: tuple[AccountModelEvaluation, ...] = field(default_factory=tuple)


def account_engine_of(models: Sequence[ScoringModel]) -> AccountEngine:
    """The account engine of ``models``; :class:`EvaluateInputError` when none has an ``account:`` section."""
    accounts = AccountEngine(models)
    if not accounts.models:
        names = ", ".join(model.id for model in models)
        raise EvaluateInputError(f"--accounts: no model has an `account:` section ({names}); add one (ADR 041)")
    return accounts


def evaluate_accounts(
    models: Sequence[ScoringModel], history: History, spec: CohortSpec, target_capture: float | None = None
) -> AccountEvaluationRun:
    """Evaluate every account model on the accounts of ``history``; :class:`EvaluationError` when no account is
    observed or none converted (the message gives the exclusions)."""
    accounts = account_engine_of(models)
    engine = Engine(models)
    run = AccountRun()
    moments: list[tuple[int, str]] = []  # (moment, account id), a heap
    snapshots: dict[str, tuple[AccountSnapshot, ...]] = {}

    def observe_until(limit_ms: int | None) -> None:
        while moments and (limit_ms is None or moments[0][0] < limit_ms):
            at_ms, account_id = heapq.heappop(moments)
            state = copy_account(run.accounts[account_id])
            accounts.advance(state, at_ms)
            snapshots[account_id] = accounts.snapshot(state, at_ms, top=0)

    for record in history_inputs(history.events, history.profiles):
        at_ms = record.updated_at_ms if isinstance(record, LeadProfile) else record.occurred_at_ms
        observe_until(at_ms)  # an account is scored with the inputs up to its moment, that one included
        known = set(run.first_seen)
        roll_up_one(engine, accounts, run, record)
        for account_id in run.first_seen.keys() - known:
            heapq.heappush(moments, (run.first_seen[account_id] + spec.observe_after_ms, account_id))
    observe_until(None)
    converted_at, unmapped = _account_conversions(history, run, accounts, spec)
    latest = max([run.latest_ms, *(c.occurred_at_ms for c in history.conversions)])
    data_end = spec.data_end_ms if spec.data_end_ms is not None else latest
    excluded: dict[str, int] = {}
    observed: dict[str, bool] = {}
    for account_id in sorted(run.first_seen):
        seen = run.first_seen[account_id]
        moment = seen + spec.observe_after_ms
        times = converted_at.get(account_id, [])
        reason = exclusion_reason(seen, spec, data_end)
        if reason is None and times and min(times) < moment:
            reason = CONVERTED_BEFORE
        if reason is not None:
            excluded[reason] = excluded.get(reason, 0) + 1
            continue
        observed[account_id] = any(moment <= at <= moment + spec.window_ms for at in times)
    _check(observed, excluded)
    evaluations = tuple(
        _evaluate_model(index, model, observed, snapshots, target_capture)
        for index, model in enumerate(accounts.models)
    )
    return AccountEvaluationRun(
        spec,
        data_end,
        len(observed),
        sum(observed.values()),
        dict(sorted(excluded.items())),
        unmapped,
        len(history.skipped),
        evaluations,
    )


def _account_conversions(
    history: History, run: AccountRun, accounts: AccountEngine, spec: CohortSpec
) -> tuple[dict[str, list[int]], int]:
    """Per account id the times of its conversions of the outcomes; and how many had no account."""
    first_model = accounts.models[0].id
    converted_at: dict[str, list[int]] = {}
    unmapped = 0
    for conversion in history.conversions:
        if conversion.outcome not in spec.outcomes:
            continue
        if conversion.lead_id in run.accounts and conversion.lead_id not in run.leads:
            account_id: str | None = conversion.lead_id
        else:
            account_id = account_of(run, first_model, conversion.lead_id, conversion.occurred_at_ms)
        if account_id is None:
            unmapped += 1
            continue
        converted_at.setdefault(account_id, []).append(conversion.occurred_at_ms)
    return converted_at, unmapped


def _check(observed: dict[str, bool], excluded: dict[str, int]) -> None:
    left_out = ", ".join(f"{count} {reason}" for reason, count in sorted(excluded.items())) or "none"
    if not observed:
        raise EvaluationError(f"no accounts in the cohort (excluded: {left_out}); widen the time slice or the data")
    if not any(observed.values()):
        raise EvaluationError(
            f"no conversions in the cohort of {len(observed)} accounts (excluded: {left_out}); check --outcome,"
            " --window and that conversion lead ids are member leads' or accounts' ids"
        )


def _evaluate_model(
    index: int,
    model: ScoringModel,
    observed: dict[str, bool],
    snapshots: dict[str, tuple[AccountSnapshot, ...]],
    target_capture: float | None,
) -> AccountModelEvaluation:
    spec = model.account
    assert spec is not None  # AccountEngine keeps only the models with an account section
    ranked = [level.name for level in sorted(spec.levels, key=lambda level: level.enter)]
    scores: list[float] = []
    labels: list[bool] = []
    highest: list[str] = []
    held: list[tuple[str, ...]] = []
    without = 0
    for account_id, converted in observed.items():
        snapshot = snapshots[account_id][index]
        if snapshot.member_count == 0:
            without += 1
            continue
        scores.append(snapshot.score)
        labels.append(converted)
        highest.append(next((name for name in reversed(ranked) if name in snapshot.levels), NO_LEVEL))
        held.append(snapshot.levels)
    try:
        report = evaluate(scores, labels, highest, [*reversed(ranked), NO_LEVEL], target_capture)
    except EvaluationError as exc:
        raise EvaluationError(f"account model {model.id}: {exc}") from None
    positives = sum(labels)
    rows = []
    for name in ranked:
        hits = [label for label, levels in zip(labels, held, strict=True) if name in levels]
        hit = sum(hits)
        rows.append(LevelPrecision(name, len(hits), hit, hit / len(hits) if hits else None, hit / positives))
    return AccountModelEvaluation(model.id, model.version, without, report, tuple(rows))


def account_report_json(run: AccountEvaluationRun) -> dict[str, object]:
    """The report as plain JSON data: the lead report's structure per model (``leads`` counting accounts), plus
    ``without_members`` and ``level_precision`` ([{level, accounts, converted, precision, recall}])."""
    spec = run.spec
    models = []
    for model in run.models:
        data: ModelJson = model_json(ModelEvaluation(model.model_id, model.model_version, 0, model.report))
        entry: dict[str, object] = {**data, "without_members": model.without_members}
        entry.pop("outside_segment", None)
        entry["level_precision"] = [asdict(row) for row in model.levels]
        models.append(entry)
    return {
        "format": FORMAT,
        "cohort": {
            "window": format_duration(spec.window_ms),
            "observe_after": format_duration(spec.observe_after_ms) if spec.observe_after_ms else "0d",
            "outcomes": sorted(spec.outcomes),
            "first_seen_from": iso(spec.first_seen_from_ms),
            "first_seen_until": iso(spec.first_seen_until_ms),
            "data_end": iso(run.data_end_ms),
            "accounts": run.accounts,
            "conversions": run.conversions,
            "excluded": dict(run.excluded),
            "unmapped_conversions": run.unmapped_conversions,
            "skipped_records": run.skipped_records,
        },
        "models": models,
    }
