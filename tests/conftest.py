"""Shared fixtures (the example models, a codec, the session's broker), and every test's tier markers.

A test's markers come from where it lives, in one table: the longest prefix of its path (below ``tests/``) in
``TIERS``; files in ``NEEDS_ANALYSIS`` are also marked ``analysis``. No test module marks itself. What the markers
mean is in pyproject.toml (``[tool.pytest.ini_options] markers``), and the Makefile selects by them:

    make test-unit         pytest -m "not integration"         no broker
    make test-integration  pytest -m integration               Tansu (LEADSCORE_TEST_BROKER=kafka: Apache Kafka)
    make reliability       pytest -m reliability tests/reliability   the long scenarios, skipped unless selected
"""

from __future__ import annotations

import functools
import importlib.util
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from scoring import ScoringModel, example_model_path, load_model
from streams.devtools.brokers import Broker, new_broker
from streams.devtools.testing import T0, make_event
from streams.kafka.codec import AvroCodec
from streams.kafka.registry import LocalSchemaRegistry
from streams.worker.stored import as_json, decode_stored

__all__ = ["DAY", "SIMPLE_MODEL", "T0", "make_event"]  # make_event and T0 live in streams.devtools.testing now

TESTS = Path(__file__).parent
DAY = 86_400_000
SIMPLE_MODEL = TESTS / "fixtures" / "simple.yaml"

TIERS: dict[str, tuple[str, ...]] = {
    "unit": ("unit",),  # pure, in-process
    "stream": ("stream",),  # the real Faust app in-process, no broker
    "examples": ("stream",),  # docs/testing.md's example: the public drivers, no broker
    "acceptance": ("acceptance",),  # issue 8 end to end from the CLI on Olist; issue 18 targets on Olist and bank
    "ops": ("ops",),  # the deployment kit (promtool, hadolint, kubernetes-validate)
    "ops/test_prometheus_live.py": ("ops", "integration"),  # ... with a live worker on the broker
    "integration": ("integration",),
    "reliability": ("integration",),  # issue 6 scenarios: each runs a broker (the broker-free checks are in unit/)
    "reliability/test_long.py": ("integration", "reliability"),  # the long ones: `make reliability` only
}
NEEDS_ANALYSIS = {  # numpy, scipy, scikit-learn or matplotlib: imported, or needed by `leadscore fit`/`evaluate`
    "acceptance/test_fit_targets.py",
    "acceptance/test_olist_loop.py",
    "integration/test_evaluate_topics.py",
    "integration/test_fit_against_broker.py",
    "integration/test_rescore.py",
    "integration/test_secured_cluster.py",
    "unit/test_bench_report.py",  # bench.report draws its plots with matplotlib
    "unit/test_cli_evaluate.py",
    "unit/test_cli_fit.py",
    "unit/test_comparison.py",
    "unit/test_evaluate_metrics.py",
    "unit/test_evaluation.py",
    "unit/test_fit_candidates.py",
    "unit/test_fitting.py",
}
ANALYSIS_EXTRA = ("numpy", "scipy", "sklearn", "matplotlib")


@functools.cache
def tier_markers(path: Path) -> tuple[str, ...]:
    """The markers of the test file at ``path``: its row in ``TIERS``, plus ``analysis`` if it needs the extra."""
    relative = path.relative_to(TESTS).as_posix()
    rows = [prefix for prefix in TIERS if relative == prefix or relative.startswith(f"{prefix}/")]
    if not rows:
        raise pytest.UsageError(f"tests/{relative} is in no tier: give its directory a row in tests/conftest.py TIERS")
    markers = TIERS[max(rows, key=len)]
    return (*markers, "analysis") if relative in NEEDS_ANALYSIS else markers


@functools.cache
def _analysis_installed() -> bool:
    try:
        return all(importlib.util.find_spec(name) is not None for name in ANALYSIS_EXTRA)
    except ImportError:
        return False


def pytest_configure(config: pytest.Config) -> None:
    """A scikit-learn ``ConvergenceWarning`` fails the test: an unconverged model's figures are not its figures."""
    if _analysis_installed():
        config.addinivalue_line("filterwarnings", "error::sklearn.exceptions.ConvergenceWarning")


class _NeedsAnalysis(pytest.Module):
    def collect(self) -> list[pytest.Item]:
        where = self.path.relative_to(TESTS.parent)
        pytest.skip(f"{where} needs the analysis extra: pip install -e '.[analysis]' (or deselect: -m 'not analysis')")


def pytest_pycollect_makemodule(module_path: Path, parent: pytest.Collector) -> pytest.Module | None:
    """Without the analysis extra its test files are not imported (they would fail to): each is one skip."""
    relative = module_path.relative_to(TESTS).as_posix() if module_path.is_relative_to(TESTS) else None
    if relative in NEEDS_ANALYSIS and not _analysis_installed():
        return _NeedsAnalysis.from_parent(parent, path=module_path)
    return None


#: ``make test`` runs ``pytest -n 2 --dist loadscope`` (ADR 045): every test on a broker in this one scope, so they
#: run in one process, in order, on the one session broker, as without xdist; every other test in its module's.
BROKER_SCOPE = "broker"


@pytest.hookimpl(optionalhook=True)  # a hook of pytest-xdist's: optional, so plain pytest runs without it
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    """``--dist loadscope`` with the broker tests in one scope. (xdist's own ``loadgroup`` marks nodeids through
    ``item._nodeid``, which pytest 9 no longer reads: its groups would be ignored.)"""
    if config.getvalue("dist") != "loadscope":
        return None
    from xdist.scheduler import LoadScopeScheduling

    class BrokerTestsInOneScope(LoadScopeScheduling):
        def _split_scope(self, nodeid: str) -> str:
            module = nodeid.split("::", 1)[0]
            return BROKER_SCOPE if "integration" in tier_markers(TESTS.parent / module) else module

    return BrokerTestsInOneScope(config, log)


@pytest.hookimpl(tryfirst=True)  # before -m selects by these markers
def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Mark every test from ``TIERS``; the long reliability scenarios are skipped unless ``-m`` names them."""
    long_selected = "reliability" in (config.option.markexpr or "")
    for item in items:
        markers = tier_markers(Path(item.path))
        for name in markers:
            item.add_marker(name)
        if "reliability" in markers and not long_selected:
            item.add_marker(pytest.mark.skip(reason="long reliability scenario: run with `make reliability`"))


@pytest.fixture(scope="session")
def broker(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """One broker for the whole session (integration, ops and reliability tests), started only when a test asks
    for it: Tansu, or Apache Kafka with ``LEADSCORE_TEST_BROKER=kafka`` (:mod:`streams.devtools.brokers`)."""
    with new_broker(log_file=tmp_path_factory.mktemp("broker") / "broker.log") as running:
        yield running


@pytest.fixture(scope="session")
def tansu(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Broker]:
    """The embedded Tansu broker, whatever the session's broker: the demo's broker keeps a smoke test on Kafka runs."""
    with new_broker(log_file=tmp_path_factory.mktemp("tansu") / "tansu.log", kind="tansu") as running:
        yield running


@pytest.fixture(scope="session")
def b2b_model() -> ScoringModel:
    """The shipped example B2B model (decay, caps, fit, hysteresis)."""
    return load_model(example_model_path("b2b"))


@pytest.fixture(scope="session")
def simple_model() -> ScoringModel:
    """Points per event type, no decay: exact scores by hand."""
    return load_model(SIMPLE_MODEL)


@pytest.fixture(scope="session")
def codec() -> AvroCodec:
    return AvroCodec(LocalSchemaRegistry())


def stored_json(table: Any, lead_id: str) -> dict[str, Any]:
    """A lead's value in a worker's table (state format 2), in format 1's JSON form (``to_dict`` with ``p``, ``d``
    and ``h``), for assertions on what was stored."""
    value = table[lead_id]
    assert value is not None, f"no state stored for {lead_id!r}"
    return as_json(decode_stored(value))
