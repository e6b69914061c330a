"""Reloading models without a restart: on SIGHUP, or when a model file's content changes (ADR 015).

A new set of models is loaded and checked completely before anything changes; then, under the state lock (between
batches, never inside one), the processor gets a new engine. If loading fails the running models stay, the error
is logged with the file and field, and ``leadscore_model_reloads_total{outcome="failed"}`` counts it. Kubernetes
updates a mounted ConfigMap by swapping a symlink: the content check sees that within ``model_reload_s``.
"""

from __future__ import annotations

import asyncio
import hashlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from pathlib import Path

from scoring import Engine, LeadscoreError, ScoringModel, load_models
from streams.worker.metrics import Metrics
from streams.worker.processor import Processor

log = logging.getLogger(__name__)


class ModelReloader:
    """Swaps the processor's engine when the model files change (content, not timestamps)."""

    def __init__(
        self,
        paths: Sequence[Path],
        processor: Processor,
        metrics: Metrics,
        lock: asyncio.Lock,
        models: Sequence[ScoringModel],
        announce: Callable[[Sequence[ScoringModel]], Awaitable[None]] | None = None,
    ) -> None:
        self.paths = list(paths)
        self.announce = announce  # tells the audit trail (lead-model-deployments) about the new models
        self.processor = processor
        self.metrics = metrics
        self.lock = lock
        self._fingerprint = tuple(model.content_sha256 for model in models)  # of the files the models came from
        self._show(models)

    def _read_fingerprint(self) -> tuple[str, ...]:
        """The SHA-256 of each model file as ``load_model`` computes it (``content_sha256``)."""
        hashes = []
        for path in self.paths:
            try:
                hashes.append(hashlib.sha256(path.read_bytes()).hexdigest())
            except OSError as exc:
                hashes.append(f"unreadable: {exc}")
        return tuple(hashes)

    async def check(self, force: bool = False) -> bool:
        """Reload if the files changed (or ``force``); True when new models are running."""
        fingerprint = self._read_fingerprint()
        if fingerprint == self._fingerprint and not force:
            return False
        self._fingerprint = fingerprint
        try:
            models = load_models(self.paths)
        except LeadscoreError as exc:
            self.metrics.model_reloads.labels("failed").inc()
            log.error("model reload failed, the running models stay: %s", exc)
            return False
        async with self.lock:
            self.processor.engine = Engine(models)
        self.metrics.model_reloads.labels("ok").inc()
        self._show(models)
        if self.announce is not None:
            await self.announce(models)
        log.warning("models reloaded: %s", ", ".join(f"{m.id} v{m.version}" for m in models))
        return True

    def _show(self, models: Sequence[ScoringModel]) -> None:
        self.metrics.model_info.clear()
        for model in models:
            self.metrics.model_info.labels(model.id, str(model.version)).set(1)
