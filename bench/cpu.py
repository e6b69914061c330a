"""CPU seconds (user + system) of processes, from ``/proc``, and the throughput window they are read over.

A contestant is judged by the CPU its own processes use per event, the broker's separately (ADR 032): a figure
that holds on a shared machine where wall time does not. :func:`tree_cpu_s` reads a process and its descendants
(live ones from their ``/proc/PID/stat``, ended ones from the parent's ``cutime``/``cstime``); a :class:`Mark`
holds the readings of one moment, and :func:`window` turns the first and the N-th input's marks into events/s and
CPU seconds per event over the same window.

Standard library only: the contestants import it in either virtualenv (leadscore's and the Quix peer's).
"""

from __future__ import annotations

import os
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass
from functools import cache
from pathlib import Path
from typing import Any

PROC = Path("/proc")
#: Fields of ``/proc/PID/stat`` after the command name, counted from 0 (``man 5 proc``: fields 4, 14 to 17).
PPID, UTIME, STIME, CUTIME, CSTIME = 1, 11, 12, 13, 14


@cache
def _tick_s() -> float:
    return 1.0 / os.sysconf("SC_CLK_TCK")


def _stat(pid: int, proc: Path = PROC) -> list[str] | None:
    """The fields of ``/proc/PID/stat`` after the command name (which may hold spaces); None when it is gone."""
    try:
        return (proc / str(pid) / "stat").read_text().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def process_cpu_s(pid: int, proc: Path = PROC) -> float | None:
    """CPU seconds of ``pid`` (every thread) and of its children that have ended and been waited for; None when
    there is no such process."""
    fields = _stat(pid, proc)
    if fields is None:
        return None
    return sum(int(fields[n]) for n in (UTIME, STIME, CUTIME, CSTIME)) * _tick_s()


def _parents(proc: Path = PROC) -> dict[int, int]:
    """Every live process's parent: ``{pid: ppid}``."""
    parents = {}
    for entry in proc.iterdir():
        if entry.name.isdigit() and (fields := _stat(int(entry.name), proc)) is not None:
            parents[int(entry.name)] = int(fields[PPID])
    return parents


def _children(pid: int, proc: Path = PROC) -> list[int] | None:
    """The live children of ``pid`` from ``/proc/PID/task/TID/children`` (one read per thread, no scan of every
    process); None where the kernel does not offer those files."""
    try:
        threads = list((proc / str(pid) / "task").iterdir())
        return [int(child) for thread in threads for child in (thread / "children").read_text().split()]
    except OSError:
        return None


def _child_map(pid: int, proc: Path = PROC) -> Callable[[int], list[int]]:
    """How to find a process's live children: its own children files, or else one scan of every process's parent."""
    if _children(pid, proc) is not None:
        return lambda of: _children(of, proc) or []
    tree: dict[int, list[int]] = {}
    for child, parent in _parents(proc).items():
        tree.setdefault(parent, []).append(child)
    return lambda of: tree.get(of, [])


def descendants(pid: int, proc: Path = PROC) -> list[int]:
    """The live children of ``pid``, their children, and so on."""
    children = _child_map(pid, proc)
    found, todo = [], list(children(pid))
    while todo:
        child = todo.pop()
        found.append(child)
        todo.extend(children(child))
    return found


def tree_cpu_s(pid: int, proc: Path = PROC) -> float | None:
    """CPU seconds of ``pid`` and all its descendants, live or ended; None when ``pid`` is gone. A descendant that
    ends between the two reads is missed until its parent waits for it (a few ticks at most)."""
    own = process_cpu_s(pid, proc)
    if own is None:
        return None
    return own + sum(process_cpu_s(child, proc) or 0.0 for child in descendants(pid, proc))


def trees_cpu_s(pids: Iterable[int], proc: Path = PROC) -> float | None:
    """The sum of :func:`tree_cpu_s` over ``pids``; None when any of them is gone (or none is given)."""
    readings = [tree_cpu_s(pid, proc) for pid in pids]
    if not readings or any(r is None for r in readings):
        return None
    return sum(r for r in readings if r is not None)


@dataclass(frozen=True)
class Mark:
    """One moment of a throughput window: when (wall clock, s), how many inputs were processed by then, and the CPU
    seconds the contestant's processes and the broker's had used by then."""

    at: float
    count: int
    cpu_s: float | None
    broker_cpu_s: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any] | None) -> Mark | None:
        if data is None:
            return None
        return cls(at=data["at"], count=data["count"], cpu_s=data.get("cpu_s"), broker_cpu_s=data.get("broker_cpu_s"))


def _per_event(seconds: float | None, events: int) -> float | None:
    return seconds / events if seconds is not None and events > 0 else None


def _used(before: float | None, after: float | None) -> float | None:
    return round(after - before, 3) if before is not None and after is not None else None


def window(first: Mark, last: Mark) -> dict[str, Any]:
    """Events/s and CPU per event between two marks: the inputs processed after ``first`` up to ``last``."""
    events, seconds = last.count - first.count, last.at - first.at
    cpu_s, broker_s = _used(first.cpu_s, last.cpu_s), _used(first.broker_cpu_s, last.broker_cpu_s)
    return {
        "events": events,
        "seconds": round(seconds, 3),
        "eps": events / seconds if seconds > 0 else 0.0,
        "cpu_s": cpu_s,
        "cpu_s_per_event": _per_event(cpu_s, events),
        "broker_cpu_s": broker_s,
        "broker_cpu_s_per_event": _per_event(broker_s, events),
    }


def idle_rate(pid: int | None, seconds: float = 3.0) -> dict[str, Any]:
    """CPU seconds per second of ``pid``'s tree over ``seconds`` of this process sleeping: the broker's own
    housekeeping while nothing is sent to it, part of every window's broker CPU in proportion to its length."""
    before = tree_cpu_s(pid) if pid is not None else None
    time.sleep(seconds)
    after = tree_cpu_s(pid) if pid is not None else None
    used = _used(before, after)
    return {"seconds": seconds, "cpu_s": used, "cpu_s_per_s": None if used is None else used / seconds}


def quietest(*readings: dict[str, Any]) -> dict[str, Any]:
    """The reading of :func:`idle_rate` with the least CPU per second (a broker may still be flushing what it was
    just sent), with every reading kept beside it."""
    known = [r for r in readings if r["cpu_s_per_s"] is not None]
    chosen = min(known, key=lambda r: float(r["cpu_s_per_s"])) if known else readings[0]
    return {**chosen, "readings": [r["cpu_s_per_s"] for r in readings]}
