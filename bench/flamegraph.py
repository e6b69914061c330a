"""``--profile``: a py-spy flame graph of the worker's hot path, from a run of its own (not the measured ones).

A fresh worker (its own app id) reads the same input topic; once it has scored a first thousand events, py-spy
samples it for a while without stopping it (``--nonblocking``) and writes ``leadscore-profile.svg``.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
from pathlib import Path
from typing import Any

from bench.common import BenchError, prefixed_topics, progress_bar, wait_until, worker_metrics
from bench.model import lead_model_file
from streams.devtools.brokers import Broker
from streams.devtools.processes import spawn_worker, stop_process


def py_spy() -> str:
    found = shutil.which("py-spy") or str(Path(sys.executable).with_name("py-spy"))
    if not Path(found).exists():
        raise BenchError("py-spy is not installed: `make bench` installs the bench extra")
    return found


def profile(broker: Broker, source: str, seconds: float, workdir: Path, out: Path) -> dict[str, Any]:
    topics, models = prefixed_topics("profile", events=source), [lead_model_file(workdir)]
    settings = broker.settings("profile", workdir / "profile", topics=topics, model_paths=models)
    worker = spawn_worker(settings, log_file=workdir / "profile.log")
    svg = out / "leadscore-profile.svg"
    try:
        with progress_bar() as bar:
            bar.add_task(f"profiling the worker for {seconds:.0f} s", total=None, note="")

            def consumed() -> float:
                return worker_metrics(settings.web_port).get("leadscore_events_consumed_total", 0)

            wait_until(lambda: consumed() >= 1000, 180, "profiled worker", worker, every_s=0.5)
            command = [py_spy(), "record", "--nonblocking", "--pid", str(worker.pid), "--duration", str(int(seconds))]
            command += ["--rate", "200", "--output", str(svg)]
            done = subprocess.run(command, capture_output=True, text=True, timeout=seconds + 60)
            if done.returncode != 0:
                raise BenchError(f"py-spy failed: {(done.stderr or done.stdout).strip().splitlines()[-1:]}")
    finally:
        stop_process(worker, grace_s=20)
    return {"flamegraph": svg.name, "seconds": seconds}
