"""The peer: the same stateful scoring written with Quix Streams (StreamingDataFrame, State on RocksDB, changelog).

Runs in its own virtualenv (bench/.venv-peer; Quix's pins conflict with leadscore's) as
``python -m bench.contestants.peer_quix --bootstrap HOST:PORT --input lead-events ...``. Written as Quix's
documentation teaches a stateful application: an ``Application`` with a consumer group and a state directory,
``app.dataframe(topic)``, one ``sdf.apply(..., stateful=True)`` whose function gets the message's ``State``
(scoped to its key, the lead id), ``expand=True`` to emit each output as a message of its own, ``sdf.to_topic``,
``app.run()``; at-least-once and the checkpoint interval left at Quix's defaults. Per input it does what the worker's
per-event path does (:mod:`bench.contestants.per_input`): :class:`streams.worker.processor.Processor` decodes,
checks, scores and encodes, and the lead's stored state goes into Quix's State in leadscore's own state codec
(``State.set_bytes``/``get_bytes``, Quix's documented way to bring a codec), which Quix keeps in RocksDB with a
changelog topic. Every output (score changes, threshold crossings, latest scores) goes to one output topic,
Confluent-framed Avro as leadscore's.
"""

from __future__ import annotations

import argparse
import logging
from collections.abc import Sequence
from pathlib import Path

from quixstreams import Application, State, message_context

from bench.contestants import per_input
from bench.contestants.progress import Progress
from bench.model import lead_model
from scoring import Engine
from streams.kafka.codec import AvroCodec
from streams.kafka.registry import LocalSchemaRegistry
from streams.worker.metrics import Metrics
from streams.worker.processor import Message, Processor


def build(args: argparse.Namespace) -> Application:
    codec = AvroCodec(LocalSchemaRegistry())
    engine = Engine([lead_model()])
    processor = Processor(engine, codec, Metrics(), args.partitions, f"{args.group}-rerouted")
    progress = Progress(args.progress, target=args.events, watch=args.watch_pid)
    app = Application(
        broker_address=args.bootstrap,
        consumer_group=args.group,
        auto_offset_reset="earliest",
        state_dir=str(args.state_dir),
        processing_guarantee="at-least-once",
        loglevel="WARNING",
        # the worker's on the same broker: Tansu takes half the session timeout for every group join (broker notes)
        consumer_extra_config={
            "session.timeout.ms": round(args.session_timeout_s * 1000),
            "heartbeat.interval.ms": round(args.heartbeat_interval_s * 1000),
        },
    )
    source = app.topic(args.input, key_deserializer="bytes", value_deserializer="bytes")
    sink = app.topic(args.output, key_serializer="bytes", value_serializer="bytes")

    def score(value: bytes, key: bytes, timestamp: int, headers: object, state: State) -> list[bytes]:
        context = message_context()
        message = Message(args.input, context.partition, context.offset, key, value)
        result = per_input.score(processor, message, state.get_bytes, state.set_bytes)
        outputs = per_input.outputs(result)
        progress.processed(len(outputs), len(result.changes))
        return outputs

    sdf = app.dataframe(source)
    sdf = sdf.apply(score, stateful=True, expand=True, metadata=True)
    sdf.to_topic(sink)
    return app


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--bootstrap", required=True)
    parser.add_argument("--input", required=True, help="input topic (LeadEvent, keyed by lead id)")
    parser.add_argument("--output", required=True, help="output topic for every output record")
    parser.add_argument("--group", required=True, help="consumer group (also names Quix's changelog topic)")
    parser.add_argument("--state-dir", type=Path, required=True)
    parser.add_argument("--progress", type=Path, required=True, help="progress file (JSON) for the driver")
    parser.add_argument("--events", type=int, help="the input's length: CPU is read at the first input and this one")
    parser.add_argument("--watch-pid", type=int, action="append", default=[], help="also read this process's CPU")
    parser.add_argument("--partitions", type=int, default=4)
    parser.add_argument("--session-timeout-s", type=float, default=6.0, help="as the worker's on this broker")
    parser.add_argument("--heartbeat-interval-s", type=float, default=1.0)
    args = parser.parse_args(argv)
    logging.basicConfig(level=logging.WARNING)
    build(args).run()


if __name__ == "__main__":
    main()
