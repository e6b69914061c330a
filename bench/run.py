"""``make bench``: every figure of issues 5 and 15 in one run on the same generated events; results in bench/results/.

Steps: the engine alone and the Avro codec in-process; on one broker (Apache Kafka unless ``--broker tansu`` or
``LEADSCORE_TEST_BROKER=tansu``), the generated events produced once to ``lead-events``, then the ceiling,
textbook, peer, leadscore (one worker, then two) on that topic, leadscore on the same events as JSON (a declared
Segment source, ``bench/json_source.py``) and under b2b with and without its account roll-up (``accounts``,
``bench/accounts_e2e.py``); latency of a fresh worker at half leadscore's
measured maximum; the latency floor (a plain consumer, no worker) at the same rate on Kafka and on Tansu;
recovery of 0 (idle), 100,000 and 1,000,000 leads, each on a fresh broker. Writes latest.json, report.md and PNG
plots. Each contestant's events/s and CPU seconds per event (its own processes', the broker's) over the same
window (ADR 032). ``--quick`` smoke-tests everything on 20,000 events (recovery of 10,000 and 100,000 leads,
labelled scaled down); other sizes or skipped steps make a ``custom`` run: only a ``full`` one is judged.
"""

from __future__ import annotations

import argparse
import os
import platform
import shlex
import shutil
import sys
import tempfile
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path
from typing import Any

from rich.table import Table

from bench import (
    accounts_e2e,
    cpu,
    features,
    flamegraph,
    floor,
    json_source,
    latency,
    micro,
    recovery,
    report,
    throughput,
)
from bench.brokers import STARTED, broker_label, broker_meta
from bench.common import BenchError, broker_cpu_s, commit, console, cpu_used, produce_events
from bench.options import mode, parse
from bench.summary import WITH, WITHOUT, summarise
from scoring import LeadscoreError
from streams.devtools.brokers import Broker, new_broker


class Run:
    """Runs the steps; a step that fails is recorded and the others still run."""

    def __init__(self, args: argparse.Namespace, workdir: Path) -> None:
        self.args = args
        self.workdir = workdir
        self.broker: Broker | None = None  # the throughput steps' broker, while they run
        self.results: dict[str, Any] = {
            "broker": broker_meta(args.broker),
            "events": args.events,
            "leads": args.leads,
            "mode": mode(args),
            "throughput": {},
            "errors": [],
            "meta": {
                "started": time.strftime("%Y-%m-%d %H:%M:%S %Z"),
                "commit": commit(),
                "cpus": os.cpu_count(),
                "python": platform.python_version(),
                "command": "python -m bench.run " + shlex.join(sys.argv[1:]),
                "note": args.note,
                "load_average_at_start": os.getloadavg(),
                "workdir": str(workdir),
            },
        }

    def step(self, name: str, title: str, action: Callable[[], Any]) -> Any:
        if name in self.args.skip:
            console.print(f"[dim]{title}: skipped[/dim]")
            return None
        console.rule(title)
        started = time.monotonic()
        try:
            value = action()
        except (BenchError, LeadscoreError) as exc:
            console.print(f"[red]{title} failed:[/red] {exc}")
            self.results["errors"].append(f"{title}: {exc}")
            return None
        except Exception as exc:  # a defect, not an expected failure: keep its type; the other steps still run
            console.print_exception(max_frames=3)
            self.results["errors"].append(f"{title}: {type(exc).__name__}: {exc}")
            return None
        console.print(f"[dim]{title}: {time.monotonic() - started:.0f} s[/dim]")
        return value

    def throughput(self, name: str, title: str, action: Callable[[], dict[str, Any]], key: str = "") -> None:
        before = broker_cpu_s(self.broker)
        value = self.step(name, title, action)
        if value is not None:
            value["broker_cpu_s"] = cpu_used(before, broker_cpu_s(self.broker))
            self.results["throughput"][key or name] = value
            console.print(
                f"{title}: [bold]{value['eps']:,.0f}[/bold] events/s over {value['seconds']:.1f} s{_cpu(value)}"
            )

    def run(self) -> dict[str, Any]:
        args, results = self.args, self.results
        engine = self.step("engine", "engine alone and Avro codec", lambda: micro.engine(args.events, args.leads))
        if engine is not None:
            results["engine"] = engine
            results["codec"] = micro.codec_costs()
            console.print(f"engine alone: [bold]{engine['events_per_second_engine_only']:,}[/bold] events/s")
        size = (min(args.events, 100_000), min(args.leads, 20_000))
        costs = self.step("features", "model features in-process (issue 17)", lambda: features.run(*size, rounds=3))
        if costs is not None:
            results["features"] = costs
        try:
            self.streams()
        except LeadscoreError as exc:  # the broker did not start, or topics could not be created
            console.print(f"[red]stream steps failed:[/red] {exc}")
            results["errors"].append(f"stream steps: {exc}")
        if "recovery" not in args.skip:
            self.recovery()
        results["meta"]["load_average_at_end"] = os.getloadavg()
        return results

    def streams(self) -> None:
        args, work, results = self.args, self.workdir, self.results
        stream_steps = {"ceiling", "leadscore", "json-source", "accounts", "textbook", "peer", "two-workers", "latency"}
        if stream_steps <= set(args.skip):
            return
        with new_broker(log_file=work / "broker.log", kind=args.broker) as broker:
            self.broker = broker
            console.rule(f"input: {args.events:,} events over {args.leads:,} leads on {broker_label(args.broker)}")
            cluster = broker.settings("bench-input", work / "input")  # bootstrap and security of every client
            source = cluster.topics.events
            produce_events(cluster, source, args.events, args.leads)
            json_input = self.step(
                "json-source",
                "input: the same events as Segment JSON",
                lambda: json_source.produce(cluster, args.events, args.leads),
            )
            idle = cpu.idle_rate(broker.pid)  # before the contestants, and again after them
            n = args.events
            self.throughput("ceiling", "ceiling", lambda: throughput.ceiling(cluster, source, n, broker.pid))
            self.throughput("leadscore", "leadscore", lambda: throughput.leadscore(broker, "bench", source, n, work))
            if "leadscore" in results["throughput"]:
                layout = throughput.changelog_layout(cluster, "bench")
                results["changelog_layout"] = layout
                console.print(f"changelog layout of the real worker: {layout}")
            if json_input is not None:
                self.json_source(broker, json_input)
            self.accounts(broker, source)
            self.throughput("textbook", "textbook", lambda: throughput.textbook(broker, source, n, work))
            self.throughput("peer", "peer", lambda: throughput.peer(broker, source, n, work))
            self.throughput(
                "two-workers",
                "leadscore, two workers",
                lambda: throughput.leadscore(broker, "bench2", source, n, work, workers=2),
                key="leadscore_two_workers",
            )
            results["broker_idle"] = cpu.quietest(idle, cpu.idle_rate(broker.pid))
            if args.profile:
                seconds = 10.0 if args.quick else 30.0
                record = lambda: flamegraph.profile(broker, source, seconds, work, args.out)  # noqa: E731
                value = self.step("profile", "py-spy profile of the worker", record)
                if value is not None:
                    results["profile"] = value
        if not {"latency", "floor"} <= set(args.skip):
            # a broker of its own: the one above holds every contestant's outputs and changelogs
            with new_broker(log_file=work / "latency-broker.log", kind=args.broker) as broker:
                self.latency(broker)
        if "floor" not in args.skip:
            self.other_floor()

    def json_source(self, broker: Broker, produced: dict[str, Any]) -> None:
        """leadscore on the JSON input: a fresh app id, the bench's sources file, its own lead-events topic empty."""
        if produced["read_us"]["mismatched"]:
            self.results["errors"].append(
                f"leadscore, JSON source: {produced['read_us']['mismatched']} sampled JSON records do not map back "
                "to their event: not run"
            )
            return
        n, work = self.args.events, self.workdir
        run = partial(throughput.leadscore, broker, "bench-json", None, n, work, sources_path=json_source.SOURCES_FILE)
        key = "leadscore_json_source"
        self.throughput("json-source", "leadscore, JSON source", lambda: {**run(), "input": produced}, key=key)
        value = self.results["throughput"].get(key)
        if value is None:
            return
        outcomes = value["source_records"]
        if outcomes.get("event", 0) != value["events"] or len(outcomes) > 1:
            self.results["errors"].append(f"leadscore, JSON source: records mapped to {outcomes}, not all to events")
        figures = summarise(self.results)  # the ratios as the report gives them
        console.print(
            f"JSON source / native Avro: {figures['json_source_ratio']} in events/s, "
            f"{figures['json_source_cpu_ratio']} in CPU per event; in-process CPU µs per record: {produced['read_us']}"
        )

    def accounts(self, broker: Broker, source: str) -> None:
        """leadscore on the same input under b2b without its ``account:`` section, then with it, counted to the
        N-th event and to the last member update the account agent consumed (``bench/accounts_e2e.py``)."""
        n, work = self.args.events, self.workdir
        without = partial(accounts_e2e.without_accounts, broker, source, n, work)
        self.throughput("accounts", "leadscore, b2b without accounts", without, key=WITHOUT)
        self.throughput(
            "accounts",
            "leadscore, b2b with accounts",
            partial(accounts_e2e.with_accounts, broker, source, n, work),
            key=WITH,
        )
        rolled = (self.results["throughput"].get(WITH) or {}).get("roll_up")
        if rolled is None:
            return
        if rolled["outcomes"].get("dead_letter"):
            self.results["errors"].append(
                f"leadscore, b2b with accounts: member updates dead-lettered: {rolled['outcomes']}"
            )
        figures = summarise(self.results)
        console.print(
            f"with the roll-up caught up ({rolled['member_updates_sent']:,} member updates, {rolled['catch_up_s']} s "
            f"after the N-th event): [bold]{rolled['eps']:,.0f}[/bold] events/s over {rolled['seconds']:.1f} s"
            f"{_cpu(rolled)}; with / without accounts: {figures['accounts_ratio']} in events/s, "
            f"{figures['accounts_cpu_ratio']} in CPU per event; caught up: {figures['accounts_rolled_up_ratio']} and "
            f"{figures['accounts_rolled_up_cpu_ratio']}"
        )

    def half_load(self, step: str) -> float | None:
        """Half of leadscore's measured throughput: the latency step's input rate, and the floor's."""
        measured = self.results["throughput"].get("leadscore")
        if measured is None:
            self.results["errors"].append(f"{step}: needs leadscore's measured throughput")
            return None
        return float(measured["eps"]) / 2

    def latency(self, broker: Broker) -> None:
        """On the run's broker: a warm-up pass, the floor (no worker), then the worker's latency, at half load."""
        rate = self.half_load("latency and its floor")
        if rate is None:
            return
        args, kind, label = self.args, self.args.broker, broker_label(self.args.broker)
        figures = (rate, args.latency_seconds, args.leads, self.workdir)
        self.step(
            "warm-up",
            f"warming {label} up ({rate:,.0f} events/s, {2 * args.latency_seconds:.0f} s)",
            partial(floor.warm_up, broker, kind, *figures),
        )
        self.floor(kind, rate, partial(floor.measure_on, broker, kind, *figures))
        value = self.step(
            "latency",
            f"latency at half load ({rate:,.0f} events/s)",
            lambda: latency.measure(broker, rate, args.latency_seconds, args.leads, self.workdir),
        )
        if value is not None:
            self.results["latency"] = value
            console.print(f"latency (emission) ms: {value['emission_ms']}; received ms: {value['received_ms']}")

    def other_floor(self) -> None:
        """The floor on a fresh, warmed-up broker of the other kind, at the latency step's rate (without leadscore's
        throughput there is none: :meth:`latency` has said so)."""
        measured, args = self.results["throughput"].get("leadscore"), self.args
        for kind in STARTED:
            if measured is not None and kind != args.broker:
                rate = measured["eps"] / 2
                self.floor(
                    kind, rate, partial(floor.measure, kind, rate, args.latency_seconds, args.leads, self.workdir)
                )

    def floor(self, kind: str, rate: float, action: Callable[[], dict[str, Any]]) -> None:
        value = self.step("floor", f"latency floor on {broker_label(kind)} ({rate:,.0f} events/s, no worker)", action)
        if value is not None:
            self.results.setdefault("latency_floor", {})[kind] = value
            console.print(f"floor on {value['broker']} ms: {value['received_ms']}")

    def recovery(self) -> None:
        args, results = self.args, self.results
        templates = self.step(
            "recovery", "recovery: template states", lambda: recovery.template_states(args.events, args.leads)
        )
        if templates is None:
            return
        results["recovery"] = []
        if args.quick:
            results["recovery_note"] = "Quick mode: recovery scaled down (10,000 and 100,000 leads instead of 1M)."
        for leads in [0, *args.recovery_leads]:
            value = self.step(
                "recovery",
                f"recovery of {leads:,} leads",
                partial(recovery.recover, leads, templates, self.workdir, args.broker),
            )
            if value is not None:
                results["recovery"].append(value)
                console.print(
                    f"recovered {value['recovered']:,} of {leads:,} leads in {value['seconds']} s "
                    f"({value['leads_per_s']:,}/s), exact: {value['exact']}, RSS {value['rss_bytes'] / 2**20:,.0f} MiB"
                )


def _cpu(step: dict[str, Any]) -> str:
    """``, 61.2 µs CPU per event (broker 20.3)``: the contestant's CPU per event over its window."""
    cpu = step.get("cpu") or {}
    own, broker = cpu.get("cpu_s_per_event"), cpu.get("broker_cpu_s_per_event")
    if own is None:
        return ", CPU per event unknown"
    return f", {own * 1e6:,.1f} µs CPU per event" + (f" (broker {broker * 1e6:,.1f})" if broker is not None else "")


def show(latest: dict[str, Any]) -> None:
    table = Table(
        title=f"leadscore benchmark, {latest['mode']} ({latest['events']:,} events), {latest['broker']['label']}"
    )
    table.add_column("figure")
    table.add_column("target")
    table.add_column("measured", justify="right")
    table.add_column("met")
    table.add_column("from")
    for verdict in latest["targets"].values():
        value = verdict["value"]
        shown = "n/a" if value is None else f"{value:,.3f}" if isinstance(value, float) and value < 10 else f"{value:,}"
        met = {True: "[green]yes[/green]", False: "[red]no[/red]", None: "n/a"}[verdict["met"]]
        table.add_row(verdict["label"], verdict["target"], shown, met, verdict.get("basis", ""))
    console.print(table)


def main(argv: list[str] | None = None) -> int:
    args = parse(argv, __doc__ or "")
    workdir = Path(tempfile.mkdtemp(prefix="leadscore-bench-"))
    try:
        args.out.mkdir(parents=True, exist_ok=True)
        results = Run(args, workdir).run()
        latest = report.write(results, args.out)
        show(latest)
        console.print(f"written: {args.out / 'latest.json'}, {args.out / 'report.md'} and plots")
        for error in latest["errors"]:
            console.print(f"[red]failed step:[/red] {error}")
        return 1 if latest["errors"] else 0
    except KeyboardInterrupt:
        console.print("[red]interrupted[/red]")
        return 130
    except (BenchError, LeadscoreError) as exc:
        console.print(f"[red]bench failed:[/red] {exc}")
        return 1
    finally:
        if args.keep:
            console.print(f"work directory kept: {workdir}")
        else:
            shutil.rmtree(workdir, ignore_errors=True)


if __name__ == "__main__":
    sys.exit(main())
