"""What changed between two versions of a model, in the terms a marketer reads: points per rule and level lines."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Change:
    """One rule or level: ``before`` None when added, ``after`` None when removed."""

    kind: str  # "rule" or "level"
    name: str
    before: float | None
    after: float | None

    def describe(self) -> str:
        if self.before is None:
            return f"+ {self.kind} {self.name}: {self.after:g}"
        if self.after is None:
            return f"- {self.kind} {self.name}: was {self.before:g}"
        return f"~ {self.kind} {self.name}: {self.before:g} -> {self.after:g}"


def diff_points(
    rules_before: Mapping[str, float],
    rules_after: Mapping[str, float],
    levels_before: Mapping[str, float] | None = None,
    levels_after: Mapping[str, float] | None = None,
) -> list[Change]:
    """Rules and levels added, removed or re-valued (rules first, each group by name); unchanged ones left out."""
    changes = _diff("rule", rules_before, rules_after)
    changes += _diff("level", levels_before or {}, levels_after or {})
    return changes


def _diff(kind: str, before: Mapping[str, float], after: Mapping[str, float]) -> list[Change]:
    return [
        Change(kind, name, before.get(name), after.get(name))
        for name in sorted(set(before) | set(after))
        if before.get(name) != after.get(name)
    ]
