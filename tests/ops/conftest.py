"""Fixtures of the deployment-kit tests: the checks module of deploy/, and the embedded broker for the live test."""

from __future__ import annotations

import importlib.util
import shutil
import sys
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"


def _load_checks() -> ModuleType:
    spec = importlib.util.spec_from_file_location("deploy_check", DEPLOY / "check.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


checks = _load_checks()


def require_tool(name: str) -> str:
    """Path of a Debian tool the kit's tests need. Missing is a failure, not a skip: `make ops-tools` installs it."""
    path = shutil.which(name)
    if path is None:
        pytest.fail(f"{name} is not installed: run `make ops-tools` (Debian's prometheus package)")
    return path
