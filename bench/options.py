"""The command line of ``python -m bench.run`` (``make bench BENCH_ARGS=...``): sizes, broker, steps to skip."""

from __future__ import annotations

import argparse
from pathlib import Path

from bench.brokers import bench_broker_kind
from bench.common import RESULTS
from scoring import LeadscoreError
from streams.devtools.brokers import KINDS

STEPS = (
    *("engine", "ceiling", "leadscore", "json-source", "accounts", "textbook", "peer", "two-workers"),
    *("latency", "floor", "recovery", "profile", "features"),
)


def parse(argv: list[str] | None, description: str = "") -> argparse.Namespace:
    """The options of ``python -m bench.run``, defaults filled in (``--quick``: the smaller ones)."""
    parser = argparse.ArgumentParser(
        prog="python -m bench.run", description=description, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, help="input events (default 200,000; --quick 20,000)")
    parser.add_argument("--leads", type=int, help="distinct leads (default 100,000; --quick 10,000)")
    parser.add_argument("--quick", action="store_true", help="smoke test: small input, recovery scaled down")
    parser.add_argument(
        "--recovery-leads",
        type=int,
        nargs="*",
        help="lead counts to recover (default 100,000 and 1,000,000; --quick 10,000 and 100,000)",
    )
    parser.add_argument("--latency-seconds", type=float, help="how long to produce at half load (default 25; quick 10)")
    parser.add_argument(
        "--broker",
        choices=KINDS,
        help="broker of every step but the floor (default $LEADSCORE_TEST_BROKER when set, else kafka)",
    )
    parser.add_argument("--skip", nargs="*", default=[], choices=STEPS, metavar="STEP", help=f"any of {STEPS}")
    parser.add_argument("--out", type=Path, default=RESULTS, help="results directory (default bench/results)")
    parser.add_argument("--keep", action="store_true", help="keep the work directory (logs, state) afterwards")
    parser.add_argument("--profile", action="store_true", help="also a py-spy flame graph of the worker (own run)")
    parser.add_argument("--note", default="", help="a remark for the report, e.g. 'machine shared with test runs'")
    args = parser.parse_args(argv)
    try:
        args.broker = bench_broker_kind(args.broker)
    except LeadscoreError as exc:
        parser.error(str(exc))
    args.events = args.events or (20_000 if args.quick else 200_000)
    args.leads = args.leads or (10_000 if args.quick else 100_000)
    if args.recovery_leads is None:
        args.recovery_leads = [10_000, 100_000] if args.quick else [100_000, 1_000_000]
    args.latency_seconds = args.latency_seconds or (10.0 if args.quick else 25.0)
    return args


FULL = {"events": 200_000, "leads": 100_000, "largest_recovery": 1_000_000}


def mode(args: argparse.Namespace) -> str:
    """``quick``, ``full`` (the defaults of ``make bench``, every step: what the targets are judged on) or
    ``custom`` (other sizes, or steps skipped)."""
    if args.quick:
        return "quick"
    sizes = {"events": args.events, "leads": args.leads, "largest_recovery": max(args.recovery_leads, default=0)}
    return "full" if sizes == FULL and not args.skip else "custom"
