"""Where a worker's time goes, from a py-spy profile: ``python -m bench.profile_shares PROFILE.txt``.

Record one with ``py-spy record --pid PID --format raw --rate 200 --duration 15 -o PROFILE.txt`` while the worker
scores (``make bench BENCH_ARGS=--profile`` records an SVG flame graph instead). Each sample (all threads, idle
ones excluded by py-spy) counts once, in the first category below any of whose frames is on its stack.
"""

from __future__ import annotations

import argparse
import collections
from pathlib import Path

CATEGORIES = [
    ("scoring (Processor.process_*: decode, engine, encode)", ["Processor.process_"]),
    (
        "table writes (Table set, store, changelog batch)",
        [
            "ManagedUserDict.__setitem__",
            "Table.on_key_set",
            "SerializedStore.__setitem__",
            "apply_changelog_batch",
            "_write_states",
        ],
    ),
    (
        "sending outputs (topic.send, producer buffer, aiokafka sender)",
        [
            "Topic.send",
            "Topic.publish_message",
            "ProducerBuffer",
            "Channel._send_now",
            "Producer.send",
            "BatchProducer.send_all",
            "AIOKafkaProducer.send",
            "Sender.",
            "SendProduceReqHandler",
            "MessageAccumulator",
        ],
    ),
    (
        "consuming (fetch loop, conductor, stream iteration, tracking)",
        [
            "Fetcher._fetcher",
            "_drain_messages",
            "Stream._c_aiter",
            "Stream.events",
            "on_message",
            "track_message",
            "Consumer.getmany",
        ],
    ),
    ("metrics (prometheus client)", ["prometheus_client"]),
]
REST = "the rest (event loop, timers, threads)"


def shares(profile: Path) -> tuple[int, list[tuple[str, float]]]:
    counts: collections.Counter[str] = collections.Counter()
    total = 0
    for line in profile.read_text().splitlines():
        stack, _, count = line.rpartition(" ")
        samples = int(count)
        total += samples
        frames = stack.split(";")
        category = next((name for name, marks in CATEGORIES if any(m in f for m in marks for f in frames)), REST)
        counts[category] += samples
    return total, [(name, 100 * n / total) for name, n in counts.most_common()]


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("profile", type=Path, help="py-spy raw output (--format raw)")
    total, rows = shares(parser.parse_args().profile)
    print(f"{total} samples")
    for name, share in rows:
        print(f"{share:5.1f} %  {name}")
