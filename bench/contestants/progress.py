"""How a contestant process tells the driver how far it got: a small JSON file, rewritten a few times a second.

The contestant stamps the wall-clock time of its first and of its latest processed input itself, so the throughput
(inputs between the two stamps / seconds between them) does not depend on how often the driver looks. At its first
and at its N-th input (``target``) it also takes a :class:`bench.cpu.Mark`: the CPU seconds of its own process tree
and of the processes it was told to ``watch`` (the broker), so CPU per event is read over the same window as the
throughput (ADR 032). Imported by contestants in either virtualenv: standard library only.
"""

from __future__ import annotations

import json
import os
import threading
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.cpu import Mark, tree_cpu_s, trees_cpu_s


class Progress:
    """Counts processed inputs and emitted outputs; a daemon thread writes them to ``path`` every ``every_s``."""

    def __init__(self, path: Path, every_s: float = 0.2, target: int | None = None, watch: Sequence[int] = ()) -> None:
        self.path = path
        self.every_s = every_s
        self.target = target
        self.watch = tuple(watch)
        self.count = 0
        self.outputs = 0
        self.changes = 0
        self.first_at: float | None = None
        self.last_at: float | None = None
        self.first: Mark | None = None  # at the first input
        self.last: Mark | None = None  # at the target-th input
        threading.Thread(target=self._loop, name="bench-progress", daemon=True).start()

    def processed(self, outputs: int, changes: int) -> None:
        """One input done: ``outputs`` records emitted for it, ``changes`` of them ScoreChanged."""
        now = time.time()
        count = self.count + 1
        if count == 1:
            self.first_at = now
            self.first = self.mark(now, count)
        if count == self.target:
            self.last = self.mark(now, count)
        self.last_at = now
        self.outputs += outputs
        self.changes += changes
        self.count = count  # last: a snapshot that sees the count sees its marks

    def mark(self, at: float, count: int) -> Mark:
        """The CPU readings of this moment: this process's tree, and the watched processes' (None if none)."""
        broker = trees_cpu_s(self.watch) if self.watch else None
        return Mark(at=at, count=count, cpu_s=tree_cpu_s(os.getpid()), broker_cpu_s=broker)

    def snapshot(self) -> dict[str, Any]:
        count = self.count
        return {
            "count": count,
            "outputs": self.outputs,
            "score_changes": self.changes,
            "first_at": self.first_at,
            "last_at": self.last_at,
            "first_mark": self.first.to_dict() if self.first else None,
            "last_mark": self.last.to_dict() if self.last else None,
        }

    def write(self) -> None:
        temporary = self.path.with_suffix(".tmp")
        temporary.write_text(json.dumps(self.snapshot()))
        os.replace(temporary, self.path)

    def _loop(self) -> None:
        while True:
            time.sleep(self.every_s)
            self.write()


def read_progress(path: Path) -> dict[str, Any]:
    """The last snapshot a contestant wrote; zeros before its first."""
    try:
        return dict(json.loads(path.read_text()))
    except (OSError, ValueError):
        return {"count": 0, "outputs": 0, "score_changes": 0, "first_at": None, "last_at": None}
