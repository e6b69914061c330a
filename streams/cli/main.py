"""``leadscore``: the command line. Every command has ``--help``; bad input gives a one-line error, not a trace."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.progress import track

from scoring import LeadscoreError, load_model
from streams.cli.audit import diff as models_diff
from streams.cli.audit import history as models_history
from streams.cli.common import Bootstrap, OptionError, date_option, err, settings_from_options
from streams.cli.common import fail as _fail
from streams.cli.data import data_app
from streams.cli.evaluate import evaluate
from streams.cli.fit import fit
from streams.cli.models import models_app
from streams.cli.options import At, Models, Profiles, SkipInvalid
from streams.cli.sources import sources_app

if TYPE_CHECKING:
    from scoring import Engine, LeadEvent, LeadProfile
    from streams.analysis.offline import OfflineRun


class DemoSource(StrEnum):
    """What the demo's generator writes and the worker reads."""

    native = "native"
    segment = "segment"


app = typer.Typer(help="Real-time lead scoring on the event bus.", no_args_is_help=True, pretty_exceptions_enable=False)
topics_app = typer.Typer(help="Manage leadscore's Kafka topics.", no_args_is_help=True)
app.add_typer(topics_app, name="topics")


@app.command()
def worker(bootstrap: Bootstrap = None) -> None:
    """Run a scoring worker (Faust) until Ctrl-C. Configured by LEADSCORE_* environment variables."""
    from streams.worker.run import run_worker

    try:
        settings = settings_from_options(bootstrap_servers=bootstrap)
        run_worker(settings)
    except LeadscoreError as exc:
        _fail(exc)


@topics_app.command("create")
def topics_create(
    bootstrap: Bootstrap = None,
    timeout: Annotated[float, typer.Option(min=1, help="Seconds to wait for the cluster.")] = 30.0,
) -> None:
    """Create every leadscore topic that is missing, with its partitions and configs (and the declared sources'
    topics of LEADSCORE_SOURCES_PATH, when missing)."""
    from streams.kafka.topics import create_topics
    from streams.sources.source import declared_topics

    try:
        settings = settings_from_options(bootstrap_servers=bootstrap)
        sources = declared_topics(settings.sources_path)
        created, existing = create_topics(settings, timeout_s=timeout, sources=sources)
    except LeadscoreError as exc:
        _fail(exc)
    for name in created:
        typer.echo(f"created  {name}")
    for name in existing:
        typer.echo(f"exists   {name}")


@app.command("validate-model")
def validate_model(paths: Annotated[list[Path], typer.Argument(help="Model YAML files.")]) -> None:
    """Check model files; exit non-zero at the first invalid one, naming the file, rule and field."""
    for path in paths:
        try:
            model = load_model(path)
        except LeadscoreError as exc:
            _fail(exc)
        levels = ", ".join(f"{level.name}>={level.enter:g}" for level in model.levels) or "no levels"
        typer.echo(f"ok  {path}: {model.id} v{model.version}, {len(model.rules)} rules, {levels}")


@app.command()
def score(
    model: Models,
    events: Annotated[
        Path, typer.Option("--events", "-e", metavar="FILE", help="LeadEvent JSON lines (as `generate` writes).")
    ],
    profiles: Profiles = None,
    at: At = None,
    top: Annotated[int, typer.Option(min=0, help="Top contributors to list per lead.")] = 5,
    skip_invalid: SkipInvalid = False,
    path_to: Annotated[
        str | None,
        typer.Option(
            "--path-to", metavar="LEVEL", help="Add each lead's path into this level (e.g. MQL): the fewest actions."
        ),
    ] = None,
    accounts: Annotated[
        bool, typer.Option("--accounts", help="Print the accounts' scores instead (models with an account: section).")
    ] = False,
) -> None:
    """Score a file of events offline (same engine, no broker): final scores, levels and top contributors per
    lead as JSON lines. Try a model on history before you deploy it. With --path-to, each row also says which
    actions would take the lead into that level now (a "path": status, actions, score after). With --accounts,
    one line per account and account model instead: the members' engagement rolled up in event time (score,
    fit, levels, buying-group coverage, top members, level crossings)."""
    from scoring import Engine, load_models
    from streams.analysis.offline import (
        OfflineRun,
        event_from_json,
        profile_from_json,
        read_jsonl,
        result_rows,
        score_history,
    )

    try:
        engine = Engine(load_models(model))
        run = OfflineRun()
        profile_rows = read_jsonl(profiles, profile_from_json, run, skip_invalid) if profiles else ()
        event_rows: Iterable[LeadEvent] = read_jsonl(events, event_from_json, run, skip_invalid)
        if err.is_terminal:
            event_rows = track(event_rows, description="scoring", console=err, total=None)
        at_ms = date_option("--at", at)
        if accounts:
            _score_accounts(engine, event_rows, profile_rows, run, skip_invalid, at_ms, top, path_to)
            return
        score_history(engine, event_rows, profile_rows, run, skip_invalid)
        out = sys.stdout
        for row in result_rows(engine, run, at_ms, top, path_to):
            out.write(json.dumps(row, separators=(",", ":")) + "\n")
    except LeadscoreError as exc:
        _fail(exc)
    note = f"scored {run.events} events and {run.profiles} profiles of {len(run.states)} leads"
    if run.skipped:
        note += f"; skipped {len(run.skipped)} invalid (first: {run.skipped[0]})"
    err.print(note, highlight=False, soft_wrap=True)


def _score_accounts(
    engine: Engine,
    events: Iterable[LeadEvent],
    profiles: Iterable[LeadProfile],
    run: OfflineRun,
    skip_invalid: bool,
    at_ms: int | None,
    top: int,
    path_to: str | None,
) -> None:
    """``score --accounts``: one JSON line per account and account model, then a note on stderr."""
    from streams.analysis.accounts import leads_without_account, score_accounts

    if path_to is not None:
        raise OptionError("--path-to is a lead's path: leave it out with --accounts")
    rows, rolled, account_engine = score_accounts(engine, events, profiles, run, skip_invalid, at_ms, top)
    out = sys.stdout
    for row in rows:
        out.write(json.dumps(row, separators=(",", ":")) + "\n")
    note = (
        f"scored {rolled.events} events and {rolled.profiles} profiles of {len(rolled.leads)} leads into"
        f" {len(rolled.accounts)} accounts ({leads_without_account(account_engine, rolled)} leads in no account)"
    )
    if run.skipped:
        note += f"; skipped {len(run.skipped)} invalid (first: {run.skipped[0]})"
    err.print(note, highlight=False, soft_wrap=True)


@app.command()
def generate(
    leads: Annotated[int, typer.Option(min=1, help="Number of distinct leads.")] = 1000,
    events: Annotated[int, typer.Option(min=0, help="Number of events to make.")] = 10000,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same events.")] = 0,
    start: Annotated[
        datetime | None, typer.Option(help="Event time of the first event (UTC); default 2026-01-05T09:00.")
    ] = None,
    bootstrap: Bootstrap = None,
    profiles_out: Annotated[
        Path | None, typer.Option(help="Also write each lead's LeadProfile as JSON lines to this file.")
    ] = None,
) -> None:
    """Make synthetic lead journeys: JSON lines on stdout, or produced to the broker with --bootstrap."""
    from streams.datasets.synthetic import DEFAULT_START_MS, JourneyGenerator

    start_ms = int(start.replace(tzinfo=start.tzinfo or UTC).timestamp() * 1000) if start else DEFAULT_START_MS
    generator = JourneyGenerator(leads, seed=seed, start_ms=start_ms)
    journeys = generator.events(events)
    if profiles_out is not None:
        from streams.kafka.codec import profile_to_record

        seen: set[str] = set()
        journeys = _remember_leads(journeys, seen)
    if bootstrap is None:
        from streams.kafka.codec import event_to_record

        out = sys.stdout
        for event in journeys:
            out.write(json.dumps(event_to_record(event), separators=(",", ":")) + "\n")
        if profiles_out is not None:
            with profiles_out.open("w", encoding="utf-8") as handle:
                for lead_id in sorted(seen):
                    record = profile_to_record(generator.profile(lead_id))
                    handle.write(json.dumps(record, separators=(",", ":")) + "\n")
        return
    try:
        settings = settings_from_options(bootstrap_servers=bootstrap)
        from streams.kafka.access import check_access
        from streams.kafka.clients import EventProducer
        from streams.kafka.codec import AvroCodec
        from streams.kafka.registry import LocalSchemaRegistry
        from streams.kafka.security import kafka_python_config

        check_access(settings)
        producer = EventProducer(
            bootstrap, AvroCodec(LocalSchemaRegistry()), settings.topics.events, **kafka_python_config(settings)
        )
        for event in track(journeys, total=events, description="producing", console=err):
            producer.send(event)
        producer.flush()
        producer.close()
    except LeadscoreError as exc:
        _fail(exc)
    err.print(f"produced {events} events over {leads} leads to {settings.topics.events} on {bootstrap}")


@app.command()
def demo(
    duration: Annotated[
        float | None,
        typer.Option(help="Run this many seconds, print a summary and exit (default: until Ctrl-C)."),
    ] = None,
    leads: Annotated[int, typer.Option(min=1, help="Number of synthetic leads.")] = 200,
    rate: Annotated[float, typer.Option(min=1, help="Events per second from the generator.")] = 100.0,
    seed: Annotated[int, typer.Option(help="Random seed of the generator.")] = 7,
    source: Annotated[
        DemoSource,
        typer.Option(help="native: Avro on lead-events; segment: Segment JSON on a declared source topic."),
    ] = DemoSource.native,
) -> None:
    """Start the embedded broker, a worker and the generator, and show leads being scored live."""
    from streams.cli.demo import run_demo

    try:
        summary = run_demo(duration=duration, leads=leads, rate=rate, seed=seed, source=source.value)
    except LeadscoreError as exc:
        _fail(exc)
    if duration is not None and (summary.events_produced == 0 or summary.score_changes == 0):
        _fail(RuntimeError("the demo produced no scores: see the worker log named above"))


@app.command()
def broker(port: Annotated[int, typer.Option(help="Port on 127.0.0.1 (0: any free port).")] = 9092) -> None:
    """Run the embedded Tansu broker (in memory) until Ctrl-C, for local development."""
    from streams.devtools.broker import EmbeddedBroker

    try:
        with EmbeddedBroker(port=port or None) as running:
            err.print(f"broker listening on {running.bootstrap} (in memory); Ctrl-C stops it")
            import signal

            signal.pause()
    except KeyboardInterrupt:
        pass
    except LeadscoreError as exc:
        _fail(exc)


def _remember_leads(events: Iterable[LeadEvent], seen: set[str]) -> Iterator[LeadEvent]:
    for event in events:
        seen.add(event.lead_id)
        yield event


app.add_typer(data_app, name="data")
app.add_typer(models_app, name="models")
app.add_typer(sources_app, name="sources")
models_app.command("history")(models_history)
models_app.command("diff")(models_diff)
app.command()(fit)
app.command()(evaluate)


def main() -> None:
    app()
