"""Avro contracts (.avsc) of every leadscore topic: the public API for other teams."""

from __future__ import annotations

from pathlib import Path

SCHEMAS_DIR = Path(__file__).parent
LOCAL_REGISTRY_FILE = SCHEMAS_DIR / "registry.json"
