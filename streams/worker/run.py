"""Running a worker process: ``leadscore worker``."""

from __future__ import annotations

from typing import Any

import faust
import mode.loop
from faust.types import AppT
from mode import ServiceT

from streams.kafka.access import check_access
from streams.settings import Settings
from streams.worker.app import create_app


class QuietWorker(faust.Worker):
    """A Faust worker without the terminal spinner.

    The spinner sets the root logger to DEBUG when the level is WARNING or higher and costs about 20 % of
    throughput in log formatting (see docs/decisions/004-quiet-worker.md).
    """

    def __init__(self, app: AppT, *services: ServiceT, **options: Any) -> None:  # options: faust.Worker's own
        super().__init__(app, *services, **options)
        self.spinner = None


def run_worker(settings: Settings) -> None:
    """Start a worker in this process and block until it is stopped (SIGINT or SIGTERM). A secured cluster that
    refuses the login or the certificate stops it at once with :class:`~streams.errors.BrokerAccessError`."""
    check_access(settings)
    if settings.uvloop:
        mode.loop.use("uvloop")  # before any event loop exists: the main one and the consumer thread's
    leadscore = create_app(settings)
    worker = QuietWorker(leadscore.app, loglevel=settings.log_level, quiet=True, redirect_stdouts=False)
    worker.execute_from_commandline()
