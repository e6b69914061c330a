"""Synthetic but realistic lead journeys, deterministic for a given seed.

Personas: an engaged B2B buyer who reads pricing, attends a webinar and asks for a demo; a student who downloads
e-books; a researcher who reads the blog; a tire-kicker who opens one email; a churner who unsubscribes.
Events of all leads interleave in event-time order, as on a real event bus.
"""

from __future__ import annotations

import random
from bisect import bisect_right
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import accumulate

from scoring import LeadEvent

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
        has_account=True,
    ),
    Persona(
        "tire-kicker",
        0.45,
        0.1,
        script=(("email_open", {"campaign": "q4-launch"}),),
        tail=(("email_open", {"campaign": "newsletter"}),),
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
        has_account=False,
    ),
)

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
