"""``leadscore demo``: embedded broker + worker + generator, with a live terminal view of the top leads."""

from __future__ import annotations

import contextlib
import signal
import subprocess
import tempfile
import threading
import time
from collections import deque
from dataclasses import dataclass, field
from pathlib import Path

import orjson
from rich.console import Console, Group
from rich.live import Live
from rich.panel import Panel
from rich.table import Table

from scoring import LeadEvent, LeadscoreError
from streams.analysis.jsontypes import JsonRecord
from streams.datasets.segment import identify_call, track_call
from streams.datasets.synthetic import JourneyGenerator
from streams.devtools.broker import EmbeddedBroker
from streams.devtools.processes import spawn_worker, stop_process
from streams.errors import WorkerExitedError
from streams.kafka.clients import EventProducer, OutputReader
from streams.kafka.codec import AvroCodec
from streams.kafka.registry import LocalSchemaRegistry
from streams.settings import Settings

DRAIN_QUIET_S = 3.0  # after the generator stops, wait until outputs have been quiet this long
DRAIN_MAX_S = 30.0
MALFORMED_EVERY = 250  # the generator slips in one malformed message per this many events, to show the DLQ
MALFORMED_AVRO = b'{"lead_id": "json, not Avro"}'
MALFORMED_SEGMENT = b'{"type": "track", "event": "Demo Requested", "userId": "lead-x"}'  # no messageId, no time
SEGMENT_SOURCES = Path(__file__).parents[1] / "sources" / "examples" / "segment.yaml"
SEGMENT_TOPIC = "segment-events"  # the topic segment.yaml declares


@dataclass
class LeadRow:
    score: float = 0.0
    fit: float = 0.0
    grade: str = "-"
    level: str | None = None
    changes: int = 0


@dataclass
class AccountRow:
    score: float = 0.0
    level: str | None = None
    coverage: tuple[str, ...] = ()
    missing: tuple[str, ...] = ()
    members: int = 0


@dataclass
class Summary:
    events_produced: int = 0
    score_changes: int = 0
    crossings: int = 0
    dead_letters: int = 0
    leads: dict[str, LeadRow] = field(default_factory=dict)
    accounts: dict[str, AccountRow] = field(default_factory=dict)  # from account-scores (ADR 043)
    recent_crossings: deque[str] = field(default_factory=lambda: deque(maxlen=8))

    def record(self, topic: str, value: JsonRecord, settings: Settings, journeys: JourneyGenerator) -> None:
        if topic == settings.topics.score_changes:
            self.score_changes += 1
            row = self.leads.setdefault(value["lead_id"], LeadRow())
            row.score, row.fit, row.grade = value["score"], value["fit"], value["grade"]
            row.level, row.changes = value["level"], row.changes + 1
        elif topic == settings.topics.account_scores:
            for model in value["models"][:1]:  # the demo runs one model (b2b)
                levels = model["levels"]
                self.accounts[value["account_id"]] = AccountRow(
                    model["score"],
                    levels[-1] if levels else None,
                    tuple(model["coverage"]),
                    tuple(model["missing_roles"]),
                    model["member_count"],
                )
        elif topic == settings.topics.dead_letters:
            self.dead_letters += 1
        elif topic == settings.topics.account_thresholds:
            self.crossings += 1
            arrow = "↑" if value["direction"] == "UP" else "↓"
            self.recent_crossings.appendleft(
                f"{arrow} [bold]{value['account_id']}[/] (account) {value['direction'].lower()} {value['level']}"
                f" at {value['score']:.0f}"
            )
        elif topic == settings.topics.thresholds:
            self.crossings += 1
            arrow = "↑" if value["direction"] == "UP" else "↓"
            lead_id = value["lead_id"]
            self.recent_crossings.appendleft(
                f"{arrow} {lead_id} ({journeys.persona_of(lead_id)}) {value['direction'].lower()} {value['level']}"
                f" at {value['score']:.0f}"
            )


class _Generator(threading.Thread):
    """Produces synthetic events at ``rate`` per second, event time = wall time, until stopped. Each lead's
    profile goes to the profiles topic just before its first event. With ``segment_topic``, events and profiles go
    there instead, as Segment track and identify calls in JSON (the worker maps them with segment.yaml)."""

    def __init__(
        self,
        producer: EventProducer,
        journeys: JourneyGenerator,
        rate: float,
        profiles_topic: str,
        segment_topic: str | None = None,
    ) -> None:
        super().__init__(name="generator", daemon=True)
        self.producer, self.journeys, self.rate = producer, journeys, rate
        self.profiles_topic = profiles_topic
        self.segment_topic = segment_topic
        self.profiled: set[str] = set()
        self.produced = 0
        self.stop_event = threading.Event()

    def run(self) -> None:
        started = time.monotonic()
        for event in self.journeys.events(10**12):
            if self.stop_event.is_set():
                break
            self._send(event)
            self.produced += 1
            if self.produced % MALFORMED_EVERY == 0:
                bad = (
                    b'{"type": "track", "event": "Demo Requested"}' if self.segment_topic else b'{"lead_id": "no Avro"}'
                )
                self.producer.send_raw(event.lead_id.encode(), bad, self.segment_topic)
            ahead = self.produced / self.rate - (time.monotonic() - started)
            if ahead > 0:
                self.stop_event.wait(ahead)
        with contextlib.suppress(LeadscoreError):
            self.producer.flush(timeout_s=10.0)

    def _send(self, event: LeadEvent) -> None:
        first = event.lead_id not in self.profiled
        self.profiled.add(event.lead_id)
        if self.segment_topic is None:
            if first:
                self.producer.send_profile(self.journeys.profile(event.lead_id), self.profiles_topic)
            self.producer.send(event)
            return
        key = event.lead_id.encode()
        if first:
            identify = identify_call(self.journeys.profile(event.lead_id), f"identify-{event.lead_id}")
            self.producer.send_raw(key, orjson.dumps(identify), self.segment_topic)
        self.producer.send_raw(key, orjson.dumps(track_call(event)), self.segment_topic)


#: Console columns from which the accounts sit beside the leads (below them on a narrower terminal)
SIDE_BY_SIDE_COLUMNS = 150


def _view(
    summary: Summary, journeys: JourneyGenerator, elapsed: float, log: Path, web_port: int, width: int = 80
) -> Group:
    table = Table(title="Top leads (model b2b)", expand=True)
    columns = ("lead", "persona", "score", "fit", "grade", "level", "changes")
    for column in columns:
        table.add_column(column, justify="right" if column in ("score", "fit", "changes") else "left")
    top = sorted(summary.leads.items(), key=lambda item: -item[1].score)[:10]
    for lead_id, row in top:
        style = {"SQL": "bold green", "MQL": "green"}.get(row.level or "", "")
        cells = (
            lead_id,
            journeys.persona_of(lead_id),
            f"{row.score:.0f}",
            f"{row.fit:.0f}",
            row.grade,
            row.level or "-",
            str(row.changes),
        )
        table.add_row(*cells, style=style)
    personas = Table(title="By persona", expand=True)
    wide = width >= SIDE_BY_SIDE_COLUMNS
    accounts = _accounts(summary, 10 if wide else 5)
    for column in ("persona", "leads", "mean score", "mean fit", "MQL or above"):
        personas.add_column(column, justify="left" if column == "persona" else "right")
    groups: dict[str, list[LeadRow]] = {}
    for lead_id, row in summary.leads.items():
        groups.setdefault(journeys.persona_of(lead_id), []).append(row)
    for persona, rows in sorted(groups.items(), key=lambda item: -sum(r.score for r in item[1]) / len(item[1])):
        qualified = sum(1 for r in rows if r.level)
        personas.add_row(
            persona,
            str(len(rows)),
            f"{sum(r.score for r in rows) / len(rows):.1f}",
            f"{sum(r.fit for r in rows) / len(rows):.1f}",
            str(qualified),
        )
    header = (
        f"[bold]leadscore demo[/]  {elapsed:5.1f} s   events produced [cyan]{summary.events_produced}[/]"
        f"   score changes [cyan]{summary.score_changes}[/]   crossings [cyan]{summary.crossings}[/]"
        f"   leads scored [cyan]{len(summary.leads)}[/]"
        f"   dead letters [yellow]{summary.dead_letters}[/]"
    )
    crossings = "\n".join(summary.recent_crossings) or "waiting for the first lead to cross a level..."
    page = f"http://127.0.0.1:{web_port}/ui/leads/{top[0][0]}" if top else "waiting for the first lead"
    footer = f"[dim]lead page of the top lead: {page}   worker log: {log}   Ctrl-C to stop[/]"
    if not wide:  # the accounts below the leads
        return Group(header, table, accounts, personas, Panel(crossings, title="Latest threshold crossings"), footer)
    side = Table.grid(expand=True)
    side.add_column(ratio=3)
    side.add_column(ratio=2)
    side.add_row(table, accounts)  # the accounts next to the leads
    return Group(header, side, personas, Panel(crossings, title="Latest threshold crossings"), footer)


def _accounts(summary: Summary, top: int) -> Table:
    """The ``top`` accounts by score: level, buying-group roles engaged (coverage) and members."""
    table = Table(title="Top accounts (model b2b)", expand=True)
    for column in ("account", "score", "level", "coverage", "members"):
        table.add_column(column, justify="right" if column in ("score", "members") else "left")
    for account_id, row in sorted(summary.accounts.items(), key=lambda item: -item[1].score)[:top]:
        style = {"sales-ready-account": "bold green", "engaged-account": "green"}.get(row.level or "", "")
        engaged = len(row.coverage)
        coverage = (
            f"{engaged}/{engaged + len(row.missing)} " + ",".join(row.coverage) if row.coverage or row.missing else "-"
        )
        table.add_row(account_id, f"{row.score:.0f}", row.level or "-", coverage, str(row.members), style=style)
    return table


def run_demo(
    duration: float | None, leads: int, rate: float, seed: int, console: Console | None = None, source: str = "native"
) -> Summary:
    """Run the demo; ``source="segment"``: the generator writes Segment JSON to a topic of its own, which the worker
    reads as a declared source (streams/sources/examples/segment.yaml)."""
    console = console or Console()
    workdir = Path(tempfile.mkdtemp(prefix="leadscore-demo-"))
    summary = Summary()
    previous_sigterm = signal.signal(signal.SIGTERM, signal.default_int_handler)  # SIGTERM cleans up too
    try:
        with EmbeddedBroker(log_file=workdir / "broker.log") as broker:
            sources = {"sources_path": SEGMENT_SOURCES} if source == "segment" else {}
            settings = broker.settings("leadscore-demo", workdir / "state", **sources)
            worker = spawn_worker(settings, log_file=workdir / "worker.log")
            try:
                _run(console, settings, summary, duration, (leads, rate, seed), worker, workdir / "worker.log")
            finally:
                stop_process(worker, grace_s=15.0)
    except KeyboardInterrupt:
        console.print("stopped.")
    finally:
        signal.signal(signal.SIGTERM, previous_sigterm)
    console.print(
        f"\nsummary: events produced {summary.events_produced}, score changes {summary.score_changes}, "
        f"threshold crossings {summary.crossings}, leads scored {len(summary.leads)}, "
        f"accounts scored {len(summary.accounts)}, "
        f"dead letters {summary.dead_letters}"
    )
    return summary


def _run(
    console: Console,
    settings: Settings,
    summary: Summary,
    duration: float | None,
    generation: tuple[int, float, int],
    worker: subprocess.Popen[bytes],
    log: Path,
) -> None:
    leads, rate, seed = generation
    names = settings.topics
    codec = AvroCodec(LocalSchemaRegistry())
    journeys = JourneyGenerator(leads, seed=seed, start_ms=int(time.time() * 1000), mean_gap_ms=1000.0 / rate)
    producer = EventProducer(settings.bootstrap_servers, codec, settings.topics.events)
    segment_topic = SEGMENT_TOPIC if settings.sources_path is not None else None
    generator = _Generator(producer, journeys, rate, settings.topics.profiles, segment_topic)
    reader = OutputReader(
        settings.bootstrap_servers,
        codec,
        [names.score_changes, names.thresholds, names.dead_letters, names.account_scores, names.account_thresholds],
    )
    started = time.monotonic()
    last_output = started
    generator.start()
    try:
        with Live(console=console, refresh_per_second=4, transient=False) as live:
            while True:
                now = time.monotonic()
                if worker.poll() is not None:
                    raise WorkerExitedError(f"the worker exited with code {worker.returncode}: see {log}")
                for topic, value in reader.poll(timeout_ms=250):
                    summary.record(topic, value, settings, journeys)
                    last_output = now
                summary.events_produced = generator.produced
                live.update(_view(summary, journeys, now - started, log, settings.web_port, console.width))
                if duration is None:
                    continue
                if now - started >= duration and not generator.stop_event.is_set():
                    generator.stop_event.set()
                    generator.join()
                    summary.events_produced = generator.produced
                if generator.stop_event.is_set() and (
                    now - last_output > DRAIN_QUIET_S or now - started > duration + DRAIN_MAX_S
                ):
                    break
    finally:
        generator.stop_event.set()
        generator.join(timeout=10)
        generator.producer.close()
        reader.close()
