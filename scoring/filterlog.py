"""What a model with filters keeps to stay exact in any arrival order (ADR 036): the recent events a filter could
still disqualify, the recent sends, and the event count per burst period; all within the model's lateness.

msgspec Structs encoded by position in state format 2, like :class:`scoring.modelstate.ModelState`, whose last
field holds a :class:`FilterLog` (``None`` for a model that needs none): append new fields at the end, with a
default. ``scoring/filters.py`` reads and changes it.
"""

from __future__ import annotations

import msgspec

__all__ = ["FilterLog", "Logged", "Period", "Send"]


class Logged(msgspec.Struct, array_like=True, frozen=True):
    """An event that counted and that a later send or burst may still take back."""

    at_ms: int
    event_id: str
    #: the rules whose conditions it met, counted or turned away by a cap (a cap may have to take it in later)
    rules: tuple[str, ...]
    #: what ties a click to its send (the ``match`` property's value; "" without ``match``); None: not such a click
    key: str | None = None


class Send(msgspec.Struct, array_like=True, frozen=True):
    at_ms: int
    key: str


class Period(msgspec.Struct, array_like=True):
    """One aligned burst period (``at_ms // per``) and how many events of the lead fell in it, ignored or not."""

    index: int
    events: int


class FilterLog(msgspec.Struct, array_like=True):
    """Each list sorted by time (``events`` by time, then event id), none older than the model's lateness."""

    events: list[Logged] = msgspec.field(default_factory=list)
    sends: list[Send] = msgspec.field(default_factory=list)
    periods: list[Period] = msgspec.field(default_factory=list)

    def copy(self) -> FilterLog:
        """A copy that changing never changes this one (logged events and sends are frozen: shared)."""
        return FilterLog(list(self.events), list(self.sends), [Period(p.index, p.events) for p in self.periods])
