"""Example model files shipped with leadscore."""

from __future__ import annotations

from pathlib import Path

EXAMPLES_DIR = Path(__file__).parent


def example_model_path(name: str = "b2b") -> Path:
    """Path of a shipped example model, e.g. ``example_model_path("b2b")``."""
    return EXAMPLES_DIR / f"{name}.yaml"
