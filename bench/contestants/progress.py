"""How a contestant process tells the driver how far it got: a small JSON file, rewritten a few times a second.

The contestant stamps the wall-clock time of its first and of its latest processed input itself, so the throughput
(inputs between the two stamps / seconds between them) does not depend on how often the driver looks.
Imported by contestants in either virtualenv: standard library only.
"""

from __future__ import annotations

import json
import os
import threading
import time
from pathlib import Path
from typing import Any


class Progress:
    """Counts processed inputs and emitted outputs; a daemon thread writes them to ``path`` every ``every_s``."""

    def __init__(self, path: Path, every_s: float = 0.2) -> None:
        self.path = path
        self.every_s = every_s
        self.count = 0
        self.outputs = 0
        self.changes = 0
        self.first_at: float | None = None
        self.last_at: float | None = None
        threading.Thread(target=self._loop, name="bench-progress", daemon=True).start()

    def processed(self, outputs: int, changes: int) -> None:
        """One input done: ``outputs`` records emitted for it, ``changes`` of them ScoreChanged."""
        now = time.time()
        if self.first_at is None:
            self.first_at = now
        self.last_at = now
        self.count += 1
        self.outputs += outputs
        self.changes += changes

    def snapshot(self) -> dict[str, Any]:
        return {
            "count": self.count,
            "outputs": self.outputs,
            "score_changes": self.changes,
            "first_at": self.first_at,
            "last_at": self.last_at,
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
