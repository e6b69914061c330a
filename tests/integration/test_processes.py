"""The demo and the embedded broker start real processes and leave none behind, whatever way they stop."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from tests.integration.conftest import wait_until


def _stat(pid: int) -> list[str] | None:
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    except OSError:
        return None


def alive(pid: int) -> bool:
    fields = _stat(pid)
    return fields is not None and fields[0] != "Z"


def descendants(pid: int) -> set[int]:
    """Live descendants of ``pid`` (children run in sessions of their own, so walk parent links)."""
    parents = {}
    for entry in Path("/proc").iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name))) and fields[0] != "Z":
            parents[int(entry.name)] = int(fields[1])
    found, frontier = set(), {pid}
    while frontier:
        frontier = {child for child, parent in parents.items() if parent in frontier} - found
        found |= frontier
    return found


def watch(process: subprocess.Popen, seconds: float) -> set[int]:
    """Every descendant seen while ``process`` runs for up to ``seconds``."""
    seen: set[int] = set()
    deadline = time.monotonic() + seconds
    while process.poll() is None and time.monotonic() < deadline:
        seen |= descendants(process.pid)
        time.sleep(0.3)
    return seen


def wait_gone(predicate, timeout_s: float = 10.0) -> bool:
    return wait_until(predicate, timeout_s, step_s=0.1)


def ctrl_c_reaches_it() -> None:
    """``preexec_fn``: SIGINT back to its default in the child. A shell without job control (``nohup cmd &``, some
    CI runners) starts its children with SIGINT ignored, and Python keeps an inherited ignore: Ctrl-C would never
    arrive, whatever the command does."""
    signal.signal(signal.SIGINT, signal.SIG_DFL)


def demo_command(*args: str) -> list[str]:
    return [sys.executable, "-m", "streams.cli", "demo", "--rate", "80", *args]


@pytest.mark.parametrize("source", ["native", "segment"])  # segment: Segment JSON through a declared source
def test_demo_with_duration_prints_counts_exits_zero_and_leaves_no_process(source):
    demo = subprocess.Popen(
        demo_command("--duration", "10", "--source", source),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    seen = watch(demo, 180)
    output, _ = demo.communicate(timeout=30)
    assert demo.returncode == 0, output
    summary = re.search(r"events produced (\d+), score changes (\d+), threshold crossings (\d+)", output)
    assert summary, output
    produced, changes, crossings = map(int, summary.groups())
    assert produced > 100 and changes > 100 and crossings > 0
    assert int(re.search(r"dead letters (\d+)", output).group(1)) > 0, "malformed demo input must reach the DLQ"
    assert int(re.search(r"accounts scored (\d+)", output).group(1)) > 0, "the demo shows live account scores"
    assert len(seen) >= 2, "the demo should have run a broker and a worker"
    assert wait_gone(lambda: not any(alive(pid) for pid in seen)), [pid for pid in seen if alive(pid)]


def test_live_demo_stops_on_ctrl_c_and_leaves_no_process():
    demo = subprocess.Popen(
        demo_command(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, preexec_fn=ctrl_c_reaches_it
    )
    seen = watch(demo, 12)
    assert demo.poll() is None and len(seen) >= 2
    demo.send_signal(signal.SIGINT)
    output, _ = demo.communicate(timeout=60)
    assert demo.returncode == 0, output
    assert "summary: events produced" in output
    assert wait_gone(lambda: not any(alive(pid) for pid in seen)), [pid for pid in seen if alive(pid)]


def test_broker_command_stops_on_ctrl_c_and_takes_tansu_with_it():
    process = subprocess.Popen(
        [sys.executable, "-m", "streams.cli", "broker", "--port", "0"],
        stderr=subprocess.PIPE,
        text=True,
        preexec_fn=ctrl_c_reaches_it,
    )
    line = process.stderr.readline()
    assert "broker listening on 127.0.0.1:" in line
    tansu = descendants(process.pid)
    assert len(tansu) == 1
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=20) == 0
    assert wait_gone(lambda: not any(alive(pid) for pid in tansu))


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM])
def test_embedded_broker_dies_with_its_parent(how):
    script = (
        "from streams.devtools.broker import EmbeddedBroker; import time\n"
        "b = EmbeddedBroker().start(); print(b.pid, flush=True); time.sleep(120)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    broker_pid = int(parent.stdout.readline())
    assert alive(broker_pid)
    os.kill(parent.pid, how)
    parent.wait(timeout=10)
    assert wait_gone(lambda: not alive(broker_pid)), f"tansu {broker_pid} survived its parent"
