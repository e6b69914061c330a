"""Running a worker process: ``leadscore worker``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import faust
import mode.loop

from streams.app import create_app
from streams.broker import die_with_parent
from streams.settings import Settings


class QuietWorker(faust.Worker):
    """A Faust worker without the terminal spinner.

    The spinner sets the root logger to DEBUG when the level is WARNING or higher and costs about 20 % of
    throughput in log formatting (see docs/decisions/004-quiet-worker.md).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.spinner = None


def run_worker(settings: Settings) -> None:
    """Start a worker in this process and block until it is stopped (SIGINT or SIGTERM)."""
    if settings.uvloop:
        mode.loop.use("uvloop")  # before any event loop exists: the main one and the consumer thread's
    leadscore = create_app(settings)
    worker = QuietWorker(leadscore.app, loglevel=settings.log_level, quiet=True, redirect_stdouts=False)
    worker.execute_from_commandline()


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
