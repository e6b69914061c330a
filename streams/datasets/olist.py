"""The Olist marketing funnel (Kaggle "Marketing Funnel by Olist") as a replayable history.

Mapping (the convention the evaluation and fitting commands rely on):

- each row of ``olist_marketing_qualified_leads_dataset.csv`` is one lead (``lead_id`` = ``mql_id``) and one
  ``form_fill`` event at ``first_contact_date`` 00:00 UTC: ``event_id`` ``olist-mql-<mql_id>``, source ``olist``,
  properties ``form=mql``, ``origin`` (an empty origin becomes ``unknown``) and ``landing_page``;
- each row of ``olist_closed_deals_dataset.csv`` is a WON conversion at ``won_date`` (read as UTC; the table
  gives no zone), ``conversion_id`` ``olist-won-<mql_id>``, value = ``declared_monthly_revenue`` when above 0
  (currency BRL), otherwise no value;
- no profiles: every other column of the deals table (segment, lead type, behaviour profile, catalogue size,
  revenue...) is known only for leads that were won, so it is an *outcome*, never a feature. It is not put into
  any event or profile.
- the data has no lost records. With ``lost_after`` (e.g. 165 days), a LOST conversion ``olist-lost-<mql_id>``
  is written at first contact + ``lost_after`` for each MQL not won by then, when that moment is before
  :data:`DATA_END_MS` (the last won_date in the table: later outcomes are unknown). An MQL won after that moment
  (a late win) keeps its WON as well: the LOST is the verdict of the cut-off, the WON what happened later.

Traps: won_date covers 2017-12-05..2018-11-14 only, so MQLs of 2017 look like they rarely convert (missing wins,
not behaviour); one deal is won before its MQL's first contact date (kept as published, see ``notes``).
"""

from __future__ import annotations

import csv
from datetime import datetime
from pathlib import Path

from scoring import LeadEvent
from scoring.conversions import Conversion, Outcome
from streams.datasets.adapter import AdapterInputError, AdapterOutput, numbered, open_table, require_columns, utc_ms

MQL_COLUMNS = ("mql_id", "first_contact_date", "landing_page_id", "origin")
DEAL_COLUMNS = ("mql_id", "won_date", "declared_monthly_revenue")
SOURCE = "olist"
CURRENCY = "BRL"
#: The last won_date of the published deals table (2018-11-14 18:04:19 UTC): outcomes after it are unknown.
DATA_END_MS = utc_ms(datetime(2018, 11, 14, 18, 4, 19))


def read_olist(mqls: Path, deals: Path, lost_after_ms: int | None = None) -> AdapterOutput:
    """Events (one ``form_fill`` per MQL) and conversions (WON per deal, LOST per ``lost_after_ms`` if given)."""
    output = AdapterOutput()
    first_contact: dict[str, int] = {}
    with open_table(mqls) as handle:
        reader = csv.DictReader(handle)
        require_columns(mqls, reader.fieldnames, MQL_COLUMNS)
        for line, row in numbered(reader):
            mql_id = row["mql_id"].strip()
            at_ms = _date_ms(mqls, line, row["first_contact_date"], "%Y-%m-%d")
            if not mql_id or mql_id in first_contact:
                raise AdapterInputError(f"{mqls}:{line}: empty or repeated mql_id {mql_id!r}")
            first_contact[mql_id] = at_ms
            properties = {
                "form": "mql",
                "origin": row["origin"].strip() or "unknown",
                "landing_page": row["landing_page_id"].strip(),
            }
            output.events.append(LeadEvent(f"olist-mql-{mql_id}", mql_id, "form_fill", at_ms, SOURCE, properties))
    won_at: dict[str, int] = {}
    unknown_leads = 0
    with open_table(deals) as handle:
        reader = csv.DictReader(handle)
        require_columns(deals, reader.fieldnames, DEAL_COLUMNS)
        for line, row in numbered(reader):
            mql_id = row["mql_id"].strip()
            if mql_id not in first_contact:
                unknown_leads += 1
                continue
            at_ms = _date_ms(deals, line, row["won_date"], "%Y-%m-%d %H:%M:%S")
            won_at[mql_id] = at_ms
            value = _revenue(deals, line, row["declared_monthly_revenue"])
            currency = CURRENCY if value is not None else None
            output.conversions.append(Conversion(f"olist-won-{mql_id}", mql_id, Outcome.WON, at_ms, value, currency))
    if unknown_leads:
        output.notes.append(f"{unknown_leads} deal(s) of MQLs not in {mqls.name} left out")
    early = sum(1 for mql_id, at_ms in won_at.items() if at_ms < first_contact[mql_id])
    if early:
        output.notes.append(f"{early} deal(s) won before the MQL's first contact date (kept as published)")
    if lost_after_ms is not None:
        output.conversions.extend(_lost(first_contact, won_at, lost_after_ms))
        late = sum(1 for mql_id, at_ms in won_at.items() if at_ms > first_contact[mql_id] + lost_after_ms)
        output.notes.append(f"{late} MQL(s) won after the lost-after cut-off have both LOST and WON")
    output.sort()
    return output


def _lost(first_contact: dict[str, int], won_at: dict[str, int], lost_after_ms: int) -> list[Conversion]:
    lost: list[Conversion] = []
    for mql_id, first_ms in first_contact.items():
        at_ms = first_ms + lost_after_ms
        won_by_then = mql_id in won_at and won_at[mql_id] <= at_ms
        if not won_by_then and at_ms < DATA_END_MS:
            lost.append(Conversion(f"olist-lost-{mql_id}", mql_id, Outcome.LOST, at_ms))
    return lost


def _date_ms(path: Path, line: int, text: str, layout: str) -> int:
    try:
        return utc_ms(datetime.strptime(text.strip(), layout))
    except ValueError:
        raise AdapterInputError(f"{path}:{line}: date {text!r} is not in the form {layout}") from None


def _revenue(path: Path, line: int, text: str) -> float | None:
    try:
        value = float(text) if text.strip() else 0.0
    except ValueError:
        raise AdapterInputError(f"{path}:{line}: declared_monthly_revenue {text!r} is not a number") from None
    return value if value > 0 else None
