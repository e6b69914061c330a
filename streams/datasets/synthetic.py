"""Synthetic but realistic lead journeys, deterministic for a given seed.

Personas: an engaged B2B buyer who reads pricing, attends a webinar and asks for a demo; a student who downloads
e-books; a researcher who reads the blog; a tire-kicker who opens one email; a churner who unsubscribes.
Events of all leads interleave in event-time order, as on a real event bus.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass, field
from itertools import accumulate

from scoring import LeadEvent, LeadProfile

Step = tuple[str, dict[str, str]]

SOURCES = {
    "email_open": "email",
    "email_click": "email",
    "unsubscribe": "email",
    "email_bounce": "email",
    "webinar_signup": "webinar-platform",
    "webinar_attended": "webinar-platform",
}


@dataclass(frozen=True)
class Persona:
    name: str
    share: float  # share of leads with this persona
    activity: float  # relative rate at which such a lead acts
    script: tuple[Step, ...]  # what such a lead does first, in order
    tail: tuple[Step, ...]  # what it keeps doing afterwards, picked at random
    has_account: bool
    profile: dict[str, tuple[object, ...]] = field(default_factory=dict)  # attribute -> choices


PERSONAS: tuple[Persona, ...] = (
    Persona(
        "engaged buyer",
        0.15,
        3.0,
        script=(
            ("email_open", {"campaign": "q4-launch"}),
            ("email_click", {"campaign": "q4-launch", "link": "/product"}),
            ("page_view", {"path": "/product"}),
            ("page_view", {"path": "/pricing"}),
            ("content_download", {"asset": "roi-guide"}),
            ("webinar_signup", {"webinar": "scaling-pipelines"}),
            ("webinar_attended", {"webinar": "scaling-pipelines"}),
            ("page_view", {"path": "/pricing"}),
            ("demo_request", {"form": "book-a-demo"}),
        ),
        tail=(
            ("page_view", {"path": "/pricing"}),
            ("page_view", {"path": "/docs/integrations"}),
            ("email_open", {"campaign": "demo-follow-up"}),
            ("email_click", {"campaign": "demo-follow-up", "link": "/case-studies"}),
        ),
        profile={
            "domain": ("acme-bank.com", "globex.io", "initech.com", "umbrella-ins.com"),
            "company_size": (250, 1200, 3500, 8000),
            "industry": ("software", "finance", "banking", "manufacturing"),
            "seniority": ("vp", "director", "c-level", "manager"),
            "title": ("VP Marketing", "Head of Sales Ops", "CFO", "Marketing Manager"),
            "country": ("DE", "US", "GB", "NL"),
            "budget": ("confirmed", "unknown"),
        },
        has_account=True,
    ),
    Persona(
        "student",
        0.2,
        1.0,
        script=(
            ("page_view", {"path": "/blog/what-is-lead-scoring"}),
            ("content_download", {"asset": "ebook-lead-scoring-101"}),
        ),
        tail=(
            ("page_view", {"path": "/blog"}),
            ("page_view", {"path": "/blog"}),
            ("page_view", {"path": "/blog"}),
            ("content_download", {"asset": "ebook-marketing-glossary"}),
        ),
        profile={
            "domain": ("gmail.com", "uni-example.edu"),
            "seniority": ("student",),
            "title": ("MSc Student", "Student Assistant"),
            "industry": ("education",),
            "country": ("DE", "IN", "BR"),
        },
        has_account=False,
    ),
    Persona(
        "researcher",
        0.15,
        1.0,
        script=(
            ("email_open", {"campaign": "newsletter"}),
            ("page_view", {"path": "/blog/benchmarks"}),
            ("content_download", {"asset": "whitepaper-benchmarks"}),
        ),
        tail=(("page_view", {"path": "/blog"}), ("email_open", {"campaign": "newsletter"})),
        profile={
            "domain": ("analyst-firm.com", "smallco.de"),
            "company_size": (15, 80, 400),
            "industry": ("consulting", "software"),
            "seniority": ("individual", "manager"),
            "title": ("Analyst", "Researcher"),
            "country": ("US", "FR"),
        },
        has_account=True,
    ),
    Persona(
        "tire-kicker",
        0.45,
        0.1,
        script=(("email_open", {"campaign": "q4-launch"}),),
        tail=(("email_open", {"campaign": "newsletter"}),),
        profile={
            "domain": ("gmail.com", "yahoo.com", "outlook.com"),
            "title": ("Financial Advisor", "Consultant", "Owner"),
            "country": ("US", "GB"),
        },
        has_account=False,
    ),
    Persona(
        "churner",
        0.05,
        0.5,
        script=(
            ("email_open", {"campaign": "newsletter"}),
            ("email_click", {"campaign": "newsletter", "link": "/blog"}),
            ("unsubscribe", {"campaign": "newsletter"}),
        ),
        tail=(("page_view", {"path": "/blog"}),),
        profile={
            "domain": ("tinyshop.com",),
            "company_size": (3, 12),
            "industry": ("retail",),
            "title": ("Owner",),
            "country": ("US",),
        },
        has_account=False,
    ),
)

FREE_MAIL = frozenset({"gmail.com", "yahoo.com", "outlook.com"})

#: 2026-01-05T09:00:00Z: the default start of event time, so that `generate` output is reproducible.
DEFAULT_START_MS = 1_767_603_600_000


class JourneyGenerator:
    """Makes ``events`` events over ``leads`` leads; the same arguments always give the same events."""

    def __init__(
        self, leads: int, seed: int = 0, start_ms: int = DEFAULT_START_MS, mean_gap_ms: float = 1000.0
    ) -> None:
        if leads < 1:
            raise ValueError("leads must be at least 1")
        self.rng = random.Random(seed)
        self.seed = seed
        self.start_ms = start_ms
        self.mean_gap_ms = mean_gap_ms
        self.personas = self.rng.choices(PERSONAS, weights=[p.share for p in PERSONAS], k=leads)
        self.lead_ids = [f"lead-{n:07d}" for n in range(leads)]
        self._cumulative = list(accumulate(p.activity for p in self.personas))
        self._progress = [0] * leads

    def persona_of(self, lead_id: str) -> str:
        return self.personas[int(lead_id.removeprefix("lead-"))].name

    def profile(self, lead_id: str) -> LeadProfile:
        """The lead's profile, fixed per seed and lead, dated at the generator's start."""
        index = int(lead_id.removeprefix("lead-"))
        persona = self.personas[index]
        rng = random.Random(f"{self.seed}/{lead_id}")
        pick = {name: rng.choice(choices) for name, choices in persona.profile.items()}
        size = pick.get("company_size")
        return LeadProfile(
            lead_id=lead_id,
            updated_at_ms=self.start_ms,
            email=f"{lead_id}@{pick['domain']}" if "domain" in pick else None,
            company=None if pick.get("domain") in FREE_MAIL else str(pick.get("domain", "")).split(".")[0] or None,
            company_size=int(size) if isinstance(size, int) else None,
            industry=_text(pick.get("industry")),
            title=_text(pick.get("title")),
            seniority=_text(pick.get("seniority")),
            country=_text(pick.get("country")),
            attributes={"budget": str(pick["budget"])} if "budget" in pick else {},
        )

    def events(self, count: int) -> Iterator[LeadEvent]:
        """Lazily yield ``count`` events (``count`` may be huge: nothing is made in advance)."""
        now = float(self.start_ms)
        total, last = self._cumulative[-1], len(self._cumulative) - 1
        for sequence in range(count):
            lead = min(bisect_right(self._cumulative, self.rng.random() * total), last)
            now += self.rng.expovariate(1.0 / self.mean_gap_ms) if self.mean_gap_ms > 0 else 0.0
            yield self._next_event(lead, sequence, int(now))

    def _next_event(self, lead: int, sequence: int, at_ms: int) -> LeadEvent:
        persona = self.personas[lead]
        step = self._progress[lead]
        self._progress[lead] = step + 1
        event_type, properties = persona.script[step] if step < len(persona.script) else self.rng.choice(persona.tail)
        return LeadEvent(
            event_id=f"evt-{self.seed}-{sequence:09d}",
            lead_id=self.lead_ids[lead],
            type=event_type,
            occurred_at_ms=at_ms,
            source=SOURCES.get(event_type, "web"),
            properties=dict(properties),
            account_id=f"acct-{lead // 4:06d}" if persona.has_account else None,
        )


def _text(value: object) -> str | None:
    return None if value is None else str(value)
