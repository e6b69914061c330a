"""UCI "Bank Marketing" (bank-additional-full.csv, Moro et al. 2014) as a replayable history.

Mapping: each row is one phone contact of a term-deposit campaign and one lead, ``lead_id`` ``bank-<row>``
(row number from 1, zero-padded to five digits so that text order is row order), at :func:`reconstruct_dates`'s
day, 12:00 UTC:

- a profile (``updated_at`` = contact time) with attributes ``age_band`` (<25, 25-34, 35-44, 45-54, 55-64, 65+),
  ``job``, ``marital``, ``education``, ``default``, ``housing``, ``loan`` (values as published, "unknown"
  included);
- one event of the custom type ``campaign_call`` (``event_id`` ``bank-call-<row>``, source ``bank``), properties
  ``contact`` (cellular/telephone), ``campaign`` (contacts in this campaign including this one, bucketed 1, 2, 3,
  4-5, 6-10, 11+), ``poutcome`` (previous campaign: nonexistent/failure/success), ``pdays`` (days since the last
  contact of a previous campaign, bucketed 0-3, 4-7, 8-14, 15+, or ``never`` for 999) and ``previous`` (contacts
  before this campaign, a number);
- a WON conversion ``bank-won-<row>`` one day after the contact when ``y`` is ``yes`` (no value: the table has
  none). ``no`` gives nothing.

Never used: ``duration`` (the call's length is known only after the call and all but decides ``y``: a feature
that leaks the label), and the macro-economic columns (emp.var.rate, euribor3m...: the same for everyone on a
day, context rather than lead behaviour).

Dates: the table has ``month`` and ``day_of_week`` (mon..fri) but neither year nor day of month. Rows are in date
order from May 2008 to November 2010, so :func:`reconstruct_dates` walks them: the year starts at 2008 and goes
up by one whenever the month goes backwards (dec -> mar); a new month starts on its first day with the row's
weekday; within a month a row on the same weekday stays on the day, a later weekday moves forward in the same
week, an earlier one to the next week. Assumption: no whole week without calls inside a month (such a gap cannot
be seen and would pull later days of that month earlier). A walk that would leave the month stays on the last
day reached (counted as ``clamped``). On the published table this gives 2008-05-05 .. 2010-11-26.
"""

from __future__ import annotations

import csv
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from pathlib import Path

from scoring import LeadEvent, LeadProfile
from scoring.conversions import Conversion, Outcome
from streams.datasets.adapter import (
    AdapterInputError,
    AdapterOutput,
    iso,
    numbered,
    open_table,
    require_columns,
    utc_ms,
)

FIRST_YEAR = 2008
CALL_TYPE = "campaign_call"
SOURCE = "bank"
CONTACT_HOUR = 12
DAY_MS = 86_400_000
MONTHS = ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec")
WEEKDAYS = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
PROFILE_COLUMNS = ("job", "marital", "education", "default", "housing", "loan")
COLUMNS = ("age", *PROFILE_COLUMNS, "contact", "month", "day_of_week", "campaign", "pdays", "previous", "poutcome", "y")


@dataclass(frozen=True)
class Dates:
    """The reconstructed day of each row, and how many rows had to stay on a day of an earlier weekday."""

    days: list[date]
    clamped: int


def reconstruct_dates(month_weekdays: Iterable[tuple[str, str]], first_year: int = FIRST_YEAR) -> Dates:
    """Days of rows given as ``(month, day_of_week)`` in date order (see the module docstring)."""
    days: list[date] = []
    clamped = 0
    current: date | None = None
    year = first_year
    for month_name, weekday_name in month_weekdays:
        month = MONTHS.index(month_name) + 1
        weekday = WEEKDAYS.index(weekday_name)
        if current is None or month != current.month:
            if current is not None and month < current.month:
                year += 1
            first = date(year, month, 1)
            current = first + timedelta(days=(weekday - first.weekday()) % 7)
        else:
            moved = current + timedelta(days=(weekday - current.weekday()) % 7)
            if moved.month == month:
                current = moved
            else:
                clamped += 1
        days.append(current)
    return Dates(days, clamped)


def read_bank(path: Path, first_year: int = FIRST_YEAR) -> AdapterOutput:
    """Profiles, ``campaign_call`` events and WON conversions of the bank marketing table (plain or .gz)."""
    with open_table(path) as handle:
        reader = csv.DictReader(handle, delimiter=";")
        require_columns(path, reader.fieldnames, COLUMNS)
        rows = list(numbered(reader))
    try:
        dates = reconstruct_dates(((row["month"], row["day_of_week"]) for _, row in rows), first_year)
    except ValueError:
        raise AdapterInputError(f"{path}: a month or day_of_week is not one of {MONTHS} / {WEEKDAYS}") from None
    output = AdapterOutput()
    for (line, row), day in zip(rows, dates.days, strict=True):
        number = f"{line - 1:05d}"
        lead_id = f"bank-{number}"
        at_ms = utc_ms(datetime(day.year, day.month, day.day, CONTACT_HOUR))
        try:
            attributes = {"age_band": age_band(int(row["age"]))} | {name: row[name] for name in PROFILE_COLUMNS}
            properties = {
                "contact": row["contact"],
                "campaign": campaign_bucket(int(row["campaign"])),
                "poutcome": row["poutcome"],
                "pdays": pdays_bucket(int(row["pdays"])),
                "previous": str(int(row["previous"])),
            }
        except ValueError:
            raise AdapterInputError(f"{path}:{line}: age, campaign, pdays or previous is not a whole number") from None
        if row["y"] not in ("yes", "no"):
            raise AdapterInputError(f"{path}:{line}: y is {row['y']!r}, expected yes or no")
        output.profiles.append(LeadProfile(lead_id, at_ms, attributes=attributes))
        output.events.append(LeadEvent(f"bank-call-{number}", lead_id, CALL_TYPE, at_ms, SOURCE, properties))
        if row["y"] == "yes":
            output.conversions.append(Conversion(f"bank-won-{number}", lead_id, Outcome.WON, at_ms + DAY_MS))
    if dates.days:
        first, last = iso(utc_ms(_midnight(dates.days[0])))[:10], iso(utc_ms(_midnight(dates.days[-1])))[:10]
        output.notes.append(f"dates reconstructed {first} .. {last}; {dates.clamped} row(s) clamped to a month end")
    output.sort()
    return output


def _midnight(day: date) -> datetime:
    return datetime(day.year, day.month, day.day)


def age_band(age: int) -> str:
    for upper, band in ((25, "<25"), (35, "25-34"), (45, "35-44"), (55, "45-54"), (65, "55-64")):
        if age < upper:
            return band
    return "65+"


def campaign_bucket(contacts: int) -> str:
    if contacts <= 3:
        return str(contacts)
    return "4-5" if contacts <= 5 else "6-10" if contacts <= 10 else "11+"


def pdays_bucket(days: int) -> str:
    if days == 999:
        return "never"
    return "0-3" if days <= 3 else "4-7" if days <= 7 else "8-14" if days <= 14 else "15+"
