"""``leadscore data``: public lead tables turned into replayable histories, and histories produced to the broker.

For example ``leadscore data olist --out runs/olist --lost-after 165d``, then
``leadscore data replay runs/olist --bootstrap 127.0.0.1:9092`` (``leadscore data bank PATH --out DIR`` likewise).
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

import streams
from scoring import LeadscoreError
from streams.cli.common import Bootstrap, duration_option, err, settings_from_options
from streams.cli.common import fail as _fail
from streams.datasets.adapter import AdapterOutput, write_output

data_app = typer.Typer(help="Public lead data: adapters to JSON lines, and replay to the broker.", no_args_is_help=True)

#: The vendored Olist tables (a verbatim copy, see data/olist/SOURCES.md), next to the package in a checkout.
OLIST_DIR = Path(streams.__file__).resolve().parent.parent / "data" / "olist"
OLIST_MQLS = OLIST_DIR / "olist_marketing_qualified_leads_dataset.csv.gz"
OLIST_DEALS = OLIST_DIR / "olist_closed_deals_dataset.csv.gz"
#: The vendored UCI bank marketing table (a verbatim copy, see data/bank/SOURCES.md).
BANK_DIR = OLIST_DIR.parent / "bank"
BANK_FULL = BANK_DIR / "bank-additional-full.csv.gz"

Out = Annotated[
    Path, typer.Option("--out", "-o", help="Directory for events.jsonl, profiles.jsonl, conversions.jsonl.")
]


def _report(output: AdapterOutput, out: Path) -> None:
    summary = output.summary()
    typer.echo(f"wrote {out}")
    for name in ("events", "profiles", "conversions", "won", "lost", "leads", "first", "last"):
        typer.echo(f"  {name:<12} {summary[name]}")
    for note in output.notes:
        typer.echo(f"  note: {note}")


@data_app.command()
def olist(
    out: Out,
    mqls: Annotated[Path, typer.Option(help="olist_marketing_qualified_leads_dataset.csv (or .csv.gz).")] = OLIST_MQLS,
    deals: Annotated[Path, typer.Option(help="olist_closed_deals_dataset.csv (or .csv.gz).")] = OLIST_DEALS,
    lost_after: Annotated[
        str | None,
        typer.Option(help="Also write a LOST conversion this long after first contact (e.g. 165d) for MQLs not won."),
    ] = None,
) -> None:
    """Olist marketing funnel: one form_fill per MQL (origin, landing page) and a WON conversion per closed deal.
    Deal attributes are outcomes and are left out. Defaults to the copy vendored in data/olist/."""
    from streams.datasets.olist import read_olist

    try:
        lost_ms = duration_option("--lost-after", lost_after) if lost_after is not None else None
        output = read_olist(mqls, deals, lost_ms)
        write_output(output, out)
    except LeadscoreError as exc:
        _fail(exc)
    _report(output, out)


@data_app.command()
def bank(
    out: Out,
    path: Annotated[Path, typer.Argument(help="bank-additional-full.csv (';'-separated, or .csv.gz).")] = BANK_FULL,
) -> None:
    """UCI bank marketing: a profile, a campaign_call event and (y = yes) a WON conversion per contact; dates
    rebuilt from month and weekday (May 2008 .. Nov 2010). The call duration is never used: it leaks the label.
    Defaults to the copy vendored in data/bank/."""
    from streams.datasets.bank import read_bank

    try:
        output = read_bank(path)
        write_output(output, out)
    except LeadscoreError as exc:
        _fail(exc)
    _report(output, out)


@data_app.command("replay")
def replay_command(
    directory: Annotated[Path, typer.Argument(help="Directory with events.jsonl (profiles.jsonl, conversions.jsonl).")],
    bootstrap: Bootstrap = None,
    speed: Annotated[float, typer.Option(min=0, help="0: as fast as possible; N: N x real time, gaps capped.")] = 0.0,
    max_gap: Annotated[str, typer.Option(help="Longest wall-clock wait between two records when --speed > 0.")] = "1s",
    limit: Annotated[int | None, typer.Option(min=1, help="Send only the first N records (in time order).")] = None,
    timeout: Annotated[
        float, typer.Option(min=1, help="Seconds to wait for the cluster or a topic's metadata.")
    ] = 10.0,
) -> None:
    """Produce a history directory to the input topics (profiles, events, conversions), merged in event-time
    order, Avro-encoded, keyed by lead id. Topics come from LEADSCORE_TOPIC_* (create them with `topics create`)."""
    from streams.analysis.replay import InputProducer, load_directory, merged, replay

    try:
        max_gap_ms = duration_option("--max-gap", max_gap)
        records = merged(load_directory(directory), limit)
        settings = settings_from_options(bootstrap_servers=bootstrap)
        producer = InputProducer(settings, timeout)
        columns = (TextColumn("replaying"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn())
        try:
            with Progress(*columns, console=err, disable=not err.is_terminal) as bar:
                task = bar.add_task("replay", total=len(records))
                counts = replay(producer, records, speed, max_gap_ms, lambda sent: bar.update(task, completed=sent))
        finally:
            producer.close()
    except LeadscoreError as exc:
        _fail(exc)
    topics = settings.topics
    typer.echo(
        f"produced {counts.events} events to {topics.events}, {counts.profiles} profiles to {topics.profiles}, "
        f"{counts.conversions} conversions to {topics.conversions} on {settings.bootstrap_servers}"
    )
