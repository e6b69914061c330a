"""The replay adapters on the real tables: the vendored Olist copy and an excerpt of the UCI bank data."""

from __future__ import annotations

import csv
import gzip
import hashlib
import re
from datetime import date, datetime
from pathlib import Path

import pytest

from scoring.conversions import Outcome
from scoring.durations import parse_duration
from streams.cli.data import BANK_DIR, BANK_FULL, OLIST_DEALS, OLIST_DIR, OLIST_MQLS
from streams.datasets.adapter import AdapterInputError, AdapterOutput, utc_ms, write_output
from streams.datasets.bank import PROFILE_COLUMNS, read_bank, reconstruct_dates
from streams.datasets.olist import DATA_END_MS, read_olist

BANK_EXCERPT = Path(__file__).parent.parent / "fixtures" / "bank-additional-excerpt.csv.gz"
DAY = 86_400_000


def _ms(text: str) -> int:
    return utc_ms(datetime.fromisoformat(text))


@pytest.fixture(scope="module")
def olist() -> AdapterOutput:
    return read_olist(OLIST_MQLS, OLIST_DEALS)


@pytest.fixture(scope="module")
def deal_rows() -> list[dict[str, str]]:
    with gzip.open(OLIST_DEALS, "rt", encoding="utf-8", newline="") as handle:
        return list(csv.DictReader(handle))


def test_vendored_olist_files_are_the_verbatim_published_bytes() -> None:
    listed = dict(re.findall(r"\| (\S+\.csv)\.gz \|.*\| ([0-9a-f]{64}) \|", (OLIST_DIR / "SOURCES.md").read_text()))
    assert set(listed) == {OLIST_MQLS.name[:-3], OLIST_DEALS.name[:-3]}
    for path in (OLIST_MQLS, OLIST_DEALS):
        assert hashlib.sha256(gzip.decompress(path.read_bytes())).hexdigest() == listed[path.name[:-3]]


def test_vendored_bank_file_is_the_verbatim_published_bytes_and_the_excerpt_its_start() -> None:
    listed = dict(re.findall(r"\| (\S+\.csv)\.gz \|.*\| ([0-9a-f]{64}) \|", (BANK_DIR / "SOURCES.md").read_text()))
    full = gzip.decompress(BANK_FULL.read_bytes())
    assert listed == {BANK_FULL.name[:-3]: hashlib.sha256(full).hexdigest()}
    assert full.startswith(gzip.decompress(BANK_EXCERPT.read_bytes()))


def test_olist_one_form_fill_per_mql_and_one_won_per_deal(olist: AdapterOutput) -> None:
    assert len(olist.events) == 8000
    assert len({e.lead_id for e in olist.events}) == 8000
    assert {e.type for e in olist.events} == {"form_fill"}
    assert all(e.event_id == f"olist-mql-{e.lead_id}" and e.source == "olist" for e in olist.events)
    assert all(e.occurred_at_ms % DAY == 0 for e in olist.events)  # first contact date, 00:00 UTC
    assert [c.outcome for c in olist.conversions] == [Outcome.WON] * 842
    assert all(c.conversion_id == f"olist-won-{c.lead_id}" for c in olist.conversions)
    assert {c.lead_id for c in olist.conversions} <= {e.lead_id for e in olist.events}
    assert olist.profiles == []


def test_olist_times_are_in_the_published_ranges(olist: AdapterOutput) -> None:
    events = [e.occurred_at_ms for e in olist.events]
    wins = [c.occurred_at_ms for c in olist.conversions]
    assert min(events) == _ms("2017-06-14T00:00") and max(events) == _ms("2018-05-31T00:00")
    assert _ms("2017-12-05T00:00") <= min(wins) and max(wins) < _ms("2018-11-15T00:00")
    assert events == sorted(events) and wins == sorted(wins)


def test_olist_origin_empty_becomes_unknown_and_properties_are_only_form_fields(olist: AdapterOutput) -> None:
    origins = {e.properties["origin"] for e in olist.events}
    assert "" not in origins and "unknown" in origins and "paid_search" in origins
    assert all(set(e.properties) == {"form", "origin", "landing_page"} for e in olist.events)
    assert all(e.properties["form"] == "mql" for e in olist.events)


def test_olist_no_deal_attribute_appears_in_any_event(
    olist: AdapterOutput, deal_rows: list[dict[str, str]], tmp_path: Path
) -> None:
    no_deals = tmp_path / "deals.csv"
    no_deals.write_text(",".join(deal_rows[0]) + "\n")
    assert read_olist(OLIST_MQLS, no_deals).events == olist.events  # events do not depend on the deals at all
    ids = {row[column] for row in deal_rows for column in ("seller_id", "sdr_id", "sr_id")}
    seen = {text for e in olist.events for text in (*e.properties.values(), *e.properties, e.source, e.type)}
    assert not seen & ids
    assert not seen & (set(deal_rows[0]) - {"mql_id"})


def test_olist_value_is_declared_monthly_revenue_when_positive(
    olist: AdapterOutput, deal_rows: list[dict[str, str]]
) -> None:
    revenue = {row["mql_id"]: float(row["declared_monthly_revenue"] or 0) for row in deal_rows}
    for conversion in olist.conversions:
        declared = revenue[conversion.lead_id]
        if declared > 0:
            assert (conversion.value, conversion.currency) == (declared, "BRL")
        else:
            assert (conversion.value, conversion.currency) == (None, None)
    assert any(c.value for c in olist.conversions)


def test_olist_lost_after_marks_mqls_not_won_by_the_cut_off(olist: AdapterOutput) -> None:
    after = parse_duration("165d")
    with_lost = read_olist(OLIST_MQLS, OLIST_DEALS, after)
    first = {e.lead_id: e.occurred_at_ms for e in olist.events}
    won = {c.lead_id: c.occurred_at_ms for c in olist.conversions}
    lost = [c for c in with_lost.conversions if c.outcome is Outcome.LOST]
    assert [c for c in with_lost.conversions if c.outcome is Outcome.WON] == olist.conversions
    assert lost
    for conversion in lost:
        assert conversion.occurred_at_ms == first[conversion.lead_id] + after < DATA_END_MS
        assert won.get(conversion.lead_id, DATA_END_MS) > conversion.occurred_at_ms
        assert conversion.conversion_id == f"olist-lost-{conversion.lead_id}"
    expected = {
        lead for lead, at in first.items() if at + after < DATA_END_MS and won.get(lead, DATA_END_MS) > at + after
    }
    assert {c.lead_id for c in lost} == expected
    # a cut-off that reaches beyond the data end for the newest MQLs leaves those out
    long_wait = read_olist(OLIST_MQLS, OLIST_DEALS, parse_duration("200d"))
    long_lost = {c.lead_id for c in long_wait.conversions if c.outcome is Outcome.LOST}
    assert long_lost and all(first[lead] + parse_duration("200d") < DATA_END_MS for lead in long_lost)
    assert any(first[lead] + parse_duration("200d") >= DATA_END_MS for lead in first if lead not in won)


def test_olist_rejects_a_table_without_the_columns(tmp_path: Path) -> None:
    wrong = tmp_path / "mqls.csv"
    wrong.write_text("id,date\n1,2018-01-01\n")
    with pytest.raises(AdapterInputError, match="missing column"):
        read_olist(wrong, OLIST_DEALS)


def test_bank_excerpt_dates_are_monotone_and_start_in_may_2008() -> None:
    output = read_bank(BANK_EXCERPT)
    times = [e.occurred_at_ms for e in sorted(output.events, key=lambda e: e.event_id)]  # row order
    assert times == sorted(times)
    assert times[0] == _ms("2008-05-05T12:00")  # the first Monday of May 2008
    assert len(output.events) == len(output.profiles) == 400


def test_bank_never_uses_duration_and_maps_y_to_won_a_day_later() -> None:
    with gzip.open(BANK_EXCERPT, "rt", encoding="utf-8", newline="") as handle:
        rows = list(csv.DictReader(handle, delimiter=";"))
    output = read_bank(BANK_EXCERPT)
    yes = {f"bank-{number:05d}" for number, row in enumerate(rows, 1) if row["y"] == "yes"}
    assert yes and {c.lead_id for c in output.conversions} == yes
    event_at = {e.lead_id: e.occurred_at_ms for e in output.events}
    assert all(c.outcome is Outcome.WON and c.occurred_at_ms == event_at[c.lead_id] + DAY for c in output.conversions)
    texts = [str(e) for e in output.events] + [str(p) for p in output.profiles]
    assert not any("duration" in text for text in texts)
    assert {e.type for e in output.events} == {"campaign_call"}
    assert {e.properties["pdays"] for e in output.events} == {"never"}  # no earlier campaign in May 2008
    assert set(output.profiles[0].attributes) == {"age_band", *PROFILE_COLUMNS}


def test_bank_writes_profiles_events_and_conversions(tmp_path: Path) -> None:
    written = write_output(read_bank(BANK_EXCERPT), tmp_path)
    assert [path.name for path in written] == ["events.jsonl", "profiles.jsonl", "conversions.jsonl"]
    assert all(len(path.read_text().splitlines()) > 0 for path in written)


def test_date_walk_turns_the_year_when_the_month_goes_back() -> None:
    rows = [("nov", "mon"), ("nov", "fri"), ("nov", "tue"), ("dec", "wed"), ("mar", "mon"), ("mar", "mon")]
    dates = reconstruct_dates(rows, first_year=2009)
    assert dates.days == [
        date(2009, 11, 2),
        date(2009, 11, 6),
        date(2009, 11, 10),
        date(2009, 12, 2),
        date(2010, 3, 1),
        date(2010, 3, 1),
    ]
    assert dates.clamped == 0


def test_date_walk_stays_inside_the_month() -> None:
    rows = [("dec", "mon"), ("dec", "mon")] + [("dec", day) for day in ("fri", "thu") * 5]
    dates = reconstruct_dates(rows, first_year=2008)
    assert all(day.month == 12 for day in dates.days) and dates.clamped > 0
    assert dates.days == sorted(dates.days)


def test_bank_rejects_a_bad_month(tmp_path: Path) -> None:
    text = gzip.decompress(BANK_EXCERPT.read_bytes()).decode().replace('"may"', '"mai"', 1)
    bad = tmp_path / "bank.csv"
    bad.write_text(text)
    with pytest.raises(AdapterInputError, match="month"):
        read_bank(bad)
