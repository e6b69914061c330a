"""A seeded synthetic history whose conversions follow known signals, for the fitting tests.

Each lead is first seen with a profile, then over its first week opens e-mails, reads the blog and the pricing page
and may request a demo. The true log-odds of converting (within 60 days of being scored, 14 days after first seen)
are ``-2.5 + 2.0 * demo + 0.8 * pricing views - 1.5 * free mail``: a demo and pricing views raise the odds, a
free-mail address lowers them, e-mail opens and blog views do nothing.
"""

from __future__ import annotations

import json
import math
import random
from dataclasses import dataclass, field
from pathlib import Path

from scoring import LeadEvent, LeadProfile
from scoring.conversions import Conversion, Outcome
from streams.kafka.codec import conversion_to_record, event_to_record, profile_to_record

DAY = 86_400_000
START_MS = 1_767_225_600_000  # 2026-01-01T00:00Z
OBSERVE_AFTER_MS = 14 * DAY
WINDOW_MS = 60 * DAY
FREE_MAIL = ("gmail.com", "yahoo.com", "hotmail.com")
INDUSTRIES = ("software", "retail", "finance", "education")


@dataclass
class SyntheticHistory:
    events: list[LeadEvent] = field(default_factory=list)
    profiles: list[LeadProfile] = field(default_factory=list)
    conversions: list[Conversion] = field(default_factory=list)

    def write(self, directory: Path) -> tuple[Path, Path, Path]:
        """JSON lines as ``leadscore generate`` writes them, plus conversions: (events, profiles, conversions)."""
        paths = directory / "events.jsonl", directory / "profiles.jsonl", directory / "conversions.jsonl"
        rows = (
            [event_to_record(e) for e in self.events],  # the JSON lines `leadscore data` writes
            [profile_to_record(p) for p in self.profiles],
            [conversion_to_record(c) for c in self.conversions],
        )
        for path, lines in zip(paths, rows, strict=True):
            path.write_text("".join(json.dumps(row) + "\n" for row in lines), encoding="utf-8")
        return paths


def synthetic_history(leads: int = 1500, days: int = 150, seed: int = 8) -> SyntheticHistory:
    rng = random.Random(seed)
    history = SyntheticHistory()
    for number in range(leads):
        lead = f"lead-{number:05d}"
        first = START_MS + rng.randrange(days * DAY)
        free_mail = rng.random() < 0.35
        domain = rng.choice(FREE_MAIL) if free_mail else f"company{rng.randrange(400)}.com"
        profile = LeadProfile(lead, first, email=f"{lead}@{domain}", industry=rng.choice(INDUSTRIES))
        history.profiles.append(profile)
        times = [first + rng.randrange(7 * DAY) for _ in range(12)]
        history.events.append(_event(lead, number, 0, "email_open", first))
        opens = rng.randrange(6)
        blogs = rng.randrange(5)
        pricing = rng.choice((0, 0, 0, 1, 1, 2, 3))
        demo = rng.random() < 0.2
        kinds = [("email_open", {})] * opens + [("page_view", {"path": "/blog/post"})] * blogs
        kinds += [("page_view", {"path": "/pricing"})] * pricing + [("demo_request", {})] * demo
        for index, (kind, properties) in enumerate(kinds, start=1):
            history.events.append(_event(lead, number, index, kind, times[index % len(times)] + index, properties))
        log_odds = -2.5 + 2.0 * demo + 0.8 * pricing - 1.5 * free_mail
        if rng.random() < 1 / (1 + math.exp(-log_odds)):
            won_at = first + OBSERVE_AFTER_MS + rng.randrange(1, WINDOW_MS - DAY)
            history.conversions.append(Conversion(f"won-{lead}", lead, Outcome.WON, won_at, 1000.0, "EUR"))
    return history


def _event(lead: str, number: int, index: int, kind: str, at_ms: int, properties: dict[str, str] | None = None):  # type: ignore[no-untyped-def]
    return LeadEvent(f"e-{number}-{index}", lead, kind, at_ms, "synthetic", properties or {})
