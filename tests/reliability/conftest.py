"""Reliability scenarios: all talk to a broker (marked ``integration``); the long ones are also marked
``reliability`` and run only when selected (``make reliability`` runs ``pytest -m reliability``)."""

from __future__ import annotations

import pytest


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    selected = "reliability" in (config.option.markexpr or "")
    skip = pytest.mark.skip(reason="long reliability scenario: run with `make reliability`")
    for item in items:
        if "reliability" not in str(item.fspath):
            continue
        item.add_marker(pytest.mark.integration)
        if item.get_closest_marker("reliability") and not selected:
            item.add_marker(skip)
