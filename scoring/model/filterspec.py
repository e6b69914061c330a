"""The model file's ``filters:`` section: events the engine ignores because no person made them (ADR 036).

Three filters, each optional::

    filters:
      scanner_clicks: {events: [email_click], within: 30s, send_event: email_sent, match: email_id}
      bursts: {max_events: 5, per: 1s}
      user_agents: {property: user_agent, match: [bot, crawler, headless]}     # or in_list: <a named list>

Here: the YAML shape (pydantic), the compiled form (frozen dataclasses) and :func:`compile_filters`. How the engine
applies them, exactly and in any arrival order, is ``scoring/filters.py``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Annotated

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, model_validator

from scoring.durations import parse_duration
from scoring.errors import ModelError

__all__ = [
    "Bursts",
    "BurstsSpec",
    "Filters",
    "FiltersSpec",
    "ScannerClicks",
    "ScannerClicksSpec",
    "UserAgents",
    "UserAgentsSpec",
    "compile_filters",
]

Duration = Annotated[int, BeforeValidator(parse_duration)]
EventType = Annotated[str, Field(min_length=1, max_length=64)]
Name = Annotated[str, Field(min_length=1, max_length=128)]


class _Spec(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class ScannerClicksSpec(_Spec):
    """A click (of ``events``) within ``within`` after its email was sent is an email security scanner's. The send
    time comes from the click's ``send_property`` (Unix ms or ISO-8601) and/or from the lead's ``send_event``s;
    ``match`` names the property that ties a click to its send (without it, any send of the lead counts)."""

    events: list[EventType] = Field(default_factory=lambda: ["email_click"], min_length=1)
    within: Duration
    send_event: EventType | None = None
    send_property: Name | None = None
    match: Name | None = None

    @model_validator(mode="after")
    def _knows_the_send(self) -> ScannerClicksSpec:
        if self.send_event is None and self.send_property is None:
            raise ValueError("say where the send is known: send_event (the lead's send events) or send_property")
        if self.match is not None and self.send_event is None:
            raise ValueError("match ties a click to its send event: it needs send_event")
        if self.send_event in self.events:
            raise ValueError("send_event must not be one of the click events")
        return self


class BurstsSpec(_Spec):
    """More than ``max_events`` events of one lead within one aligned period of ``per``: all of them are a bot's."""

    max_events: int = Field(ge=1)
    per: Duration

    @model_validator(mode="after")
    def _a_period(self) -> BurstsSpec:
        if self.per <= 0:
            raise ValueError("bursts count events per period: give one such as 1s, not 'never'")
        return self


class UserAgentsSpec(_Spec):
    """Events whose ``property`` contains one of ``match`` (or of the named list ``in_list``), ignoring case."""

    property: Name = "user_agent"
    match: list[Annotated[str, Field(min_length=1)]] | None = Field(None, min_length=1)
    in_list: Name | None = None

    @model_validator(mode="after")
    def _one_source(self) -> UserAgentsSpec:
        if (self.match is None) == (self.in_list is None):
            raise ValueError("give either match (a list of substrings) or in_list (a named list), not both")
        return self


class FiltersSpec(_Spec):
    scanner_clicks: ScannerClicksSpec | None = None
    bursts: BurstsSpec | None = None
    user_agents: UserAgentsSpec | None = None

    @model_validator(mode="after")
    def _not_empty(self) -> FiltersSpec:
        if self.scanner_clicks is None and self.bursts is None and self.user_agents is None:
            raise ValueError("name at least one filter: scanner_clicks, bursts or user_agents")
        return self


@dataclass(frozen=True, slots=True)
class ScannerClicks:
    events: frozenset[str]
    within_ms: int
    send_event: str | None = None
    send_property: str | None = None
    match: str | None = None


@dataclass(frozen=True, slots=True)
class Bursts:
    max_events: int
    per_ms: int


@dataclass(frozen=True, slots=True)
class UserAgents:
    property: str
    substrings: tuple[str, ...]  # lower case

    def matches(self, properties: Mapping[str, str]) -> bool:
        agent = properties.get(self.property)
        if not agent:
            return False
        agent = agent.lower()
        return any(substring in agent for substring in self.substrings)


@dataclass(frozen=True, slots=True)
class Filters:
    """The compiled ``filters:`` section (a model without it has ``filters=None``)."""

    scanner_clicks: ScannerClicks | None = None
    bursts: Bursts | None = None
    user_agents: UserAgents | None = None

    @property
    def keeps_log(self) -> bool:
        """Whether an event arriving later can disqualify one counted earlier (a send, the event that makes a
        burst): then the engine logs the events it may have to take back."""
        return self.bursts is not None or (
            self.scanner_clicks is not None and self.scanner_clicks.send_event is not None
        )

    @property
    def event_types(self) -> frozenset[str]:
        """The event types the filters name (a send event need not be scored by any rule to be accepted)."""
        scanner = self.scanner_clicks
        if scanner is None:
            return frozenset()
        return scanner.events | ({scanner.send_event} if scanner.send_event else set())


def compile_filters(spec: FiltersSpec | None, lists: Mapping[str, frozenset[str]], source: str) -> Filters | None:
    """The immutable form of a validated ``filters:`` section; a named list that does not exist is a
    :class:`ModelError` naming ``source`` and the field."""
    if spec is None:
        return None
    scanner = spec.scanner_clicks
    agents = spec.user_agents
    return Filters(
        scanner_clicks=None
        if scanner is None
        else ScannerClicks(
            frozenset(scanner.events), scanner.within, scanner.send_event, scanner.send_property, scanner.match
        ),
        bursts=None if spec.bursts is None else Bursts(spec.bursts.max_events, spec.bursts.per),
        user_agents=None if agents is None else UserAgents(agents.property, _substrings(agents, lists, source)),
    )


def _substrings(spec: UserAgentsSpec, lists: Mapping[str, frozenset[str]], source: str) -> tuple[str, ...]:
    if spec.match is not None:
        return tuple(sorted({item.lower() for item in spec.match}))
    assert spec.in_list is not None  # the spec's validator: one of the two
    if spec.in_list not in lists:
        known = ", ".join(sorted(lists)) or "none defined"
        raise ModelError(
            f"{source}: filters.user_agents.in_list: no list named {spec.in_list!r} in the file's lists ({known})"
        )
    substrings = tuple(sorted({item.lower() for item in lists[spec.in_list] if item}))
    if not substrings:
        raise ModelError(f"{source}: filters.user_agents.in_list: the list {spec.in_list!r} is empty")
    return substrings
