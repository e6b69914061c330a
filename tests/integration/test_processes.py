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


def session_members(session_id: int) -> list[int]:
    """Pids of live processes in a session (the demo starts its broker and worker in its own session)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        if fields[0] != "Z" and int(fields[3]) == session_id:
            members.append(int(entry.name))
    return members


def wait_gone(predicate, timeout_s: float = 10.0) -> bool:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(0.1)
    return predicate()


def alive(pid: int) -> bool:
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


def test_demo_with_duration_prints_counts_exits_zero_and_leaves_no_process():
    demo = subprocess.Popen(
        [sys.executable, "-m", "streams.cli", "demo", "--duration", "10", "--rate", "80"],
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        start_new_session=True,
        text=True,
    )
    output, _ = demo.communicate(timeout=180)
    assert demo.returncode == 0, output
    summary = re.search(r"events produced (\d+), score changes (\d+), threshold crossings (\d+)", output)
    assert summary, output
    produced, changes, crossings = map(int, summary.groups())
    assert produced > 100 and changes > 100 and crossings > 0
    assert wait_gone(lambda: session_members(demo.pid) == []), session_members(demo.pid)


def test_broker_command_stops_on_ctrl_c_and_takes_tansu_with_it():
    process = subprocess.Popen(
        [sys.executable, "-m", "streams.cli", "broker", "--port", "0"],
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
    )
    line = process.stderr.readline()
    assert "broker listening on 127.0.0.1:" in line
    assert len(session_members(process.pid)) == 2  # the CLI and Tansu
    process.send_signal(signal.SIGINT)
    assert process.wait(timeout=20) == 0
    assert wait_gone(lambda: session_members(process.pid) == [])


@pytest.mark.parametrize("how", [signal.SIGKILL, signal.SIGTERM])
def test_embedded_broker_dies_with_its_parent(how):
    script = (
        "from streams.broker import EmbeddedBroker; import time\n"
        "b = EmbeddedBroker().start(); print(b.pid, flush=True); time.sleep(120)\n"
    )
    parent = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    broker_pid = int(parent.stdout.readline())
    assert alive(broker_pid)
    os.kill(parent.pid, how)
    parent.wait(timeout=10)
    assert wait_gone(lambda: not alive(broker_pid)), f"tansu {broker_pid} survived its parent"
