"""The crash scenario with identities and account roll-ups (issue 16): the shipped b2b model (its ``account:``
section), generated journeys on ``lead-events``, ``LeadIdentity`` records (MERGE of duplicate leads, chains among
them, and IDENTIFY of anonymous visitors) interleaved on ``lead-identities`` during the load, SIGKILLs of the worker;
then the final-state oracle of :mod:`tests.reliability.identity_oracle`.

Which ids are merged (``account_merges``):
- True (the tests): pairs and chains of leads of one account, and anonymous ids whose events carry the lead's own
  account id or none: a merge tells the accounts (the absorbed id LEFT, the survivor MERGE, ADR 044).
- False: merges and identifies only among ids in no account (personas without an ``account_id``, anonymous events
  without one); accounts are still checked, but no merge touches one.
"""

from __future__ import annotations

import itertools
import random
import time
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from scoring import LeadEvent
from scoring.identities.records import IdentityKind, IdentityRecord
from streams.datasets.synthetic import JourneyGenerator
from streams.kafka.codec import AvroCodec
from streams.kafka.identity_codec import IdentityCodec
from streams.kafka.registry import LocalSchemaRegistry
from tests.reliability.harness import PacedProducer, Send, engine_for, scenario
from tests.reliability.identity_oracle import IdentityReader, compare_final, expected_final, read_inputs


@dataclass
class IdentityLoad:
    events: list[LeadEvent]
    identities: list[tuple[int, IdentityRecord]]  # (index of the event it is sent before, record)
    sends: list[Send] = field(default_factory=list)


def _pairs(gen: JourneyGenerator, leads: int, merges: int, account_merges: bool, rng: random.Random) -> list[list[str]]:
    """Groups of lead ids to merge into their last one: pairs, and chains of three (A->B, B->C)."""
    if account_merges:
        by_account: dict[int, list[str]] = {}
        for n in range(leads):
            if gen.personas[n].has_account:
                by_account.setdefault(n // 4, []).append(gen.lead_ids[n])
        pools = [ids for ids in by_account.values() if len(ids) >= 2]
    else:
        free = [gen.lead_ids[n] for n in range(leads) if not gen.personas[n].has_account]
        rng.shuffle(free)
        pools = [free[i : i + 3] for i in range(0, len(free) - 2, 3)]
    rng.shuffle(pools)
    groups, count = [], 0
    for pool in pools:
        if count >= merges:
            break
        size = 3 if len(pool) >= 3 and rng.random() < 0.3 and count + 2 <= merges else 2
        groups.append(rng.sample(pool, size))
        count += size - 1
    return groups


def identity_load(
    leads: int, events: int, merges: int, identifies: int, seed: int, account_merges: bool, mean_gap_ms: float
) -> IdentityLoad:
    """Journeys, with ``identifies`` leads' early events moved under an anonymous id, and the identity records,
    each placed at a random point of the load (20%..80%); event time ``mean_gap_ms`` apart (the whole run stays
    within the models' lateness, where merges are exact)."""
    rng = random.Random(seed)
    gen = JourneyGenerator(leads, seed=seed, mean_gap_ms=mean_gap_ms)
    generated = list(gen.events(events))
    placed: list[tuple[int, IdentityRecord]] = []

    def record(kind: IdentityKind, from_id: str, to_id: str, at: int) -> None:
        identity_id = f"{kind.lower()}-{seed}-{len(placed)}"
        placed.append((at, IdentityRecord(identity_id, kind, from_id, to_id, generated[at].occurred_at_ms)))

    merged: set[str] = set()
    for group in _pairs(gen, leads, merges, account_merges, rng):
        for absorbed, survivor in itertools.pairwise(group):  # either order of the hops
            record(IdentityKind.MERGE, absorbed, survivor, rng.randrange(events // 5, events * 4 // 5))
        merged.update(group)
    candidates = [
        n for n in range(leads) if gen.lead_ids[n] not in merged and (account_merges or not gen.personas[n].has_account)
    ]
    by_lead: dict[str, list[int]] = {}
    for index, event in enumerate(generated):
        by_lead.setdefault(event.lead_id, []).append(index)
    active = [n for n in candidates if len(by_lead.get(gen.lead_ids[n], [])) >= 3]
    for n in rng.sample(active, min(identifies, len(active))):
        lead_id, anon = gen.lead_ids[n], f"anon-{n:07d}-{seed}"
        mine = by_lead[lead_id]
        at = mine[len(mine) // 2]  # the identify comes half way through the lead's events
        keep_account = rng.random() < 0.5
        for index in mine[: len(mine) // 2 + 2]:  # the anonymous visits, two of them after the identify
            event = generated[index]
            generated[index] = replace(event, lead_id=anon, account_id=event.account_id if keep_account else None)
        record(IdentityKind.IDENTIFY, anon, lead_id, max(at, events // 10))
    placed.sort(key=lambda item: item[0])
    return IdentityLoad(generated, placed)


def encoded(load: IdentityLoad, events_topic: str, identities_topic: str) -> list[Send]:
    codec = AvroCodec(LocalSchemaRegistry())
    identity_codec = IdentityCodec(codec)
    out: list[Send] = []
    pending = list(load.identities)
    for index, event in enumerate(load.events):
        while pending and pending[0][0] <= index:
            identity = pending.pop(0)[1]
            out.append((identities_topic, identity.from_id.encode(), identity_codec.encode_identity(identity)))
        out.append((events_topic, event.lead_id.encode(), codec.encode_event(event)))
    out.extend((identities_topic, r.from_id.encode(), identity_codec.encode_identity(r)) for _, r in pending)
    return out


def run_crash_identities(
    tmp_path: Path,
    leads: int,
    events: int,
    merges: int,
    identifies: int,
    kills: int,
    rate: float,
    seed: int = 16,
    account_merges: bool = True,
    mean_gap_ms: float = 1_000.0,
    settle_s: float = 240,
) -> dict[str, Any]:
    """One worker under the mixed load, SIGKILLed ``kills`` times and restarted on its data dir; then the
    final states against the oracle (leads, tombstones, merges, accounts)."""
    rng = random.Random(seed)
    load = identity_load(leads, events, merges, identifies, seed, account_merges, mean_gap_ms)
    started = time.monotonic()
    with scenario(tmp_path) as (_, settings, workers):
        names = settings.topics
        sends = encoded(load, names.events, names.identities)
        workers.spawn("w")
        producer = PacedProducer(settings.bootstrap_servers, sends, rate)
        producer.start()
        kill_times = []
        load_s = len(sends) / rate
        for _ in range(kills):
            time.sleep(rng.uniform(0.5, 1.5) * max(2.0, load_s / (kills + 1)))
            workers.kill("w")
            kill_times.append(round(time.monotonic() - started, 1))
            workers.spawn("w")
        producer.join(load_s * 3 + 120)
        assert not producer.is_alive() and producer.error is None and producer.failed == 0, producer.error
        engine = engine_for(settings)
        inputs = read_inputs(settings, engine, producer.acked_by_topic)
        expected = expected_final(engine, inputs)
        reader = IdentityReader(settings)
        try:
            deadline = time.monotonic() + settle_s
            while True:
                reader.poll(2.0)
                figures = compare_final(engine, expected, reader.observed)
                if figures["exact"] or time.monotonic() > deadline:
                    break
            reader.poll(3.0)
            figures = compare_final(engine, expected, reader.observed)
        finally:
            reader.close()
        alive = workers.processes["w"].poll() is None
    return {
        **figures,
        "account_merges": account_merges,
        "kills": len(kill_times),
        "kill_times_s": kill_times,
        "worker_alive_at_end": alive,
        "seconds": round(time.monotonic() - started, 1),
    }
