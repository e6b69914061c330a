"""Apache Kafka's own broker for the tests, the reliability scenarios and the benchmark, started as a process.

The jars come from Maven Central through the small pom beside this module (``apache-kafka.pom.xml``), copied once
into a cache folder (``$LEADSCORE_KAFKA_CACHE``, default ``~/.cache/leadscore/apache-kafka-VERSION``); a second
run downloads nothing. Each broker formats a KRaft storage directory of its own and runs one combined
broker/controller on a free 127.0.0.1 port with test-friendly settings (replication factors 1, no initial
rebalance delay, compaction on). It dies with its parent, like the embedded Tansu broker, and leaves no
directory behind unless it was given one (``log_dir``, to restart a broker from its log).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
import time
from collections.abc import Mapping
from pathlib import Path
from typing import ClassVar

from streams.devtools.processes import BrokerProcess, die_with_parent, free_port, stop_process, wait_for_port
from streams.errors import EmbeddedBrokerError

#: The Apache Kafka version under test; keep ``kafka.version`` in apache-kafka.pom.xml in step.
KAFKA_VERSION = "4.1.1"
POM = Path(__file__).with_name("apache-kafka.pom.xml")
_CLUSTER_ID = "bGVhZHNjb3JlLXRlc3RzLQ"  # any 16-byte base64 id: one per directory, fixed so restarts match
_LOG4J = """Configuration:
  Appenders:
    Console: {name: STDOUT, PatternLayout: {pattern: "[%d] %p %m (%c)%n"}}
  Loggers:
    Root: {level: WARN, AppenderRef: [{ref: STDOUT}]}
"""


def _require(command: str, package: str) -> str:
    path = shutil.which(command)
    if path is None:
        raise EmbeddedBrokerError(
            f"`{command}` is not installed: Apache Kafka for the tests needs it (Debian: apt-get install {package})"
        )
    return path


def _cache() -> Path:
    return Path(os.environ.get("LEADSCORE_KAFKA_CACHE") or Path.home() / ".cache" / "leadscore")


def missing_tools() -> list[str]:
    """What this machine lacks to run the broker: ``java`` always, ``mvn`` until the jars are in the cache."""
    cached = (_cache() / f"apache-kafka-{KAFKA_VERSION}" / ".complete").exists()
    return [tool for tool in ("java", "mvn") if shutil.which(tool) is None and (tool == "java" or not cached)]


def kafka_jars() -> Path:
    """The folder of the broker's jars, fetched with Maven on first use."""
    cache = _cache()
    jars = cache / f"apache-kafka-{KAFKA_VERSION}"
    if (jars / ".complete").exists():
        return jars
    _require("java", "openjdk-17-jre-headless")
    mvn = _require("mvn", "maven")
    staging = Path(tempfile.mkdtemp(prefix="jars-", dir=cache if cache.exists() else None))
    command = [mvn, "-q", "-B", "-f", str(POM), "dependency:copy-dependencies", f"-DoutputDirectory={staging}"]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        shutil.rmtree(staging, ignore_errors=True)
        last = (done.stdout + done.stderr).strip().splitlines()[-1:] or ["no output"]
        raise EmbeddedBrokerError(f"Maven could not fetch Apache Kafka {KAFKA_VERSION}: {last[0]}")
    cache.mkdir(parents=True, exist_ok=True)
    shutil.rmtree(jars, ignore_errors=True)
    staging.rename(jars)
    (jars / ".complete").touch()
    return jars


def server_properties(port: int, controller_port: int, log_dir: Path, extra: Mapping[str, str]) -> str:
    """A single combined broker/controller on 127.0.0.1 with replication factors 1 (for tests only)."""
    values = {
        "process.roles": "broker,controller",
        "node.id": "1",
        "controller.quorum.bootstrap.servers": f"127.0.0.1:{controller_port}",
        "listeners": f"PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller_port}",
        "advertised.listeners": f"PLAINTEXT://127.0.0.1:{port}",
        "controller.listener.names": "CONTROLLER",
        "listener.security.protocol.map": "PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        "inter.broker.listener.name": "PLAINTEXT",
        "log.dirs": str(log_dir),
        "num.partitions": "1",
        "offsets.topic.replication.factor": "1",
        "offsets.topic.num.partitions": "4",
        "transaction.state.log.replication.factor": "1",
        "transaction.state.log.min.isr": "1",
        "transaction.state.log.num.partitions": "4",
        "group.initial.rebalance.delay.ms": "0",
        "log.cleaner.enable": "true",
        **extra,
    }
    return "".join(f"{key}={value}\n" for key, value in values.items())


class ApacheKafkaBroker(BrokerProcess):
    """An Apache Kafka broker for one run. Use as a context manager; ``bootstrap`` is ``127.0.0.1:PORT``.

    ``extra_config`` adds or overrides broker settings (for example short segments for a log-cleaner test);
    ``log_dir`` keeps the log in a folder the caller owns, so a broker can be killed and started again on it.
    Kafka joins groups at once (``group.initial.rebalance.delay.ms=0``): only the session timeout is shortened.
    """

    SETTINGS: ClassVar[dict[str, object]] = {"session_timeout_s": 10.0, "heartbeat_interval_s": 1.0}

    def __init__(
        self,
        port: int | None = None,
        log_file: Path | None = None,
        log_dir: Path | None = None,
        extra_config: Mapping[str, str] | None = None,
    ) -> None:
        super().__init__(port, log_file)
        self.controller_port = free_port()
        self.extra_config = dict(extra_config or {})
        self._own_dir = log_dir is None
        self.log_dir = log_dir or Path(tempfile.mkdtemp(prefix="leadscore-kafka-"))

    def start(self, timeout_s: float = 60.0) -> ApacheKafkaBroker:
        jars = kafka_jars()
        config = self.log_dir / "server.properties"
        self.log_dir.mkdir(parents=True, exist_ok=True)
        data = self.log_dir / "data"
        config.write_text(server_properties(self.port, self.controller_port, data, self.extra_config))
        (self.log_dir / "log4j2.yaml").write_text(_LOG4J)
        java = [_require("java", "openjdk-17-jre-headless"), "-Xms256m", "-Xmx1g", "-cp", f"{jars}/*"]
        java.append(f"-Dlog4j2.configurationFile={self.log_dir / 'log4j2.yaml'}")
        if not (data / "meta.properties").exists():
            fmt = [*java, "kafka.tools.StorageTool", "format", "--standalone", "-t", _CLUSTER_ID, "-c", str(config)]
            done = subprocess.run([*fmt, *self._format_options()], capture_output=True, text=True)
            if done.returncode != 0:
                raise EmbeddedBrokerError(f"formatting Kafka's storage failed: {done.stderr.strip()[-300:]}")
        output = open(self.log_file, "ab") if self.log_file else subprocess.DEVNULL  # noqa: SIM115
        self._process = subprocess.Popen(
            [*java, "kafka.Kafka", str(config)],
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=die_with_parent,
            start_new_session=True,
        )
        if not isinstance(output, int):
            output.close()
        try:
            wait_for_port("127.0.0.1", self.port, timeout_s, self._process)
            self._wait_until_it_answers(time.monotonic() + timeout_s)
        except BaseException:
            self.stop()
            raise
        return self

    def _format_options(self) -> list[str]:
        """More options of ``StorageTool format`` (a subclass adds its SCRAM users)."""
        return []

    def _client_config(self) -> dict[str, object]:
        """kafka-python settings of the client that checks the broker answers (a subclass adds its security)."""
        return {}

    def _wait_until_it_answers(self, deadline: float) -> None:
        """The port opens before the broker has joined its own controller: wait for a metadata answer."""
        from kafka import KafkaAdminClient
        from kafka.errors import KafkaError

        while True:
            try:
                KafkaAdminClient(
                    bootstrap_servers=self.bootstrap, request_timeout_ms=5000, **self._client_config()
                ).close()
                return
            except KafkaError:
                if time.monotonic() > deadline:
                    raise EmbeddedBrokerError(f"Apache Kafka on {self.bootstrap} did not answer in time") from None
                time.sleep(0.2)

    def kill(self) -> None:
        """SIGKILL the broker (its log stays in ``log_dir``): for scenarios that restart it."""
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            self._process = None

    def stop(self) -> None:
        if self._process is not None:
            stop_process(self._process, grace_s=15.0)
            self._process = None
        if self._own_dir:
            shutil.rmtree(self.log_dir, ignore_errors=True)
