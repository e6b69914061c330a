"""What the account roll-up (issue 16, ADR 041) costs per event: the b2b model with and without its ``account:``
section, in-process, on the same generated events as ``bench/features.py``.

Three passes per round, interleaved, every lead starting from its profile (applied before the clock starts):
``lead`` is the lead engine alone (``Engine.score_event`` on one live state per lead) under b2b without its
account section; ``lead+members`` is the lead engine under b2b with it, plus ``member_updates`` and encoding each
member update for the ``account-inputs`` topic (the lead side's cost); ``lead+members+accounts`` adds decoding
each member update and ``AccountEngine.apply`` on one live state per account (the account side's cost). The Avro
encoding of the account outputs and Kafka are not in it (the throughput steps give end-to-end figures). CPU
seconds (``time.process_time``), the garbage collector off during a pass; the median of the rounds.
"""

from __future__ import annotations

import gc
import statistics
import time
from collections.abc import Callable
from functools import partial
from typing import Any

import yaml

from bench.common import SEED
from scoring import Engine, LeadEvent, LeadProfile, LeadState, example_model_path, parse_model
from scoring.accounts.engine import AccountEngine
from scoring.accounts.members import member_updates
from scoring.accounts.records import MemberCause, decode_member_update, encode_member_update
from scoring.accounts.state import AccountState
from scoring.model.compile import ScoringModel
from streams.datasets.synthetic import JourneyGenerator

PASSES = ("lead", "lead+members", "lead+members+accounts")


def b2b_account_section() -> dict[str, Any]:
    """The ``account:`` section of the b2b example model (KeyError when the file has none)."""
    section: dict[str, Any] = yaml.safe_load(example_model_path("b2b").read_text())["account"]
    return section


def b2b(with_account: bool) -> ScoringModel:
    path = example_model_path("b2b")
    raw = yaml.safe_load(path.read_text())
    if not with_account:
        raw.pop("account", None)
    return parse_model(raw, source=f"{path.name}{'' if with_account else '-account'}")


def inputs(events: int, leads: int) -> tuple[list[LeadEvent], list[LeadProfile]]:
    generator = JourneyGenerator(leads, seed=SEED, mean_gap_ms=2000)
    made = list(generator.events(events))
    return made, [generator.profile(lead_id) for lead_id in sorted({event.lead_id for event in made})]


def one_pass(
    name: str, engine: Engine, accounts: AccountEngine | None, events: list[LeadEvent], profiles: list[LeadProfile]
) -> tuple[float, int]:
    """CPU seconds of one pass over ``events`` and the member updates it made."""
    leads: dict[str, LeadState] = {}
    states: dict[str, AccountState] = {}
    members = name != "lead"
    rolled = name == "lead+members+accounts"
    assert accounts is not None or not rolled

    def step(
        update_of: Callable[[LeadState | None], Any],
        lead_id: str,
        account_id: str | None,
        cause: MemberCause,
        cause_id: str,
        at: int,
    ) -> int:
        before = leads.get(lead_id)
        prior = dict(before.accounts) if before is not None else {}
        update = update_of(before)
        leads[lead_id] = update.state
        if not members or update.duplicate:
            return 0
        made = member_updates(engine, prior, update, account_id, cause, cause_id, at)
        for member in made:
            data = encode_member_update(member)
            if rolled and accounts is not None:
                decoded = decode_member_update(data)
                states[decoded.account_id] = accounts.apply(states.get(decoded.account_id), decoded).state
        return len(made)

    for p in profiles:  # not timed: every lead starts from its profile
        at = p.updated_at_ms
        step(partial(engine.score_profile, profile=p), p.lead_id, None, MemberCause.PROFILE, f"profile@{at}", at)
    sent = 0
    gc.collect()
    gc.disable()
    try:
        started = time.process_time()
        for e in events:
            score = partial(engine.score_event, event=e)
            sent += step(score, e.lead_id, e.account_id, MemberCause.EVENT, e.event_id, e.occurred_at_ms)
        return time.process_time() - started, sent
    finally:
        gc.enable()


def run(events: int, leads: int, rounds: int) -> dict[str, Any]:
    """Figures of the three passes: CPU µs per event, events per CPU second, each side's cost."""
    made, profiles = inputs(events, leads)
    plain, rolled = Engine([b2b(False)]), Engine([b2b(True)])
    accounts = AccountEngine(rolled.models)
    engines = {"lead": (plain, None), "lead+members": (rolled, None), "lead+members+accounts": (rolled, accounts)}
    seconds: dict[str, list[float]] = {name: [] for name in PASSES}
    sent = 0
    for _ in range(rounds):
        for name in PASSES:
            engine, account_engine = engines[name]
            spent, sent_now = one_pass(name, engine, account_engine, made, profiles)
            seconds[name].append(spent)
            sent = max(sent, sent_now)
    median = {name: statistics.median(values) for name, values in seconds.items()}
    per_event = {name: value / events * 1e6 for name, value in median.items()}
    return {
        "events": events,
        "leads": leads,
        "rounds": rounds,
        "member_updates": sent,
        "passes": {
            name: {"cpu_us_per_event": round(per_event[name], 2), "events_per_cpu_second": round(events / median[name])}
            for name in PASSES
        },
        "lead_side_us_per_event": round(per_event["lead+members"] - per_event["lead"], 2),
        "account_side_us_per_event": round(per_event["lead+members+accounts"] - per_event["lead+members"], 2),
        "cpu_ratio": round(median["lead+members+accounts"] / median["lead"], 3),
    }


def lines(figures: dict[str, Any] | None) -> list[str]:
    """Report lines (``bench/report.py``'s features section)."""
    if not figures:
        return []
    passes = figures["passes"]
    out = [
        "",
        f"The account roll-up (b2b with and without its `account:` section, {figures['events']:,} events,"
        f" {figures['member_updates']:,} member updates, median of {figures['rounds']} rounds):",
        "",
        "| pass | events per CPU second | CPU µs per event |",
        "|---|---|---|",
    ]
    out += [
        f"| {name} | {row['events_per_cpu_second']:,} | {row['cpu_us_per_event']} |" for name, row in passes.items()
    ]
    out.append(
        f"\nLead side (member updates + encoding) +{figures['lead_side_us_per_event']} µs per event, account side"
        f" (decode + AccountEngine.apply) +{figures['account_side_us_per_event']} µs; x{figures['cpu_ratio']} in all."
    )
    return out
