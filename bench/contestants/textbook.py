"""The textbook contestant: the same scoring as a plain per-event Faust agent, the way the Faust docs teach it.

``python -m bench.contestants.textbook --bootstrap HOST:PORT --app-id ID --input lead-events --prefix textbook ...``
One agent iterates the stream event by event; per event it reads the lead's state from a changelog-backed table
(RocksDB, leadscore's default store; raw bytes in leadscore's state codec, as the worker's own table,
:mod:`bench.contestants.per_input`), scores with :class:`streams.worker.processor.Processor` (the same decode,
check, scoring and encoding as the worker), ``await``s one ``topic.send`` per output and writes the state back
with ``table[lead] = state``. The worker's terminal spinner is off as in leadscore (it costs about 20 % in logging),
so the comparison measures the processing pattern, not a logging quirk. On a secured cluster it reads the security
settings from the LEADSCORE_* environment, as the worker does.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import faust
from faust.types import StreamT

from bench.contestants import per_input
from bench.contestants.progress import Progress
from bench.model import lead_model
from scoring import Engine
from streams.kafka.codec import AvroCodec
from streams.kafka.registry import LocalSchemaRegistry
from streams.kafka.security import faust_credentials
from streams.settings import load_settings
from streams.worker.metrics import Metrics
from streams.worker.processor import Message, Processor
from streams.worker.run import QuietWorker


def build(args: argparse.Namespace) -> faust.App:
    codec = AvroCodec(LocalSchemaRegistry())
    engine = Engine([lead_model()])
    processor = Processor(engine, codec, Metrics(), args.partitions, f"{args.app_id}-rerouted")
    progress = Progress(args.progress, target=args.events, watch=args.watch_pid)
    app = faust.App(
        args.app_id,
        broker=f"kafka://{args.bootstrap}",
        broker_credentials=faust_credentials(load_settings(bootstrap_servers=args.bootstrap)),
        store=args.store,
        datadir=str(args.data_dir),
        autodiscover=False,
        topic_partitions=args.partitions,
        consumer_auto_offset_reset="earliest",
        broker_session_timeout=args.session_timeout_s,  # the worker's on the same broker (short on Tansu)
        broker_heartbeat_interval=args.heartbeat_interval_s,
        key_serializer="raw",
        value_serializer="raw",
        web_enabled=False,
    )
    events = app.topic(args.input, key_type=bytes, value_type=bytes)
    score_changes = app.topic(f"{args.prefix}-lead-score-changes", key_type=bytes, value_type=bytes)
    thresholds = app.topic(f"{args.prefix}-lead-thresholds", key_type=bytes, value_type=bytes)
    scores = app.topic(f"{args.prefix}-lead-scores", key_type=bytes, value_type=bytes)
    dead_letters = app.topic(f"{args.prefix}-lead-events-dlq", key_type=bytes, value_type=bytes)
    table = app.Table("lead-state", default=None, value_type=bytes, partitions=args.partitions)

    @app.agent(events)
    async def score(stream: StreamT[bytes]) -> None:
        async for event in stream.events():
            message = Message(args.input, event.message.partition, event.message.offset, event.key, event.value)
            result = per_input.score(processor, message, table.get, table.__setitem__)  # table[lead] = state
            for change in result.changes:
                await score_changes.send(key=event.key, value=change)
            for crossing in result.crossings:
                await thresholds.send(key=event.key, value=crossing)
            if result.scores is not None:
                await scores.send(key=event.key, value=result.scores)
            if result.dead_letter is not None:
                await dead_letters.send(key=event.key, value=result.dead_letter)
            outputs = len(result.changes) + len(result.crossings) + (result.scores is not None)
            progress.processed(outputs + (result.dead_letter is not None), len(result.changes))

    return app


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--app-id", required=True, help="consumer group and prefix of Faust's internal topics")
    parser.add_argument("--input", required=True, help="input topic (LeadEvent, keyed by lead id)")
    parser.add_argument("--prefix", required=True, help="prefix of the output topics")
    parser.add_argument("--data-dir", type=Path, required=True)
    parser.add_argument("--progress", type=Path, required=True, help="progress file (JSON) for the driver")
    parser.add_argument("--events", type=int, help="the input's length: CPU is read at the first input and this one")
    parser.add_argument("--watch-pid", type=int, action="append", default=[], help="also read this process's CPU")
    parser.add_argument("--store", default="rocksdb://")
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--session-timeout-s", type=float, default=6.0, help="as the worker's on this broker")
    parser.add_argument("--heartbeat-interval-s", type=float, default=1.0)
    args = parser.parse_args()
    app = build(args)
    QuietWorker(app, loglevel="WARNING", quiet=True, redirect_stdouts=False).execute_from_commandline()


if __name__ == "__main__":
    main()
