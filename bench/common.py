"""What the benchmark steps share: the console, the Kafka clients' options, input production, worker probes
(metrics, readiness, RSS).

Every Kafka client of the benchmark itself (kafka-python, aiokafka, confluent-kafka) takes its options from the
settings of the cluster it talks to (``cluster``: bootstrap servers and the security settings, as
``broker.settings(...)`` returns them): on a secured cluster each one logs in and checks the brokers' certificate.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from typing import Any

from kafka import KafkaProducer
from kafka.admin import KafkaAdminClient, NewTopic
from rich.console import Console
from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

from streams.datasets.synthetic import JourneyGenerator
from streams.devtools.brokers import Broker
from streams.kafka.codec import AvroCodec
from streams.kafka.registry import LocalSchemaRegistry
from streams.kafka.security import aiokafka_security, kafka_python_config, librdkafka_config
from streams.settings import Settings, TopicNames

RESULTS = Path(__file__).parent / "results"
ROOT = Path(__file__).resolve().parent.parent
PEER_PYTHON = ROOT / "bench" / ".venv-peer" / "bin" / "python"
SEED = 1
console = Console()


class BenchError(Exception):
    """An expected failure of a benchmark step: printed as one line, without a traceback."""


#: A confluent-kafka (librdkafka) client's configuration.
LibrdkafkaOptions = dict[str, str | int | float | bool]


def kafka_python_options(cluster: Settings) -> dict[str, object]:
    """Keyword arguments of a kafka-python client (producer, admin) of ``cluster``."""
    return {"bootstrap_servers": cluster.bootstrap_servers, **kafka_python_config(cluster)}


def aiokafka_options(cluster: Settings) -> dict[str, object]:
    """Keyword arguments of an aiokafka client of ``cluster`` (TLS files as one SSL context)."""
    return {"bootstrap_servers": cluster.bootstrap_servers, **aiokafka_security(cluster)}


def librdkafka_options(cluster: Settings, options: LibrdkafkaOptions) -> LibrdkafkaOptions:
    """The configuration of a confluent-kafka producer or consumer of ``cluster``, with ``options`` on top."""
    return {"bootstrap.servers": cluster.bootstrap_servers, **librdkafka_config(cluster), **options}


def security_env(cluster: Settings) -> dict[str, str]:
    """The LEADSCORE_* security variables of ``cluster``, for a contestant process that reads them."""
    names = ("SECURITY_PROTOCOL", "SASL_", "SSL_")
    return {
        name: value for name, value in cluster.to_env().items() if name.removeprefix("LEADSCORE_").startswith(names)
    }


def codec() -> AvroCodec:
    return AvroCodec(LocalSchemaRegistry())


def progress_bar(transient: bool = True) -> Progress:
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TextColumn("{task.fields[note]}"),
        TimeElapsedColumn(),
        console=console,
        transient=transient,
    )


def prefixed_topics(prefix: str, events: str | None = None) -> TopicNames:
    """Topic names of one contestant or step: its own outputs; ``events`` names a shared input topic."""
    names = {name: f"{prefix}-{value}" for name, value in TopicNames().model_dump().items()}
    if events is not None:
        names["events"] = events
    return TopicNames.model_validate(names)  # every field given: the environment plays no part, as before


def create_topic(cluster: Settings, name: str, partitions: int, cleanup: str = "delete") -> None:
    """A topic with every config the clients read set explicitly (Tansu reports only explicit ones, ADR 003)."""
    admin = KafkaAdminClient(**kafka_python_options(cluster))
    try:
        configs = {"cleanup.policy": cleanup, "retention.ms": "-1", "retention.bytes": "-1"}
        admin.create_topics([NewTopic(name, partitions, 1, topic_configs=configs)])
    finally:
        admin.close()


def produce_events(cluster: Settings, topic: str, events: int, leads: int, seed: int = SEED) -> int:
    """Produce ``events`` generated events keyed by lead id with Kafka's default (murmur2) partitioner."""
    avro = codec()
    producer = KafkaProducer(**kafka_python_options(cluster), linger_ms=20, batch_size=256 * 1024, acks=1)
    stream = JourneyGenerator(leads, seed=seed, mean_gap_ms=2000).events(events)
    with progress_bar() as bar:
        task = bar.add_task("producing input", total=events, note=topic)
        for n, event in enumerate(stream, 1):
            producer.send(topic, key=event.lead_id.encode(), value=avro.encode_event(event))
            if n % 2000 == 0:
                bar.update(task, completed=n)
    producer.flush()
    producer.close()
    return events


def http_json(port: int, path: str, timeout_s: float = 2.0) -> tuple[int, Any]:
    """``(status, JSON body)`` of a GET on a local worker; ``(0, None)`` when nothing answers."""
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=timeout_s) as response:
            return response.status, json.loads(response.read() or b"null")
    except urllib.error.HTTPError as exc:
        try:
            return exc.code, json.loads(exc.read() or b"null")
        except ValueError:
            return exc.code, None
    except (OSError, ValueError):
        return 0, None


def metrics_text(port: int) -> str:
    """A local worker's ``/metrics`` (Prometheus text); empty when nothing answers."""
    try:
        text: str = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5).read().decode()
    except OSError:
        return ""
    return text


def worker_metrics(port: int) -> dict[str, float]:
    """leadscore's counters summed over their labels (``leadscore_events_consumed_total`` etc.)."""
    totals: dict[str, float] = {}
    for line in metrics_text(port).splitlines():
        if line.startswith("leadscore_"):
            name = line.split("{", 1)[0].split(" ", 1)[0]
            totals[name] = totals.get(name, 0.0) + float(line.split()[-1])
    return totals


def rss_bytes(pid: int) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) * 1024
    return 0


def dir_bytes(path: Path) -> int:
    return sum(f.stat().st_size for f in path.rglob("*") if f.is_file()) if path.exists() else 0


def wait_until(
    condition: Callable[[], bool],
    timeout_s: float,
    what: str,
    process: subprocess.Popen[bytes] | None = None,
    every_s: float = 0.1,
) -> float:
    """Poll ``condition`` until true; returns when (monotonic). Fails clearly if ``process`` dies or on timeout."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if condition():
            return time.monotonic()
        if process is not None and process.poll() is not None:
            raise BenchError(f"{what}: the process exited with code {process.returncode}")
        time.sleep(every_s)
    raise BenchError(f"{what}: not done within {timeout_s:.0f} s")


def spawn(command: list[str], log_file: Path, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    """A child process of the benchmark, logging to ``log_file``; it dies with this process."""
    from streams.devtools.processes import die_with_parent

    with open(log_file, "ab") as output:
        return subprocess.Popen(
            command,
            cwd=ROOT,
            env={**os.environ, **(env or {})},
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=die_with_parent,
            start_new_session=True,
        )


def commit() -> str:
    """The checked-out commit, ``+dirty`` when streams/ or scoring/ have changes."""
    try:
        out = subprocess.run(["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True)
        changed = ["git", "status", "--porcelain", "--", "streams", "scoring"]
        dirty = subprocess.run(changed, cwd=ROOT, capture_output=True)
        return out.stdout.strip() + ("+dirty" if dirty.stdout.strip() else "")
    except OSError:
        return "unknown"


def broker_cpu_s(broker: Broker | None) -> float | None:
    """CPU seconds (user + system) the broker's process has used so far; None when it is not running."""
    pid = broker.pid if broker is not None else None
    if pid is None:
        return None
    try:
        fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def cpu_used(before: float | None, after: float | None) -> float | None:
    """CPU seconds between two :func:`broker_cpu_s` readings, to 0.1 s."""
    return round(after - before, 1) if before is not None and after is not None else None


def python() -> str:
    return sys.executable


def log_tail(path: Path, lines: int = 5) -> str:
    try:
        return " | ".join(path.read_text(errors="replace").strip().splitlines()[-lines:])
    except OSError:
        return ""
