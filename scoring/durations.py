"""Durations in model files: ``500ms``, ``90s``, ``15m``, ``12h``, ``30d``, ``2w``; ``never`` (no decay)."""

from __future__ import annotations

import re

UNITS_MS = {"ms": 1, "s": 1000, "m": 60_000, "h": 3_600_000, "d": 86_400_000, "w": 604_800_000}
_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)\s*$")
NEVER = 0


def parse_duration(value: object) -> int:
    """Milliseconds of a duration; ``never`` gives 0. Raises ValueError with a hint otherwise."""
    if isinstance(value, str) and value.strip().lower() == "never":
        return NEVER
    match = _DURATION.match(value) if isinstance(value, str) else None
    if match is None:
        raise ValueError("expected a duration such as 30d, 12h, 15m, 90s or 'never'")
    amount = float(match.group(1)) * UNITS_MS[match.group(2)]
    if amount < 1:
        raise ValueError("a duration must be at least 1 ms")
    return int(amount)


def format_duration(ms: int) -> str:
    if ms == NEVER:
        return "never"
    for unit in ("w", "d", "h", "m", "s"):
        if ms % UNITS_MS[unit] == 0:
            return f"{ms // UNITS_MS[unit]}{unit}"
    return f"{ms}ms"
