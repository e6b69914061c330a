"""The account roll-up end to end (issue 16, step ``accounts``): one worker on the throughput steps' input topic,
under the shipped b2b model with its ``account:`` section and under the same file without it.

Both runs are :func:`bench.throughput.leadscore` (one worker, a fresh app id, the same broker and input topic as
the other contestants): events/s from the first event consumed to the N-th, CPU seconds per event of the worker's
process tree over that window. The accounts run then also waits until the account agent has consumed every member
update the lead side sent (``leadscore_member_updates_consumed_total`` reaches
``leadscore_member_updates_sent_total``): the same N events over the window up to that moment are the events/s
and CPU per event with the roll-up caught up (``roll_up`` in its result). The in-process costs of each side are
:mod:`bench.accounts` (the ``features`` step).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from bench import throughput
from scoring import example_model_path
from streams.devtools.brokers import Broker


def without_accounts(broker: Broker, source: str, events: int, workdir: Path) -> dict[str, Any]:
    """One worker under the contestants' model (b2b without its ``account:`` section, :mod:`bench.model`, the
    default of :func:`bench.throughput.leadscore`): no member updates, no account agent work."""
    run = throughput.leadscore(broker, "bench-lead-only", source, events, workdir)
    return {**run, "model": "b2b without account:"}


def with_accounts(broker: Broker, source: str, events: int, workdir: Path) -> dict[str, Any]:
    """One worker under the shipped b2b model, account section included, counted to the N-th event and then to
    the last member update consumed."""
    path = example_model_path("b2b")
    run = throughput.leadscore(broker, "bench-accounts", source, events, workdir, model_paths=[path], roll_up=True)
    return {**run, "model": "b2b"}
