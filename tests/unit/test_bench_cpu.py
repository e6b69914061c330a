"""The benchmark's CPU readings (bench.cpu): real processes that burn a known amount of CPU, a /proc tree written by
hand, the window arithmetic, and the marks a contestant's progress file carries."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from bench.contestants.progress import Progress, read_progress
from bench.cpu import Mark, descendants, idle_rate, process_cpu_s, quietest, tree_cpu_s, trees_cpu_s, window

BURN_S = 0.4
#: Burns BURN_S of its own CPU (measured by itself), says so, then idles until stdin closes.
BURNER = f"""
import sys, time
while time.process_time() < {BURN_S}:
    pass
print("burnt", flush=True)
sys.stdin.read()
"""
#: Starts a burner as its child, says so once the child has burnt, then idles until stdin closes.
PARENT = f"""
import subprocess, sys
child = subprocess.Popen([sys.executable, "-c", {BURNER!r}], stdin=subprocess.PIPE, stdout=subprocess.PIPE)
child.stdout.readline()
print(child.pid, flush=True)
sys.stdin.read()
child.stdin.close()
child.wait()
print("reaped", flush=True)
sys.stdin.read()
"""
#: Python's start-up on top of what a process burns itself (generous: a shared machine stretches wall time, not
#: CPU time); /proc counts whole clock ticks, user and system apiece, so a reading may fall short by two.
OVERHEAD_S = 0.5
TICKS_S = 2 / os.sysconf("SC_CLK_TCK")


def _python(code: str) -> subprocess.Popen[str]:
    return subprocess.Popen([sys.executable, "-c", code], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)


@pytest.fixture
def burner() -> Iterator[subprocess.Popen[str]]:
    process = _python(BURNER)
    assert process.stdout is not None and process.stdout.readline().strip() == "burnt"
    yield process
    process.kill()
    process.wait()


def test_a_process_that_burns_a_known_amount_of_cpu_reads_as_that_much(burner: subprocess.Popen[str]) -> None:
    used = process_cpu_s(burner.pid)
    assert used is not None
    assert BURN_S - TICKS_S <= used <= BURN_S + OVERHEAD_S
    time.sleep(0.3)  # idle: stays put
    again = process_cpu_s(burner.pid)
    assert again is not None and again - used < 0.05


def test_a_process_tree_counts_a_live_child_and_then_the_reaped_one() -> None:
    parent = _python(PARENT)
    assert parent.stdout is not None and parent.stdin is not None
    try:
        child = int(parent.stdout.readline())
        assert descendants(parent.pid) == [child]
        own, tree = process_cpu_s(parent.pid), tree_cpu_s(parent.pid)
        assert own is not None and tree is not None
        assert tree - own >= BURN_S - TICKS_S  # the live child's CPU, which its parent's own figure does not hold yet
        parent.stdin.write("\n")
        parent.stdin.close()
        assert parent.stdout.readline().strip() == "reaped"
        assert descendants(parent.pid) == []
        after = tree_cpu_s(parent.pid)
        assert after is not None and after >= tree - TICKS_S  # the ended child now counts in the parent's cutime
    finally:
        parent.kill()
        parent.wait()


def test_a_process_that_is_gone_reads_as_unknown(burner: subprocess.Popen[str]) -> None:
    pid = burner.pid
    burner.kill()
    burner.wait()
    assert process_cpu_s(pid) is None
    assert tree_cpu_s(pid) is None
    assert trees_cpu_s([os.getpid(), pid]) is None
    assert trees_cpu_s([]) is None


def _stat(proc: Path, pid: int, name: str, ppid: int, ticks: tuple[int, int, int, int]) -> None:
    fields = ["S", str(ppid), *["0"] * 9, *map(str, ticks), *["0"] * 30]
    (proc / str(pid)).mkdir()
    (proc / str(pid) / "stat").write_text(f"{pid} ({name}) {' '.join(fields)}\n")


def test_stat_fields_are_read_after_a_command_name_with_spaces_and_parentheses(tmp_path: Path) -> None:
    tick = 1 / os.sysconf("SC_CLK_TCK")
    _stat(tmp_path, 10, "java (broker) x", 1, (100, 50, 7, 3))
    _stat(tmp_path, 11, "child", 10, (20, 10, 0, 0))
    _stat(tmp_path, 12, "grandchild", 11, (5, 5, 0, 0))
    _stat(tmp_path, 13, "stranger", 1, (999, 999, 0, 0))
    (tmp_path / "self").mkdir()  # not a pid: ignored
    assert process_cpu_s(10, tmp_path) == pytest.approx(160 * tick)
    assert sorted(descendants(10, tmp_path)) == [11, 12]
    assert tree_cpu_s(10, tmp_path) == pytest.approx(200 * tick)
    assert trees_cpu_s([11, 13], tmp_path) == pytest.approx((40 + 1998) * tick)


def test_a_window_is_the_events_and_cpu_between_two_marks() -> None:
    first = Mark(at=100.0, count=1000, cpu_s=5.0, broker_cpu_s=2.0)
    last = Mark(at=104.0, count=21_000, cpu_s=7.0, broker_cpu_s=3.0)
    figures = window(first, last)
    assert figures["events"] == 20_000
    assert figures["eps"] == 5000.0
    assert figures["cpu_s"] == 2.0
    assert figures["cpu_s_per_event"] == pytest.approx(1e-4)
    assert figures["broker_cpu_s_per_event"] == pytest.approx(5e-5)
    unknown = window(Mark(100.0, 0, None), Mark(101.0, 10, 1.0))
    assert unknown["cpu_s"] is None and unknown["cpu_s_per_event"] is None and unknown["broker_cpu_s"] is None
    assert Mark.from_dict(last.to_dict()) == last
    assert Mark.from_dict(None) is None


def test_progress_marks_the_first_and_the_nth_input_with_this_process_and_the_watched_ones(tmp_path: Path) -> None:
    path = tmp_path / "progress.json"
    progress = Progress(path, every_s=3600, target=3, watch=[os.getpid()])
    for _ in range(5):
        progress.processed(outputs=2, changes=1)
    progress.write()
    state = read_progress(path)
    first, last = Mark.from_dict(state["first_mark"]), Mark.from_dict(state["last_mark"])
    assert first is not None and last is not None
    assert (first.count, last.count, state["count"]) == (1, 3, 5)
    assert first.cpu_s is not None and last.cpu_s is not None and last.cpu_s >= first.cpu_s
    assert first.broker_cpu_s is not None  # this process, watched
    assert state["outputs"] == 10 and state["score_changes"] == 5
    unwatched = Progress(tmp_path / "other.json", every_s=3600)
    unwatched.processed(outputs=0, changes=0)
    assert unwatched.first is not None and unwatched.first.broker_cpu_s is None and unwatched.last is None


def test_an_idle_process_reads_as_idle(burner: subprocess.Popen[str]) -> None:
    rate = idle_rate(burner.pid, seconds=0.3)
    assert rate["cpu_s_per_s"] is not None and rate["cpu_s_per_s"] < 0.2
    assert idle_rate(None, seconds=0.0)["cpu_s_per_s"] is None


def test_the_brokers_idle_rate_is_the_quieter_reading() -> None:
    busy, calm = {"seconds": 3.0, "cpu_s": 0.9, "cpu_s_per_s": 0.3}, {"seconds": 3.0, "cpu_s": 0.3, "cpu_s_per_s": 0.1}
    assert quietest(busy, calm) == {**calm, "readings": [0.3, 0.1]}
    unknown = {"seconds": 3.0, "cpu_s": None, "cpu_s_per_s": None}
    assert quietest(unknown, busy)["cpu_s_per_s"] == 0.3
    assert quietest(unknown)["cpu_s_per_s"] is None


def test_leadscore_is_scraped_after_half_of_what_the_rest_should_take() -> None:
    from bench.throughput import FINAL_POLL_S, LONGEST_POLL_S, METRICS_POLL_S, _next_poll_s

    first = Mark(at=100.0, count=1000, cpu_s=1.0)
    assert _next_poll_s(None, 0, 20_000, 100.0) == METRICS_POLL_S  # nothing seen yet
    assert _next_poll_s(first, 5000, 13_000, 102.0) == 2.0  # 2,000 events/s, 8,000 to go: 4 s, half of it
    assert _next_poll_s(first, 12_990, 13_000, 106.0) == FINAL_POLL_S
    assert _next_poll_s(first, 1100, 1_000_000, 110.0) == LONGEST_POLL_S
