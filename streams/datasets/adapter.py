"""Replay adapters: public lead tables turned into the JSON lines ``leadscore`` reads (``leadscore data``).

An adapter returns an :class:`AdapterOutput` (events, profiles and conversions as domain values);
:func:`write_output` writes it into a directory as ``events.jsonl``, ``profiles.jsonl`` (only when there are
profiles) and ``conversions.jsonl``, in the format of ``leadscore generate`` that ``streams.analysis.offline`` and
``streams.analysis.history.history_from_files`` read, and ``leadscore data replay`` produces to the broker. Each file is
sorted by event time, then id, so the same table always gives the same bytes.

Adapters:

- :mod:`streams.datasets.olist`: the Olist marketing funnel (MQLs and closed deals).
- :mod:`streams.datasets.bank`: the UCI bank marketing calls (one lead per row).
"""

from __future__ import annotations

import gzip
import io
import json
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

from scoring import LeadscoreError
from scoring.conversions import Outcome
from streams.analysis.history import CONVERSIONS_FILE, EVENTS_FILE, PROFILES_FILE, History
from streams.kafka.codec import conversion_to_record, event_to_record, profile_to_record


class AdapterInputError(LeadscoreError):
    """An input table of ``leadscore data`` is missing or not in the expected shape; the message names the file
    and, where it can, the line. Check the path and that the file is the published, unedited table."""


@dataclass
class AdapterOutput(History):
    """What an adapter made of a table: a :class:`streams.analysis.history.History` (``sort`` puts it in event-time
    order),
    with notes on what the table held that is worth saying (outliers kept as published)."""

    notes: list[str] = field(default_factory=list)

    def summary(self) -> dict[str, int | str | None]:
        """Counts and time range, for the command line and the tests."""
        times = [e.occurred_at_ms for e in self.events] + [c.occurred_at_ms for c in self.conversions]
        times += [p.updated_at_ms for p in self.profiles]
        by_outcome = {outcome.value: 0 for outcome in Outcome}
        for conversion in self.conversions:
            by_outcome[conversion.outcome.value] += 1
        leads = {e.lead_id for e in self.events} | {p.lead_id for p in self.profiles}
        return {
            "events": len(self.events),
            "profiles": len(self.profiles),
            "conversions": len(self.conversions),
            **{outcome.lower(): count for outcome, count in by_outcome.items()},
            "leads": len(leads),
            "first": iso(min(times)) if times else None,
            "last": iso(max(times)) if times else None,
        }


def iso(ms: int) -> str:
    return datetime.fromtimestamp(ms / 1000, UTC).isoformat().replace("+00:00", "Z")


def utc_ms(moment: datetime) -> int:
    """Unix milliseconds of a naive (taken as UTC) or aware datetime."""
    return int(moment.replace(tzinfo=moment.tzinfo or UTC).timestamp() * 1000)


def open_table(path: Path) -> IO[str]:
    """A text handle on a CSV file, gzip-compressed when its name ends in ``.gz``."""
    try:
        if path.suffix == ".gz":
            return io.TextIOWrapper(gzip.open(path, "rb"), encoding="utf-8", newline="")
        return path.open(encoding="utf-8", newline="")
    except OSError as exc:
        raise AdapterInputError(f"{path}: cannot read ({exc.strerror or exc})") from None


def write_output(output: AdapterOutput, out_dir: Path) -> list[Path]:
    """Write the JSON-lines files into ``out_dir`` (created if missing); returns the paths written."""
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise AdapterInputError(f"{out_dir}: cannot create the output directory ({exc.strerror or exc})") from None
    output.sort()
    written = [_write(out_dir / EVENTS_FILE, map(event_to_record, output.events))]
    if output.profiles:
        written.append(_write(out_dir / PROFILES_FILE, map(profile_to_record, output.profiles)))
    written.append(_write(out_dir / CONVERSIONS_FILE, map(conversion_to_record, output.conversions)))
    return written


def _write(path: Path, records: Iterable[Mapping[str, object]]) -> Path:
    try:
        with path.open("w", encoding="utf-8") as handle:
            for record in records:
                handle.write(json.dumps(record, separators=(",", ":"), ensure_ascii=False) + "\n")
    except OSError as exc:
        raise AdapterInputError(f"{path}: cannot write ({exc.strerror or exc})") from None
    return path


def require_columns(path: Path, header: Iterable[str] | None, needed: Iterable[str]) -> None:
    missing = sorted(set(needed) - set(header or ()))
    if missing:
        raise AdapterInputError(f"{path}: not the expected table, missing column(s) {', '.join(missing)}")


def numbered(rows: Iterable[dict[str, str]]) -> Iterator[tuple[int, dict[str, str]]]:
    """Rows with their line number in the file (the header is line 1)."""
    return enumerate(rows, start=2)
