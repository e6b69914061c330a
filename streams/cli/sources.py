"""``leadscore sources check``: what each sample record of a declared source becomes, before it is deployed.

Each line of the sample file is one record: the JSON value (a JSON source, a structured CloudEvent), the record
as JSON (an Avro source: with ``--schema`` it is first written and read back with the writer's schema, as the
worker would see it), or an envelope ``{"kafka_headers": {...}, "value": ...}`` for records whose headers matter
(CloudEvents in binary mode). The records go through the worker's own decoding, mapping and input checks.
"""

from __future__ import annotations

import io
import json
from collections import Counter
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import fastavro
import orjson
import typer
from fastavro.types import Schema
from rich.console import Console
from rich.table import Table
from rich.text import Text

from scoring import KNOWN_EVENT_TYPES, LeadEvent, LeadProfile, LeadscoreError, check_event, check_profile, load_models
from streams.analysis.jsontypes import JsonRecord
from streams.cli.common import fail
from streams.errors import SourceMappingError, SourcesError
from streams.kafka.codec import AvroCodec
from streams.kafka.registry import LocalSchemaRegistry
from streams.sources.mapping import Skipped
from streams.sources.source import Source, load_sources

sources_app = typer.Typer(help="Declared input topics: check a sources file on sample records.", no_args_is_help=True)
ENVELOPE_KEYS = ("kafka_headers", "kafka_key")


@dataclass(frozen=True)
class Outcome:
    """What one sample record became: ``event``, ``profile``, ``skipped`` or ``dead letter``, with the details."""

    line: int
    kind: str
    lead_id: str = ""
    what: str = ""  # the event type, or "profile"
    at_ms: int | None = None
    detail: str = ""


@sources_app.command("check")
def check(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="Sources YAML file.")],
    sample: Annotated[Path, typer.Option("--sample", "-s", metavar="FILE", help="Sample records, JSON lines.")],
    source: Annotated[
        str | None, typer.Option("--source", metavar="NAME", help="Which source they belong to (default: the only).")
    ] = None,
    model: Annotated[
        list[Path] | None,
        typer.Option("--model", "-m", metavar="FILE", help="Check event types against this model (repeat)."),
    ] = None,
    schema: Annotated[
        Path | None, typer.Option("--schema", metavar="FILE", help="Avro source: the writer's .avsc.")
    ] = None,
    strict: Annotated[bool, typer.Option("--strict", help="Exit 1 when any record would be dead-lettered.")] = False,
    as_json: Annotated[bool, typer.Option("--json", help="One JSON object per record instead of a table.")] = False,
) -> None:
    """Show what each sample record becomes: an event, a profile, a skip, or the dead letter it would be and why."""
    try:
        chosen = _choose(load_sources(file, AvroCodec(LocalSchemaRegistry())), source, file)
        known = frozenset(KNOWN_EVENT_TYPES) if not model else _event_types(model)
        parsed = None if schema is None else _schema(schema)
        outcomes = [_outcome(n, chosen, line, known, parsed) for n, line in _lines(sample)]
    except LeadscoreError as exc:
        fail(exc)
    if as_json:
        for outcome in outcomes:
            typer.echo(json.dumps(outcome.__dict__, sort_keys=True))
    else:
        _show(chosen, sample, outcomes)
    if strict and any(outcome.kind == "dead letter" for outcome in outcomes):
        raise typer.Exit(1)


def _choose(sources: dict[str, Source], name: str | None, file: Path) -> Source:
    by_name = {source.name: source for source in sources.values()}
    if name is None and len(by_name) == 1:
        name = next(iter(by_name))
    if name is None or name not in by_name:
        names = ", ".join(sorted(by_name))
        raise SourcesError(f"{file}: say which source the sample is for with --source NAME (one of: {names})")
    if by_name[name].mapper is None:
        raise SourcesError(f"{file}: source {name} is in leadscore's own Avro: nothing to map (check its producer)")
    return by_name[name]


def _event_types(paths: list[Path]) -> frozenset[str]:
    types: set[str] = set(KNOWN_EVENT_TYPES)
    for scoring_model in load_models(paths):
        types |= scoring_model.event_types
    return frozenset(types)


def _schema(path: Path) -> Schema:
    try:
        return fastavro.parse_schema(json.loads(path.read_text(encoding="utf-8")))
    except (OSError, ValueError, fastavro.schema.SchemaParseException) as exc:
        raise SourcesError(f"{path}: not a readable Avro schema ({exc})") from None


def _lines(path: Path) -> list[tuple[int, str]]:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise SourcesError(f"{path}: cannot read the sample file ({exc})") from None
    return [(n, line) for n, line in enumerate(text.splitlines(), start=1) if line.strip()]


def _outcome(number: int, source: Source, line: str, known: frozenset[str], schema: Schema | None) -> Outcome:
    try:
        record = orjson.loads(line)
    except orjson.JSONDecodeError:
        return Outcome(number, "unreadable", detail="not a JSON line (the sample file holds one record per line)")
    try:
        mapped = _read(source, record, schema)
        if isinstance(mapped, LeadEvent):
            check_event(mapped, known)
        elif isinstance(mapped, LeadProfile):
            check_profile(mapped)
    except LeadscoreError as exc:
        kind = "" if isinstance(exc, SourceMappingError) else f"{type(exc).__name__}: "
        return Outcome(number, "dead letter", detail=f"{kind}{exc}")
    if isinstance(mapped, Skipped):
        return Outcome(number, "skipped", detail=mapped.reason)
    if isinstance(mapped, LeadEvent):
        props = ", ".join(f"{k}={v}" for k, v in sorted(mapped.properties.items()))
        detail = f"id {mapped.event_id}" + (f"; {props}" if props else "")
        return Outcome(number, "event", mapped.lead_id, mapped.type, mapped.occurred_at_ms, detail)
    fields = {k: v for k, v in asdict(mapped).items() if k not in ("lead_id", "updated_at_ms", "attributes") and v}
    fields.update({f"attributes.{k}": v for k, v in sorted(mapped.attributes.items())})
    detail = ", ".join(f"{k}={v}" for k, v in fields.items())
    return Outcome(number, "profile", mapped.lead_id, "profile", mapped.updated_at_ms, detail)


def _read(source: Source, record: object, schema: Schema | None) -> LeadEvent | LeadProfile | Skipped:
    """The record through the worker's path: bytes and headers for JSON formats, the decoded dict for Avro."""
    headers: list[tuple[str, bytes | None]] = []
    if isinstance(record, dict) and any(key in record for key in ENVELOPE_KEYS):
        headers = [(str(k), str(v).encode()) for k, v in (record.get("kafka_headers") or {}).items()]
        record = record.get("value")
    if source.format == "avro":
        if schema is not None:
            record = _through_avro(record, schema)
        return source.map_record(record)
    value = record.encode() if isinstance(record, str) else orjson.dumps(record)
    return source.read(value, headers)


def _through_avro(record: object, schema: Schema) -> JsonRecord:
    buffer = io.BytesIO()
    try:
        fastavro.schemaless_writer(buffer, schema, record)
    except (ValueError, TypeError, KeyError, AttributeError) as exc:
        raise SourcesError(f"the record does not fit the writer's schema: {exc}"[:300]) from None
    buffer.seek(0)
    decoded: JsonRecord = fastavro.schemaless_reader(buffer, schema, None)  # type: ignore[assignment]
    return decoded


def _show(source: Source, sample: Path, outcomes: list[Outcome]) -> None:
    """One line per record (what it becomes, the lead, the type, the time), its details indented below."""
    console = Console(highlight=False)
    console.print(
        f"[bold]{sample.name}[/bold] through source [bold]{source.name}[/bold] ({source.format}, {source.topic})"
    )
    styles = {"event": "green", "profile": "cyan", "skipped": "dim", "dead letter": "red", "unreadable": "red"}
    grid = Table.grid(padding=(0, 2))
    grid.add_column(justify="right")
    grid.add_column(no_wrap=True)
    grid.add_column(overflow="fold")
    for o in outcomes:
        style = styles.get(o.kind, "")
        at = "" if o.at_ms is None else _utc(o.at_ms)
        content = Text("  ".join(part for part in (o.lead_id, o.what, at) if part))
        if o.detail:
            content.append(("\n" if content else "") + o.detail, style="red" if o.kind == "dead letter" else "dim")
        grid.add_row(str(o.line), Text(o.kind, style=style), content)
    console.print(grid)
    counts = Counter(outcome.kind for outcome in outcomes)
    summary = ", ".join(f"{counts[kind]} {kind}" for kind in styles if counts[kind])
    console.print(f"{len(outcomes)} records: {summary}")


def _utc(at_ms: int) -> str:
    return datetime.fromtimestamp(at_ms / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S.%f")[:-3]
