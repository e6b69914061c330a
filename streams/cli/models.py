"""``leadscore models``: rescoring history under new model files, and the shadow comparison report."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Annotated

import typer
from rich.console import Console

from scoring import LeadscoreError

if TYPE_CHECKING:
    from scoring.evaluation.comparison import Comparison
    from streams.analysis.history import History
    from streams.analysis.rescore import Crossings, Rescore
    from streams.kafka.codec import AvroCodec
    from streams.settings import Settings

models_app = typer.Typer(
    help="Model lifecycle: rescore every lead under new models by replaying history; compare shadow with live.",
    no_args_is_help=True,
)
from streams.cli.common import Bootstrap, err  # noqa: E402
from streams.cli.common import fail as _fail  # noqa: E402
from streams.cli.common import millis as _millis  # noqa: E402
from streams.cli.common import progress_bar as _bar  # noqa: E402


def _write_json(path: Path, data: object) -> None:
    try:
        path.write_text(json.dumps(data, indent=2, sort_keys=True) + "\n", encoding="utf-8")
    except OSError as exc:
        raise LeadscoreError(f"{path}: cannot write ({exc.strerror})") from None


@models_app.command("rescore")
def rescore(
    model: Annotated[list[Path], typer.Option("--model", "-m", help="New model YAML file (repeat for several).")],
    events: Annotated[
        Path | None, typer.Option("--events", "-e", help="History from LeadEvent JSON lines instead of the topics.")
    ] = None,
    profiles: Annotated[Path | None, typer.Option("--profiles", "-p", help="LeadProfile JSON lines.")] = None,
    bootstrap: Bootstrap = None,
    at: Annotated[
        datetime | None, typer.Option(help="Value scores at this time (UTC); default: the latest time in the history.")
    ] = None,
    out: Annotated[
        Path | None, typer.Option(help="Write one JSON line per lead and model (as `score` prints).")
    ] = None,
    report: Annotated[Path | None, typer.Option(help="Write the comparison with the live scores as JSON.")] = None,
    publish: Annotated[
        str | None, typer.Option(help="Write one LeadScore per lead to this topic (e.g. a staging topic).")
    ] = None,
    publish_live: Annotated[
        bool,
        typer.Option("--publish-live", help="Allow (and, without --publish, do) writing to the LIVE scores topic."),
    ] = False,
    emit_crossings: Annotated[
        bool,
        typer.Option(
            "--emit-crossings", help="Send ThresholdCrossed to the LIVE thresholds topic for every level change."
        ),
    ] = False,
    compare_live: Annotated[
        bool,
        typer.Option("--compare/--no-compare", help="Print the comparison with the live scores (needs --bootstrap)."),
    ] = True,
    top: Annotated[int, typer.Option(min=0, help="Top contributors per lead in --out.")] = 5,
    skip_invalid: Annotated[
        bool, typer.Option("--skip-invalid", help="Count and skip invalid input lines instead of stopping.")
    ] = False,
) -> None:
    """Recompute every lead's score under new model(s) by replaying history with the worker's engine: from
    --events/--profiles files, or from the beginning of the input topics (--bootstrap alone). With --bootstrap the
    result is compared with the live scores (lead-scores): level changes, score deltas, top movers.

    NOTHING IS SENT TO LIVE TOPICS UNLESS ASKED: --publish TOPIC writes LeadScore records to a topic of your choice
    (the live scores topic only with --publish-live), and crossings go to the live thresholds topic only with
    --emit-crossings (otherwise the command says how many it would send). Leads erased on request stay erased."""
    from scoring import Engine, load_models
    from streams.analysis import rescore as rs
    from streams.analysis.livescores import LatestScores, erased_leads, latest_scores, produce
    from streams.analysis.offline import result_rows
    from streams.analysis.tables import print_rescore

    try:
        if events is None and bootstrap is None:
            raise rs.RescoreError("give the history: --events FILE (and --profiles), or --bootstrap to read the topics")
        if bootstrap is None and (emit_crossings or publish or publish_live):
            raise rs.RescoreError("--publish, --publish-live and --emit-crossings need --bootstrap")
        engine = Engine(load_models(model))
        settings: Settings | None = None
        codec: AvroCodec | None = None
        live = LatestScores()
        if bootstrap is not None:
            settings, codec = _broker(bootstrap)
            publish = _publish_topic(settings, publish, publish_live)
        history = _history(settings, events, profiles, skip_invalid)
        if settings is not None and codec is not None:  # always: the tombstones say which leads were erased
            with _bar(f"reading {settings.topics.scores}") as update:
                live = latest_scores(settings, settings.topics.scores, codec, update)
        with _bar("replaying") as update:
            result = rs.replay(engine, history, _millis(at), skip_invalid or events is None, update)
        erased = live.erased | (erased_leads(settings, codec) if settings is not None and codec is not None else set())
        rs.forget_erased(result, erased)
        if out is not None:
            with out.open("w", encoding="utf-8") as handle:
                for row in result_rows(engine, result.run, result.at_ms, top):
                    handle.write(json.dumps(row, separators=(",", ":")) + "\n")
        _note(result, history_source=str(events) if events else "the input topics")
        console = Console()
        comparisons = rs.compare_with_live(result, live) if settings is not None and compare_live else {}
        for model_id, comparison in comparisons.items():
            versions = live.models[model_id].versions if model_id in live.models else set()
            label = "v" + ",".join(map(str, sorted(versions))) if versions else "no live scores"
            print_rescore(console, model_id, label, comparison)
        crossings = rs.crossings_against_live(result, live) if settings is not None else None
        if report is not None:
            _write_json(report, _rescore_json(result, comparisons, crossings, emit_crossings))
        if settings is not None and codec is not None and crossings is not None:
            if emit_crossings:
                sent = produce(settings, settings.topics.thresholds, rs.crossing_records(crossings.crossings, codec))
                err.print(f"sent {sent} crossings to {settings.topics.thresholds}", highlight=False)
            else:
                err.print(
                    f"would send {len(crossings.crossings)} crossings (none sent; --emit-crossings sends them)",
                    highlight=False,
                )
            if crossings.unknown_levels:
                err.print(f"live levels the new models do not define (no crossing): {crossings.unknown_levels}")
        if settings is not None and codec is not None and publish is not None:  # codec: set with settings
            with _bar(f"publishing to {publish}"):
                sent = produce(settings, publish, rs.score_records(result, codec))
            err.print(f"published {sent} LeadScore records to {publish}", highlight=False)
    except LeadscoreError as exc:
        _fail(exc)


def _broker(bootstrap: str | None) -> tuple[Settings, AvroCodec]:
    """Settings (LEADSCORE_* environment, --bootstrap overriding) and the codec of their schema registry."""
    from streams.kafka.codec import AvroCodec
    from streams.kafka.topics import schema_registry
    from streams.settings import load_settings

    settings = load_settings(**({"bootstrap_servers": bootstrap} if bootstrap else {}))
    return settings, AvroCodec(schema_registry(settings))


def _publish_topic(settings: Settings, publish: str | None, publish_live: bool) -> str | None:
    from streams.analysis.rescore import RescoreError

    names = settings.topics
    if publish is None:
        return names.scores if publish_live else None
    if publish == names.scores and not publish_live:
        raise RescoreError(f"{publish} is the LIVE scores topic: add --publish-live to overwrite live scores")
    others = {name for field, name in names.model_dump().items() if field not in ("scores", "shadow_scores")}
    if publish in others:
        raise RescoreError(f"{publish} is a leadscore topic of another record type; publish to a LeadScore topic")
    return publish


def _history(settings: Settings | None, events: Path | None, profiles: Path | None, skip_invalid: bool) -> History:
    from streams.analysis.history import history_from_files, read_history

    if events is not None:
        with _bar("reading files"):
            return history_from_files(events, profiles, None, skip_invalid)
    assert settings is not None, "rescore reads the topics only with --bootstrap"  # checked before it gets here
    with _bar("reading input topics") as update:
        return read_history(settings, update, conversions=False)  # rescoring replays events and profiles only


def _note(result: Rescore, history_source: str) -> None:
    run = result.run
    note = f"rescored {len(run.states)} leads from {run.events} events and {run.profiles} profiles of {history_source}"
    note += f", valued at {datetime.fromtimestamp(result.at_ms / 1000, UTC):%Y-%m-%dT%H:%M:%SZ}"
    if result.after_at:
        note += f"; left out {result.after_at} records after that time"
    if result.erased:
        note += f"; left out {len(result.erased)} erased leads"
    if run.skipped:
        note += f"; skipped {len(run.skipped)} invalid (first: {run.skipped[0]})"
    err.print(note, highlight=False, soft_wrap=True)


def _rescore_json(
    result: Rescore, comparisons: dict[str, Comparison], crossings: Crossings | None, emitted: bool
) -> dict[str, object]:
    return {
        "at": result.at_ms,
        "leads_rescored": len(result.run.states),
        "events": result.run.events,
        "profiles": result.run.profiles,
        "records_after_at": result.after_at,
        "erased_leads_left_out": len(result.erased),
        "skipped": len(result.run.skipped),
        "models": {
            model.id: {
                "version": model.version,
                **(comparisons[model.id].to_dict() if model.id in comparisons else {}),
                "crossings": None
                if crossings is None
                else sum(1 for crossing in crossings.crossings if crossing.model_id == model.id),
            }
            for model in result.engine.models
        },
        "crossings_sent": emitted and crossings is not None,
        "unknown_live_levels": None if crossings is None else crossings.unknown_levels,
    }


@models_app.command("compare")
def compare(
    bootstrap: Bootstrap = None,
    live_model: Annotated[str | None, typer.Option(help="Live model id (when the shadow's id differs).")] = None,
    shadow_model: Annotated[str | None, typer.Option(help="Shadow model id to compare with --live-model.")] = None,
    conversions_window: Annotated[
        str | None,
        typer.Option(help="Count only WON conversions within this duration (e.g. 165d) before the newest one."),
    ] = None,
    report: Annotated[Path | None, typer.Option(help="Write the report as JSON.")] = None,
    top: Annotated[int, typer.Option(min=0, help="Leads to list by |score difference|.")] = 10,
) -> None:
    """The shadow comparison: the latest live score of each lead (lead-scores) against the shadow worker's
    (lead-shadow-scores), per model: leads in both, level agreement, would-be crossings, score deltas, Spearman
    rank correlation and, when lead-conversions has WON outcomes, a quick ROC AUC of the CURRENT scores (a quick
    signal: `leadscore evaluate` is the rigorous one). Reads only; sends nothing."""
    from scoring.durations import parse_duration
    from streams.analysis.livescores import latest_scores, won_conversions
    from streams.analysis.shadow import converted_leads, model_pairs, shadow_report
    from streams.analysis.tables import print_shadow

    try:
        try:
            window_ms = parse_duration(conversions_window) if conversions_window else None
        except ValueError as exc:
            raise LeadscoreError(f"--conversions-window {conversions_window!r}: {exc}") from None
        settings, codec = _broker(bootstrap)
        names = settings.topics
        with _bar(f"reading {names.scores}") as update:
            live = latest_scores(settings, names.scores, codec, update)
        with _bar(f"reading {names.shadow_scores}") as update:
            shadow = latest_scores(settings, names.shadow_scores, codec, update)
        pairs = model_pairs(live, shadow, live_model, shadow_model)
        with _bar(f"reading {names.conversions}") as update:
            converted = converted_leads(won_conversions(settings, codec, update), window_ms)
        reports = shadow_report(live, shadow, pairs, converted, top)
    except LeadscoreError as exc:
        _fail(exc)
    console = Console()
    for pair in reports:
        print_shadow(console, pair)
    if not converted:
        err.print(f"no WON conversions on {names.conversions}: no quick AUC", highlight=False)
    if report is not None:
        data = {"converted_leads": len(converted), "pairs": [pair.to_dict() for pair in reports]}
        try:
            _write_json(report, data)
        except LeadscoreError as exc:
            _fail(exc)
