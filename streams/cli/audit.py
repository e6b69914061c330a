"""``leadscore models history`` and ``leadscore models diff``: what changed in the models, who changed it, when and
why (the audit trail on lead-model-deployments, ADR 018)."""

from __future__ import annotations

import asyncio
import json
import sys
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console
from rich.table import Table

from scoring import LeadscoreError, load_model
from scoring.model.diff import diff_points
from streams.analysis.jsontypes import JsonRecord
from streams.cli.common import Bootstrap
from streams.cli.common import fail as _fail
from streams.kafka.codec import to_millis as _millis

out = Console()


def diff(
    old: Annotated[Path, typer.Argument(help="The model file running now.")],
    new: Annotated[Path, typer.Argument(help="The candidate model file.")],
) -> None:
    """Show what a new model version changes: rules added, removed or re-valued, and level lines; with its
    author, change note and reason."""
    try:
        before, after = load_model(old), load_model(new)
    except LeadscoreError as exc:
        _fail(exc)
    out.print(f"{before.id} v{before.version} -> {after.id} v{after.version}", highlight=False)
    for label, text in (("author", after.author), ("change", after.change_note), ("reason", after.reason)):
        if text:
            out.print(f"  {label}: {text}", highlight=False)
    changes = diff_points(
        {rule.id: rule.points for rule in before.rules},
        {rule.id: rule.points for rule in after.rules},
        {level.name: level.enter for level in before.levels},
        {level.name: level.enter for level in after.levels},
    )
    for change in changes:
        out.print(f"  {change.describe()}", highlight=False)
    if not changes:
        out.print("  no change in points or levels", highlight=False)


def history(
    bootstrap: Bootstrap = None,
    model: Annotated[str | None, typer.Option(help="Only this model id.")] = None,
    as_json: Annotated[bool, typer.Option("--json", help="JSON lines instead of a table.")] = False,
) -> None:
    """List every model version deployed (lead-model-deployments), oldest first, with what changed from the
    version deployed before it in the same application and mode."""
    from streams.analysis.history import read_topics
    from streams.kafka.codec import AvroCodec
    from streams.kafka.topics import schema_registry
    from streams.settings import load_settings

    try:
        settings = load_settings(**({"bootstrap_servers": bootstrap} if bootstrap else {}))
        raw = asyncio.run(read_topics(settings, [settings.topics.model_deployments]))
        codec = AvroCodec(schema_registry(settings))
        records = [codec.decode(value, "ModelDeployed")[1] for _, _, _, _, value in raw if value is not None]
    except LeadscoreError as exc:
        _fail(exc)
    rows = _with_changes(_first_of_each(records), model)
    if as_json:
        for row in rows:
            sys.stdout.write(json.dumps(row, default=str, separators=(",", ":")) + "\n")
        return
    table = Table(title=f"model deployments on {settings.topics.model_deployments}")
    for column in ("deployed at (UTC)", "app", "mode", "model", "author", "change note / reason", "changes"):
        table.add_column(column, overflow="fold")
    for row in rows:
        note = row["change_note"] + (f"\nwhy: {row['reason']}" if row["reason"] else "")
        table.add_row(
            _when(row["deployed_at"]),
            row["app_id"],
            row["mode"],
            f"{row['model_id']} v{row['model_version']}",
            row["author"],
            note,
            "\n".join(row["changes"]) or "(first)",
        )
    out.print(table)


def _first_of_each(records: list[JsonRecord]) -> list[JsonRecord]:
    """One row per deployment, in time order: a record that repeats the deployment running before it in the same
    application and mode (another worker, a restart) is left out; going back to an earlier version is a new row."""
    running: dict[tuple[str, str, str], str] = {}
    rows = []
    for record in sorted(records, key=lambda r: (_millis(r["deployed_at"]), r["deployment_id"])):
        key = (record["app_id"], record["mode"], record["model_id"])
        if running.get(key) != record["deployment_id"]:
            rows.append(record)
        running[key] = record["deployment_id"]
    return rows


def _with_changes(records: list[JsonRecord], model: str | None) -> list[JsonRecord]:
    previous: dict[tuple[str, str, str], JsonRecord] = {}
    rows = []
    for record in records:
        key = (record["app_id"], record["mode"], record["model_id"])
        before = previous.get(key)
        changes = (
            [c.describe() for c in diff_points(before["rules"], record["rules"], before["levels"], record["levels"])]
            if before
            else []
        )
        previous[key] = record
        if model is None or record["model_id"] == model:
            rows.append({**record, "changes": changes})
    return rows


def _when(value: datetime | int) -> str:
    return datetime.fromtimestamp(_millis(value) / 1000, UTC).strftime("%Y-%m-%d %H:%M:%S")
