"""Reliability scenarios. Those that talk to a broker are marked ``integration``: the scenarios (each starts its own
broker) and the tests that ask for the session's ``broker``; the rest (broken model files, payloads, the recovered
clock) need none and run with the unit tests. The long scenarios are also marked ``reliability`` and run only when
selected (``make reliability`` runs ``pytest -m reliability``)."""

from __future__ import annotations

import pytest

SCENARIO_MODULES = ("test_fast.py", "test_long.py")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    selected = "reliability" in (config.option.markexpr or "")
    skip = pytest.mark.skip(reason="long reliability scenario: run with `make reliability`")
    for item in items:
        if "reliability" not in str(item.fspath):
            continue
        if item.fspath.basename in SCENARIO_MODULES or "broker" in getattr(item, "fixturenames", ()):
            item.add_marker(pytest.mark.integration)
        if item.get_closest_marker("reliability") and not selected:
            item.add_marker(skip)
