"""The audit trail of model versions: every worker announces the models it scores with, at start-up and after each
reload, on ``lead-model-deployments`` (ADR 018). A team reads who changed what, why and when; ``leadscore models
history`` prints it.

The deployment id derives from the application, model, version and file content, so workers and restarts that run
the same file repeat the same id (consumers keep one); a changed file under an unchanged version gets a new id.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from typing import Any

from scoring import ScoringModel, derived_id
from streams.kafka.codec import AvroCodec
from streams.settings import Settings


def deployment_record(settings: Settings, model: ScoringModel, deployed_at_ms: int) -> dict[str, Any]:
    """One ModelDeployed record (the Avro contract's fields)."""
    return {
        "deployment_id": derived_id("deployment", settings.app_id, model.id, model.version, model.content_sha256),
        "app_id": settings.app_id,
        "mode": "SHADOW" if settings.shadow else "LIVE",
        "model_id": model.id,
        "model_version": model.version,
        "content_sha256": model.content_sha256,
        "author": model.author,
        "change_note": model.change_note,
        "reason": model.reason,
        "rules": {rule.id: rule.points for rule in model.rules},
        "levels": {level.name: level.enter for level in model.levels},
        "deployed_at": deployed_at_ms,
        "worker": settings.advertised_url,
    }


def deployment_messages(
    settings: Settings, codec: AvroCodec, models: Iterable[ScoringModel], now_ms: int | None = None
) -> list[tuple[bytes, bytes]]:
    """``(key, value)`` per model: keyed by model id, so one model's history stays in order on one partition."""
    at = now_ms if now_ms is not None else int(time.time() * 1000)
    return [
        (model.id.encode(), codec.encode("ModelDeployed", deployment_record(settings, model, at))) for model in models
    ]
