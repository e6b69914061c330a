"""Child processes for the demo, the tests and the benchmark: free ports, workers that die with their parent."""

from __future__ import annotations

import contextlib
import ctypes
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from types import TracebackType
from typing import ClassVar, Self

from streams.errors import EmbeddedBrokerError
from streams.kafka.topics import create_topics
from streams.settings import Settings, load_settings
from streams.sources.source import declared_topics


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def die_with_parent() -> None:
    """``preexec_fn`` for child processes: the kernel sends SIGTERM to the child when its parent dies."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL("libc.so.6", use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


def wait_for_port(host: str, port: int, timeout_s: float, process: subprocess.Popen[bytes] | None = None) -> None:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process is not None and process.poll() is not None:
            raise EmbeddedBrokerError(f"the broker exited with code {process.returncode} while starting")
        with contextlib.suppress(OSError), socket.create_connection((host, port), timeout=0.5):
            return
        time.sleep(0.05)
    raise EmbeddedBrokerError(f"nothing accepted connections on {host}:{port} within {timeout_s:.0f} s")


def stop_process(process: subprocess.Popen[bytes], grace_s: float = 10.0) -> None:
    """SIGTERM, then SIGKILL after ``grace_s``; always reaps the process."""
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def spawn_worker(settings: Settings, log_file: Path | None = None) -> subprocess.Popen[bytes]:
    """Start ``leadscore worker`` as a child process with ``settings``; it dies when this process dies."""
    env = {**os.environ, **settings.to_env()}
    output = open(log_file, "ab") if log_file else subprocess.DEVNULL  # noqa: SIM115
    try:
        return subprocess.Popen(
            [sys.executable, "-m", "streams.cli", "worker"],
            env=env,
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            preexec_fn=die_with_parent,
            start_new_session=True,  # Ctrl-C reaches the parent only; it stops children in order
        )
    finally:
        if not isinstance(output, int):
            output.close()


class BrokerProcess:
    """What the embedded Tansu broker and Apache Kafka's broker share: a child process listening on
    ``127.0.0.1:port``, used as a context manager, and settings for a worker on it with its topics created.
    Subclasses start and stop the process; ``SETTINGS`` holds their test-friendly settings."""

    SETTINGS: ClassVar[dict[str, object]] = {}

    def __init__(self, port: int | None = None, log_file: Path | None = None) -> None:
        self.port = port or free_port()
        self.log_file = log_file
        self._process: subprocess.Popen[bytes] | None = None

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def pid(self) -> int | None:
        return self._process.pid if self._process else None

    def start(self, timeout_s: float = 30.0) -> Self:
        raise NotImplementedError

    def stop(self) -> None:
        raise NotImplementedError

    def settings(self, app_id: str, data_dir: Path, **overrides: object) -> Settings:
        """Settings for a worker on this broker (its own web port and data directory), its topics created."""
        values = {"bootstrap_servers": self.bootstrap, "app_id": app_id, "web_port": free_port(), "data_dir": data_dir}
        settings = load_settings(**{**values, **self.SETTINGS, **overrides})
        create_topics(settings, sources=declared_topics(settings.sources_path))
        return settings

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
